"""Room on each page of the accounts table for the daily scan's updates, on PostgreSQL.

Every scan writes each account's `scored_at` (and its health when it moved). An update can stay on
the row's page and skip every index (a HOT update) only when the page has room; the accounts table
has 17 indexes, three of them trigram GIN indexes, so an update that cannot is many index writes.
With the default fillfactor of 100 pages are full and almost no update was HOT (32,925 of 691,860
on a 100,000-account book); at 80, most are, and the scan's account updates went from 7.3 s to
2.2 s a 100,000 (docs/performance.md). Pages written from now on keep the room; for the rows
already there, `VACUUM FULL csm_account` (or pg_repack) rewrites them. SQLite: nothing.
"""

from django.db import migrations

FILLFACTOR = 80


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "csm_account" SET (fillfactor = {FILLFACTOR})')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "csm_account" RESET (fillfactor)')


class Migration(migrations.Migration):
    dependencies = [("csm", "0050_profile_evaluation")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
