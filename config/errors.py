"""Error pages that answer in the caller's language: JSON under /api/ and /ingest/, HTML elsewhere.

A path under /api/ that matches no route (`/api/v1/alerts/1.5/acknowledge/`)
never reaches DRF; without this it got Django's HTML page, which an API
client cannot read.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

MACHINE_PREFIXES = ("/api/", "/ingest/")


def not_found(request, exception=None):
    if request.path.startswith(MACHINE_PREFIXES):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
