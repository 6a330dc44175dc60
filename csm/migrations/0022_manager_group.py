from django.db import migrations

# A manager sees the whole book and owns the scoring profiles: edits them,
# previews the effect, reads the backtest. (They are also in the CSM group.)
MANAGER_PERMISSIONS = [
    "view_all_accounts",
    "view_scoringprofile",
    "add_scoringprofile",
    "change_scoringprofile",
]


def manager_group(apps, schema_editor):
    from agents_core.migration_helpers import grant_to_group

    grant_to_group(apps, "Manager", "csm", MANAGER_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("csm", "0021_rescore_requests"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(manager_group, migrations.RunPython.noop)]
