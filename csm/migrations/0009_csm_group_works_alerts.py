from django.db import migrations


def csm_group_works_alerts(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(
        apps, "CSM", "csm", ["view_churnalert", "change_churnalert", "view_alertdelivery", "change_alertdelivery"]
    )


class Migration(migrations.Migration):
    dependencies = [("csm", "0008_churn_alerts")]

    operations = [migrations.RunPython(csm_group_works_alerts, migrations.RunPython.noop)]
