"""Half of each page of the accounts table free, on PostgreSQL, so that a scan's updates stay HOT.

Migration 0051 left a fifth free (fillfactor 80). That was measured on a table just rewritten, on
the first scan after it. A scan batch updates every account of a range in one transaction, so every
row of a page gets its new version while the old one still stands: the page needs room for as many
new versions as it has rows, half of it. At 80, a page had room for about a quarter of its rows; the
rest moved to other pages and wrote each of the table's 19 indexes, three of them trigram GIN. On a
million-account book scanned daily only 44 to 49% of the updates were HOT, and the accounts' update
was 38 of the scan's 80 server seconds; at 50 every update of an unchanged account was HOT and it
took 7 s (docs/performance.md, "A million accounts, 2026-12-04").

The table takes no more room than before: updated daily at 80, it had grown to half-full pages by
itself. Pages written from now on keep the room, and a table already there gets it within a day's
scan (rows that cannot stay on their page move to pages filled to half), or at once by
`VACUUM FULL csm_account` (or pg_repack). SQLite: nothing.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "csm_account" SET (fillfactor = 50)')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "csm_account" SET (fillfactor = 80)')  # as 0051 left it


class Migration(migrations.Migration):
    dependencies = [("csm", "0055_healthscore_json")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
