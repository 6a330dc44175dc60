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
    # Permissions are normally made after all migrations ran; make them now
    # so the group can be given them in the same migrate.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="CSM")
    for app_label, codenames in CSM_PERMISSIONS.items():
        perms = Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("csm", "0002_default_scoring_profile"),
        ("agents_core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_csm_group, migrations.RunPython.noop)]
