"""Tend's admin site: the stock Django admin, opening on the CSM's day.

`TendAdminSite` puts "My book today" (config.book_today) on the index page,
above the usual list of models. The one-click actions the index shows are
the apps' own (agents_core.admin_mixins.OneClickActionsMixin).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin

from config.sso import sso_enabled


class TendAdminSite(admin.AdminSite):
    site_header = "Tend"
    site_title = "Tend"
    index_title = "My book today"
    index_template = "admin/tend/index.html"
    # The index lists every model, and breadcrumbs lead back: the left sidebar's
    # 280 px go to the lists instead, which then fit a 1280 px laptop.
    enable_nav_sidebar = False

    def login(self, request, extra_context=None):
        context = {
            "sso_enabled": sso_enabled(),
            "sso_provider": settings.OIDC_PROVIDER_NAME,
            "password_login": settings.TEND_PASSWORD_LOGIN,
            **(extra_context or {}),
        }
        return super().login(request, context)

    def index(self, request, extra_context=None):
        context = dict(extra_context or {})
        if request.user.has_perm("csm.view_account"):
            # Imported here: the apps' admin modules register on this site while it is being built.
            from config.index import book_today_context

            context.update(book_today_context(request))
        return super().index(request, context)
