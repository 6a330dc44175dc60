"""Drop two indexes another index already covers; each cost the daily scan a B-tree write per row.

* csm_account.rag: the (rag, health_score) index serves every filter on RAG.
* csm_healthscore.account_id: the unique (account_id, scored_on) index serves lookups by account.

Only the indexes go (`DROP INDEX`): altering the fields through the schema
editor would rebuild both tables on SQLite, minutes on a big install.
"""

import django.db.models.deletion
from django.db import migrations, models

# Django's names for the two db_index indexes (the same on SQLite and PostgreSQL;
# PostgreSQL also has a varchar_pattern_ops twin for the CharField).
DROP = [
    "DROP INDEX IF EXISTS csm_account_rag_3541d550",
    "DROP INDEX IF EXISTS csm_account_rag_3541d550_like",
    "DROP INDEX IF EXISTS csm_healthscore_account_id_523e727a",
]
RESTORE = [
    'CREATE INDEX IF NOT EXISTS csm_account_rag_3541d550 ON csm_account ("rag")',
    'CREATE INDEX IF NOT EXISTS csm_healthscore_account_id_523e727a ON csm_healthscore ("account_id")',
]


class Migration(migrations.Migration):
    dependencies = [
        ("csm", "0017_csm_group_records_outcomes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="account",
                    name="rag",
                    field=models.CharField(
                        blank=True,
                        choices=[("GREEN", "Green"), ("AMBER", "Amber"), ("RED", "Red")],
                        editable=False,
                        max_length=5,
                        verbose_name="RAG",
                    ),
                ),
                migrations.AlterField(
                    model_name="healthscore",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="health_scores",
                        to="csm.account",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(sql=DROP, reverse_sql=RESTORE),
            ],
        ),
    ]
