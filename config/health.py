"""Probes for load balancers and orchestrators. They reveal no data, so they need no login.

* /healthz: the process is up and serving (no database call).
* /readyz: the database answers and the task broker is reachable; 503 with
  the failing part named otherwise, so traffic waits until both are back.
"""

from __future__ import annotations

import logging

from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:
        raise ConnectionError("the broker did not answer")
    return broker.info()


@never_cache
@require_GET
def readyz(request):
    checks, ready = {}, True
    for name, check in (("database", _database), ("broker", _broker)):
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not ready", and says which part
            logger.warning("readyz: %s unavailable: %s", name, exc)
            checks[name] = f"unavailable: {exc.__class__.__name__}"
            ready = False
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
