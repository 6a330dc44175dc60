"""What a Segment (or RudderStack) client sends, checked and normalised. Plain data, no Django.

The Segment tracking spec: `identify`, `group`, `track`, `page`, `screen`
(and `alias`, accepted and ignored), one message per call or many in a
`batch`. Each message carries a `messageId` (clients retry with the same
one: Tend deduplicates on it), `timestamp` (when it happened) and `sentAt`
(when it was sent); `receivedAt - sentAt` corrects the sender's clock.
Limits are Segment's own: 32 KB a message, 500 KB a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
TYPES = ("identify", "group", "track", "page", "screen", "alias")
# How far from its arrival an event may be said to have happened.
MAX_PAST = timedelta(days=400)
MAX_FUTURE = timedelta(hours=1)
ID_MAX = 200
NAME_MAX = 200


class Refused(ValueError):
    """The message cannot be taken; the text says why (and is shown to the sender)."""


@dataclass(frozen=True)
class Message:
    type: str
    message_id: str
    user_id: str
    anonymous_id: str
    event: str  # track: the event; page/screen: the name; else ""
    group_id: str  # group: the group (account) id; else context.groupId or ""
    happened_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)  # track/page/screen properties, or traits

    def as_row(self) -> list[Any]:
        """The message as plain JSON values, to wait in a batch; `from_row` gives it back."""
        return [self.type, self.message_id, self.user_id, self.anonymous_id, self.event, self.group_id,
                self.happened_at.isoformat(), self.properties]  # fmt: skip

    @classmethod
    def from_row(cls, row: list[Any]) -> Message:
        kind, message_id, user_id, anonymous_id, event, group_id, happened, properties = row
        return cls(kind, message_id, user_id, anonymous_id, event, group_id,
                   datetime.fromisoformat(happened), properties)  # fmt: skip


def parse_time(value: Any, what: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Refused(f"{what} must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(f"{what} is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _text(message: dict, key: str, limit: int = ID_MAX) -> str:
    value = message.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused(f"{key} must be a string")
    text = str(value).strip()
    if len(text) > limit or "\x00" in text:
        raise Refused(f"{key} is longer than {limit} characters or holds a NUL")
    return text


def normalise(
    message: Any, *, received_at: datetime, sent_at: datetime | None = None, max_past: timedelta = MAX_PAST
) -> Message:
    """One message as Tend stores it, or Refused naming the problem.

    `sent_at` is the batch's `sentAt` when the message has none of its own;
    an event older than `max_past` (the retention window) is refused.
    """
    if not isinstance(message, dict):
        raise Refused("each message must be a JSON object")
    kind = message.get("type")
    if kind not in TYPES:
        raise Refused(f"type must be one of {', '.join(TYPES)}, got {str(kind)[:20]!r}")
    message_id = _text(message, "messageId")
    if not message_id:
        raise Refused("messageId is required (the clients set one; retries reuse it)")
    user_id, anonymous_id = _text(message, "userId"), _text(message, "anonymousId")
    if not user_id and not anonymous_id:
        raise Refused("userId or anonymousId is required")
    happened = parse_time(message.get("timestamp"), "timestamp") or received_at
    own_sent = parse_time(message.get("sentAt"), "sentAt") or sent_at
    if own_sent is not None and message.get("timestamp"):
        happened += received_at - own_sent  # the sender's clock was off by this much
    if happened > received_at + MAX_FUTURE:
        raise Refused("timestamp is in the future")
    if happened < received_at - max_past:
        raise Refused(f"timestamp is more than {max_past.days} days ago (the retention window)")
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    event, group_id = "", ""
    if kind == "track":
        event = _text(message, "event", NAME_MAX)
        if not event:
            raise Refused("track needs an event name")
    elif kind in ("page", "screen"):
        event = _text(message, "name", NAME_MAX) or ("Page viewed" if kind == "page" else "Screen viewed")
    if kind == "group":
        group_id = _text(message, "groupId")
        if not group_id:
            raise Refused("group needs a groupId (the account's external_id)")
    else:
        group_id = _text(context, "groupId") if "groupId" in context else ""
    payload = message.get("traits") if kind in ("identify", "group") else message.get("properties")
    if payload is not None and not isinstance(payload, dict):
        raise Refused("traits and properties must be JSON objects")
    return Message(
        type=kind,
        message_id=message_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        event=event,
        group_id=group_id,
        happened_at=happened,
        properties=payload or {},
    )
