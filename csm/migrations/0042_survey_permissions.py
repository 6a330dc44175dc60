from django.db import migrations


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A CSM reads and records their accounts' survey answers; a manager also places the answers
    # no contact matched, and corrects or removes one.
    grant_to_group(apps, "CSM", "csm", ["view_surveyresponse", "add_surveyresponse"])
    grant_to_group(apps, "Manager", "csm", ["view_surveyresponse", "add_surveyresponse",
                                            "change_surveyresponse", "delete_surveyresponse"])  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0041_surveys")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
