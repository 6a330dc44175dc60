from django.db import migrations


def csm_group_records_outcomes(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(apps, "CSM", "csm", ["view_renewaloutcome", "add_renewaloutcome", "change_renewaloutcome"])


class Migration(migrations.Migration):
    dependencies = [("csm", "0016_renewal_outcomes_and_explanations")]

    operations = [migrations.RunPython(csm_group_records_outcomes, migrations.RunPython.noop)]
