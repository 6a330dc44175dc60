"""The event bus: an in-process publish that other code and a webhook can consume.

`subscribe(event_type, handler)` registers code in this process (handlers run
in the publisher's process and transaction-free context of the caller);
EVENT_WEBHOOK_URL, when set, receives every event as a JSON POST. Delivery is
at least once: a publish that failed for one consumer is retried for all, so
consumers should use the event's `id` to ignore repeats.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

Handler = Callable[[dict[str, Any]], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)
WEBHOOK_TIMEOUT = 10.0


def subscribe(event_type: str, handler: Handler) -> Handler:
    if handler not in _subscribers[event_type]:
        _subscribers[event_type].append(handler)
    return handler


def unsubscribe(event_type: str, handler: Handler) -> None:
    if handler in _subscribers[event_type]:
        _subscribers[event_type].remove(handler)


def publish(event_type: str, data: dict[str, Any], *, event_id: str | None = None) -> str:
    """Hand the event to every subscriber and the webhook; raise if any of them failed."""
    event = {"id": event_id or str(uuid.uuid4()), "type": event_type, "data": data}
    failures = []
    for handler in list(_subscribers[event_type]):
        try:
            handler(event)
        except Exception as exc:
            failures.append(f"{getattr(handler, '__name__', handler)}: {exc}")
    if settings.EVENT_WEBHOOK_URL:
        body = DjangoJSONEncoder().encode(event)
        try:
            response = httpx.post(
                settings.EVENT_WEBHOOK_URL,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=WEBHOOK_TIMEOUT,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            failures.append(f"webhook: {exc}")
    if failures:
        raise RuntimeError("; ".join(failures))
    return event["id"]
