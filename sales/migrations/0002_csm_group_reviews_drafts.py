from django.db import migrations


def csm_group_reviews_drafts(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="CSM").first()
    if group:
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="sales", codename__in=["view_outreachdraft", "change_outreachdraft"]
            )
        )


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial"), ("csm", "0003_csm_group")]

    operations = [migrations.RunPython(csm_group_reviews_drafts, migrations.RunPython.noop)]
