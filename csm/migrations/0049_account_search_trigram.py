"""Account search on PostgreSQL through trigram indexes: `name`, `external_id` and the primary
contact's email are searched with Django's `icontains` (`UPPER(col::text) LIKE UPPER('%term%')`),
which a B-tree cannot serve; a GIN index of `pg_trgm` on the same expression can. pg_trgm is a
trusted extension (PostgreSQL 13+): a database owner creates it without being a superuser. Where it
cannot be created, the search keeps working (a scan) and the migration says so. SQLite: nothing."""

import logging

from django.db import DatabaseError, migrations, transaction

COLUMNS = ("name", "external_id", "primary_contact_email")
logger = logging.getLogger(__name__)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning(
            "pg_trgm could not be created (%s): account search scans instead of using an index.", exc
        )
        return
    for column in COLUMNS:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "csm_account_{column}_trgm" ON "csm_account" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f'DROP INDEX IF EXISTS "csm_account_{column}_trgm"')


class Migration(migrations.Migration):
    dependencies = [("csm", "0048_champion_left_alert_reason")]

    operations = [migrations.RunPython(forwards, backwards)]
