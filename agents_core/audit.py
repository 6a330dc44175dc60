"""The audit trail: sign-ins, API tokens, scoring-profile changes, exports, imports and one-click actions.

`record()` is the one way to write to it; readers are the admins (the
admin's Audit events, superusers only). Writes never break the action they
record: a failure to audit is logged and the action goes on.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from agents_core.client_ip import client_ip
from agents_core.models import AuditEvent

logger = logging.getLogger(__name__)
Action = AuditEvent.Action


def _ip(request) -> str | None:
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def record(action: str, /, *, request=None, user=None, target: Any = "", **details: Any) -> AuditEvent | None:
    """Write one event: who (the request's user unless `user` is given), what, to what, from where."""
    actor = user if user is not None else getattr(request, "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    try:
        return AuditEvent.objects.create(
            action=action,
            actor=actor,
            actor_name=actor.get_username() if actor is not None else str(details.pop("username", ""))[:150],
            ip=_ip(request),
            user_agent=(request.headers.get("user-agent", "") if request is not None else "")[:200],
            target=str(target)[:200],
            details=details,
        )
    except Exception:
        logger.exception("Could not write the audit event %s", action)
        return None


@receiver(user_logged_in, dispatch_uid="tend-audit-sign-in")
def _signed_in(sender, request, user, **kwargs):
    backend = getattr(user, "backend", "") or ""
    record(Action.SIGN_IN, request=request, user=user, method="sso" if "sso" in backend else "password")


@receiver(user_logged_out, dispatch_uid="tend-audit-sign-out")
def _signed_out(sender, request, user, **kwargs):
    if user is not None:
        record(Action.SIGN_OUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="tend-audit-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password; keep only the name that was tried.
    record(Action.SIGN_IN_FAILED, request=request, username=credentials.get("username", ""))
