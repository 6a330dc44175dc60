"""Show dates and times in the user's own time zone."""

from __future__ import annotations

from functools import cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

from django.utils import timezone

COOKIE = "tend_tz"


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def user_time_zone(value: str) -> ZoneInfo | None:
    """The zone the browser reported (static/tend/timezone.js), if it is a real one.

    Only names of the zone database are accepted: anything else (a folder of
    it such as "America", a path, garbage) is no zone at all.
    """
    name = unquote(value or "")
    if name not in _zone_names():
        return None
    return ZoneInfo(name)


class BrowserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.COOKIES.get(COOKIE)
        zone = user_time_zone(sent or "")
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        if sent is not None and zone is None:
            # Forget an unusable cookie, so the browser stops sending it (the
            # page's script sets a good one again).
            response.delete_cookie(COOKIE, samesite="Lax")
        return response
