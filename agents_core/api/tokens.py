"""API token authentication: django-rest-knox's hashed, expiring keys, plus read-only keys and last use."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS

from agents_core import audit
from agents_core.models import ApiToken

# How stale `last_used_at` may get before a request writes it again.
LAST_USED_EVERY = timedelta(minutes=1)


class TokenAuthentication(KnoxTokenAuthentication):
    """`Authorization: Token <key>`; the key is compared by its SHA-512 digest, never stored."""

    def authenticate(self, request):
        found = super().authenticate(request)
        if found is None:
            return None
        user, token = found
        if token.read_only and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied("This API token is read-only.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
            # At most once a minute per token: the trail shows use, not every request.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            audit.record(audit.Action.TOKEN_USED, request=request, user=user, target=str(token))
        return user, token


class TokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token (as drf-spectacular does DRF's own)."""

    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API token, sent as "Token <key>". Make one in the admin (API tokens) '
            "or with manage.py create_api_token.",
        }
