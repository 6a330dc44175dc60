from django.db import migrations


def grant(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    # A CSM reads their accounts' usage events and which events count for which feature.
    grant_to_group(apps, "CSM", "csm", ["view_usageevent", "view_eventmapping"])
    # A manager sets up the sources and maps events to features.
    grant_to_group(
        apps,
        "Manager",
        "csm",
        [
            "view_trackingsource", "add_trackingsource", "change_trackingsource",
            "view_eventmapping", "add_eventmapping", "change_eventmapping", "delete_eventmapping",
            "view_usageevent",
        ],
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("csm", "0024_usage_stream")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
