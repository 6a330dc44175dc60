"""A health score's breakdown and inputs as `json` on PostgreSQL, not `jsonb` (agents_core/fields.py).

They are written whole and read whole, never queried inside, and `jsonb`'s conversion on the way in
was a part of every scan's writes (docs/performance.md). On PostgreSQL this rewrites the health
scores table once, the three columns in one pass, holding its lock throughout: 3.5 s for 98,000 rows
on the project machine. The table holds a row per account per day, so a long history takes longer:
the field reads and writes `jsonb` as well, so such a book can `migrate csm 0055 --fake` and run the
same ALTER (`_retype`) in a quiet hour (docs/deployment.md, Upgrades). SQLite stores JSON as text
either way: only the model's state changes, and the table is not copied.
"""

from django.db import migrations

import agents_core.fields

COLUMNS = ("breakdown", "inputs", "defaulted_inputs")


def _retype(schema_editor, kind: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    changes = ", ".join(f'ALTER COLUMN "{c}" TYPE {kind} USING "{c}"::{kind}' for c in COLUMNS)
    schema_editor.execute(f'ALTER TABLE "csm_healthscore" {changes}')


def forwards(apps, schema_editor):
    _retype(schema_editor, "json")


def backwards(apps, schema_editor):
    _retype(schema_editor, "jsonb")


class Migration(migrations.Migration):
    dependencies = [("csm", "0054_book_figures")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="healthscore",
                    name="breakdown",
                    field=agents_core.fields.WholeJSONField(help_text="Points per signal group."),
                ),
                migrations.AlterField(
                    model_name="healthscore",
                    name="inputs",
                    field=agents_core.fields.WholeJSONField(
                        help_text="The 13 inputs the score was computed from."
                    ),
                ),
                migrations.AlterField(
                    model_name="healthscore",
                    name="defaulted_inputs",
                    field=agents_core.fields.WholeJSONField(
                        blank=True,
                        default=list,
                        help_text="Inputs the account never reported (no-data defaults).",
                    ),
                ),
            ],
        )
    ]
