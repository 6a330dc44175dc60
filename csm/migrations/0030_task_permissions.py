from django.db import migrations


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A CSM keeps their own tasks: makes them, closes them, comments on them (managers are CSMs too).
    grant_to_group(
        apps, "CSM", "csm", ["view_task", "add_task", "change_task", "view_taskcomment", "add_taskcomment"]
    )


class Migration(migrations.Migration):
    dependencies = [("csm", "0029_tasks")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
