from django.db import migrations


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A CSM logs what happened on their accounts, and corrects or deletes what they logged.
    grant_to_group(apps, "CSM", "csm", ["view_interaction", "add_interaction", "change_interaction",
                                        "delete_interaction"])  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0039_interactions")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
