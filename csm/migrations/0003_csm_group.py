from django.db import migrations

CSM_PERMISSIONS = {
    "csm": [
        "view_account",
        "change_account",
        "view_accountsignals",
        "add_accountsignals",
        "change_accountsignals",
        "view_healthscore",
        "view_scoringprofile",
    ],
    "agents_core": ["view_agentrun"],
}


def create_csm_group(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    for app_label, codenames in CSM_PERMISSIONS.items():
        grant_to_group(apps, "CSM", app_label, codenames)


class Migration(migrations.Migration):
    dependencies = [
        ("csm", "0002_default_scoring_profile"),
        ("agents_core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_csm_group, migrations.RunPython.noop)]
