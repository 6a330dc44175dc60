"""Helpers for data migrations. They take the historical `apps`, so they stay safe to
call from old migrations; keep their behaviour stable."""

from __future__ import annotations


def grant_to_group(apps, group_name: str, app_label: str, codenames: list[str]) -> None:
    """Give a group (created if missing) permissions, making the permissions first.

    Django creates permissions after all migrations have run; a data
    migration that grants them must create them itself.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )
