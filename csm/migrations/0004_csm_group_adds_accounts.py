from django.db import migrations


def allow_adding_accounts(apps, schema_editor):
    # CSMs create accounts they own through the API (and CSV import).
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(apps, "CSM", "csm", ["add_account"])


class Migration(migrations.Migration):
    dependencies = [("csm", "0003_csm_group")]

    operations = [migrations.RunPython(allow_adding_accounts, migrations.RunPython.noop)]
