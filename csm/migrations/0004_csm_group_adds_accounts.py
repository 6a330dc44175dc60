from django.db import migrations


def allow_adding_accounts(apps, schema_editor):
    # CSMs create accounts they own through the API (and CSV import).
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="CSM").first()
    perm = Permission.objects.filter(content_type__app_label="csm", codename="add_account").first()
    if group and perm:
        group.permissions.add(perm)


class Migration(migrations.Migration):
    dependencies = [("csm", "0003_csm_group")]

    operations = [migrations.RunPython(allow_adding_accounts, migrations.RunPython.noop)]
