from django.db import migrations


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A manager sees what waits to be stored and retries a batch that failed.
    grant_to_group(apps, "Manager", "csm", ["view_ingestbatch", "change_ingestbatch"])


class Migration(migrations.Migration):
    dependencies = [("csm", "0026_usage_ingest_batches")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
