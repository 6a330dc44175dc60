"""Who is on the other end of a request: the client's address, behind as many proxies as we trust."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or with TEND_TRUSTED_PROXIES = N, the address the Nth proxy from us saw.

    Each trusted proxy appends the address it received the request from to
    X-Forwarded-For, so the entry N places from the right is the client as our
    outermost proxy saw it; anything left of it was written by the client and
    is not believed. Login throttling counts failures by this address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TEND_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    return hops[-proxies]
