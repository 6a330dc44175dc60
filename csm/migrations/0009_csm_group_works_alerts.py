from django.db import migrations


def csm_group_works_alerts(apps, schema_editor):
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
                content_type__app_label="csm",
                codename__in=["view_churnalert", "change_churnalert", "view_alertdelivery", "change_alertdelivery"],
            )
        )


class Migration(migrations.Migration):
    dependencies = [("csm", "0008_churn_alerts")]

    operations = [migrations.RunPython(csm_group_works_alerts, migrations.RunPython.noop)]
