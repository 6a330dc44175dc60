"""Take a batch of Segment messages from a source: check each, keep the good ones to be stored, answer.

The request does what the sender must hear about: the write key, and each
message checked and normalised (csm.usage.spec), the bad ones named by
index. The good ones are written as one IngestBatch row, one insert however
many messages, and the `rollup_usage` task is queued (unless one already
is) to store them as events, tie them to accounts and roll them up
(csm.usage.store, csm.usage.rollup): off the request, in chunks. A burst
waits in order; nothing accepted is dropped.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csm.usage import spec
from csm.usage.models import IngestBatch, TrackingSource, hash_key

# A source's last use is written at most this often (not once per batch).
LAST_USED_EVERY = timedelta(minutes=1)


def source_for(authorization: str, body_key: Any = None) -> TrackingSource | None:
    """The live source whose write key came as HTTP Basic user name (as the clients send it) or `writeKey`."""
    key = ""
    if authorization.startswith("Basic "):
        try:
            key = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif isinstance(body_key, str):
        key = body_key
    if not key or len(key) > 200:
        return None
    return TrackingSource.objects.filter(key_hash=hash_key(key), revoked_at__isnull=True).first()


@dataclass
class Outcome:
    received: int = 0
    accepted: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "accepted": self.accepted, "errors": self.errors}


def accept(
    source: TrackingSource, messages: list[Any], *, sent_at: Any = None, now: datetime | None = None
) -> Outcome:
    """Keep the good messages of a batch to be stored, and report the bad ones by index."""
    now = now or timezone.now()
    outcome = Outcome(received=len(messages))
    try:
        batch_sent = spec.parse_time(sent_at, "sentAt")
    except spec.Refused as exc:
        outcome.errors.append({"index": None, "message": str(exc)})
        return outcome
    rows = []
    retention = timedelta(days=settings.TEND_EVENT_RETENTION_DAYS)
    for index, raw in enumerate(messages):
        try:
            message = spec.normalise(raw, received_at=now, sent_at=batch_sent, max_past=retention)
        except spec.Refused as exc:
            message_id = raw.get("messageId") if isinstance(raw, dict) else None
            outcome.errors.append({"index": index, "messageId": str(message_id)[:200] if message_id else None,
                                   "message": str(exc)})  # fmt: skip
            continue
        rows.append(message.as_row())
    if not rows:
        return outcome
    IngestBatch.objects.create(source=source, received_at=now, size=len(rows), messages=rows)
    if settings.TEND_USAGE_ROLLUP_ON_INGEST:
        transaction.on_commit(_queue_store)
    outcome.accepted = len(rows)
    if source.last_used_at is None or now - source.last_used_at > LAST_USED_EVERY:
        TrackingSource.objects.filter(pk=source.pk).update(last_used_at=now)
    return outcome


def _queue_store() -> None:
    from agents_core.dispatch import enqueue_once

    enqueue_once("csm", "rollup_usage")
