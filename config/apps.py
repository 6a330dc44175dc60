from django.contrib.admin.apps import AdminConfig


class TendAdminConfig(AdminConfig):
    default_site = "config.admin.TendAdminSite"
