"""Single sign-on with OpenID Connect (mozilla-django-oidc): Google Workspace, Okta, Entra ID.

Configured from the environment (docs/access.md): the provider's issuer, a
client id and secret, and how its claims map to Tend's roles. The issuer's
discovery document gives the endpoints, so one URL is enough; any endpoint
can still be set explicitly (OIDC_OP_*_ENDPOINT). Users are created on their
first sign-in and their role is set from the provider's claims on every
sign-in, so a change in the directory reaches Tend at the next login. A user
the mapping gives no role is refused.

Roles:

* csm: staff, in the CSM group (their own accounts);
* manager: a CSM who sees the whole book (`csm.view_all_accounts`);
* admin: a superuser.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseRedirect
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

logger = logging.getLogger(__name__)

ROLES = ("csm", "manager", "admin")
# The settings discovery can fill in, and the discovery document's names for them.
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
DISCOVERY_TTL = 3600


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def discovery() -> dict[str, Any]:
    """The issuer's OpenID configuration (cached for an hour)."""
    issuer = settings.OIDC_ISSUER.rstrip("/")
    key = f"tend:oidc-discovery:{issuer}"
    document = cache.get(key)
    if document is None:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
        response.raise_for_status()
        document = response.json()
        if document.get("issuer", "").rstrip("/") != issuer:
            raise ImproperlyConfigured(
                f"OIDC discovery at {issuer} names another issuer: {document.get('issuer')}"
            )
        cache.set(key, document, DISCOVERY_TTL)
    return document


def oidc_setting(attr: str, *default):
    """mozilla-django-oidc's settings, with the endpoints from discovery when not set.

    The library reads them when it builds its backend, which Django does on
    every request of a user signed in by SSO: a provider that cannot be
    reached gives "" (logged), so pages keep working and only signing in waits.
    """
    value = getattr(settings, attr, None)
    if value in (None, "") and attr in DISCOVERED and settings.OIDC_ISSUER:
        try:
            return discovery()[DISCOVERED[attr]]
        except (requests.RequestException, ValueError, KeyError, ImproperlyConfigured) as exc:
            logger.warning("OIDC discovery at %s failed: %s", settings.OIDC_ISSUER, exc)
            return ""
    return import_from_settings(attr, *default)


def _names(setting: str) -> set[str]:
    return {name.strip().lower() for name in getattr(settings, setting) if name.strip()}


def role_for(claims: dict[str, Any]) -> str | None:
    """Tend's role for these claims, or None: not allowed in."""
    email = (claims.get("email") or "").lower()
    if not email or claims.get("email_verified") is False:
        return None
    domains = _names("OIDC_ALLOWED_DOMAINS")
    if (
        domains
        and email.rsplit("@", 1)[-1] not in domains
        and (claims.get("hd") or "").lower() not in domains
    ):
        return None
    held = claims.get(settings.OIDC_ROLES_CLAIM) or []
    held = {str(name).lower() for name in ([held] if isinstance(held, str) else held)}
    for role, setting in (
        ("admin", "OIDC_ADMIN_GROUPS"),
        ("manager", "OIDC_MANAGER_GROUPS"),
        ("csm", "OIDC_CSM_GROUPS"),
    ):
        if held & _names(setting):
            return role
    return settings.OIDC_DEFAULT_ROLE or None


def apply_role(user, role: str, claims: dict[str, Any]) -> None:
    """Make `user` exactly what `role` says (and refresh their name from the claims)."""
    user.first_name = (claims.get("given_name") or user.first_name or "")[:150]
    user.last_name = (claims.get("family_name") or user.last_name or "")[:150]
    user.email = claims.get("email") or user.email
    user.is_active = True
    user.is_staff = True
    user.is_superuser = role == "admin"
    user.save()
    user.groups.add(Group.objects.get(name="CSM"))
    managers = Group.objects.get(name="Manager")  # the whole book, and the scoring profiles
    view_all = Permission.objects.get(content_type__app_label="csm", codename="view_all_accounts")
    user.user_permissions.remove(view_all)  # granted through the group now, as the role says
    if role in ("manager", "admin"):
        user.groups.add(managers)
    else:
        user.groups.remove(managers)


class Backend(OIDCAuthenticationBackend):
    """Signs people in through the provider; creates them on first sign-in; keeps their role in step."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            # The provider went away mid-sign-in: a failed sign-in, not a server error.
            logger.warning("SSO sign-in could not reach the provider: %s", exc)
            return None

    def get_userinfo(self, access_token, id_token, payload):
        # The verified ID token's claims, then the userinfo endpoint's: Entra ID
        # puts app roles (and Okta may put groups) only in the ID token.
        return {**payload, **super().get_userinfo(access_token, id_token, payload)}

    def verify_claims(self, claims):
        role = role_for(claims)
        if role is None:
            logger.warning("SSO sign-in refused for %s: no Tend role in the claims", claims.get("email"))
        return role is not None

    def create_user(self, claims):
        user = super().create_user(claims)
        apply_role(user, role_for(claims), claims)
        return user

    def update_user(self, user, claims):
        apply_role(user, role_for(claims), claims)
        return user


class AuthenticationRequestView(OIDCAuthenticationRequestView):
    """The "Sign in with ..." button: to the provider, with PKCE, state and nonce; 404 when SSO is off."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        if sso_enabled():
            super().__init__(*args, **kwargs)
        else:
            View.__init__(self, *args, **kwargs)

    def get(self, request):
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        if not self.OIDC_OP_AUTH_ENDPOINT:  # discovery failed (logged)
            return HttpResponseRedirect("/admin/login/?sso=unavailable")
        return super().get(request)
