from django.db import migrations


def csm_group_works_qbrs(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(
        apps,
        "CSM",
        "csm",
        ["view_qbr", "view_qbrdue", "view_outcomegoal", "add_outcomegoal", "change_outcomegoal",
         "delete_outcomegoal", "view_feature", "view_featureusage"],
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0012_qbrs")]

    operations = [migrations.RunPython(csm_group_works_qbrs, migrations.RunPython.noop)]
