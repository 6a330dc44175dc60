"""Take a batch of Segment messages from a source: store each once, tie it to its account, queue the rollup.

Per batch, whatever its size: a handful of queries (the known message ids,
the accounts by external_id, the tracked users), one bulk insert of the new
events, one upsert of the users a group or identify call taught us, and one
upsert of the account-days to roll up. The rollup itself runs off the
request (csm.usage.rollup, the `rollup_usage` task), debounced.

Events whose user is not (yet) tied to an account are kept, unmatched; a
later group call for that user ties them.
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

from agents_core.bulk import update_rows, upsert_rows
from csm.models import Account
from csm.usage import spec
from csm.usage.models import RollupRequest, TrackedUser, TrackingSource, UsageEvent, hash_key

ACTIVITY = ("track", "page", "screen")
# A source's last use is written at most this often (not once per batch).
LAST_USED_EVERY = timedelta(minutes=1)
# Earlier unmatched events the group calls of one batch tie to their accounts, at most.
RETRO_MATCH_LIMIT = 10_000


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
    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "unmatched": self.unmatched,
            "errors": self.errors,
        }


def accept(
    source: TrackingSource, messages: list[Any], *, sent_at: Any = None, now: datetime | None = None
) -> Outcome:
    """Store the good messages of a batch (once each) and report the bad ones by index; never partly."""
    now = now or timezone.now()
    outcome = Outcome(received=len(messages))
    try:
        batch_sent = spec.parse_time(sent_at, "sentAt")
    except spec.Refused as exc:
        outcome.errors.append({"index": None, "message": str(exc)})
        return outcome
    parsed: list[spec.Message] = []
    seen: set[str] = set()
    retention = timedelta(days=settings.TEND_EVENT_RETENTION_DAYS)
    for index, raw in enumerate(messages):
        try:
            message = spec.normalise(raw, received_at=now, sent_at=batch_sent, max_past=retention)
        except spec.Refused as exc:
            message_id = raw.get("messageId") if isinstance(raw, dict) else None
            outcome.errors.append({"index": index, "messageId": str(message_id)[:200] if message_id else None,
                                   "message": str(exc)})  # fmt: skip
            continue
        if message.message_id in seen:
            outcome.duplicates += 1
            continue
        seen.add(message.message_id)
        parsed.append(message)
    if not parsed:
        return outcome
    with transaction.atomic():
        known = set(
            UsageEvent.objects.filter(
                source=source, message_id__in=[m.message_id for m in parsed]
            ).values_list("message_id", flat=True)
        )
        fresh = [m for m in parsed if m.message_id not in known]
        outcome.duplicates += len(parsed) - len(fresh)
        _store(source, fresh, now=now, outcome=outcome)
    if source.last_used_at is None or now - source.last_used_at > LAST_USED_EVERY:
        TrackingSource.objects.filter(pk=source.pk).update(last_used_at=now)
    return outcome


def _store(source: TrackingSource, messages: list[spec.Message], *, now: datetime, outcome: Outcome) -> None:
    if not messages:
        return
    external_ids = {m.group_id for m in messages if m.group_id}
    accounts = dict(Account.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))
    user_ids = {m.user_id for m in messages if m.user_id}
    users = {u.user_id: u for u in TrackedUser.objects.filter(source=source, user_id__in=user_ids)}
    # What this batch teaches about its users: their account (group) and their traits (identify).
    taught: dict[str, TrackedUser] = {}
    for m in sorted(messages, key=lambda m: m.happened_at):
        if not m.user_id or m.type not in ("group", "identify"):
            continue
        user = taught.get(m.user_id) or users.get(m.user_id) or TrackedUser(source=source, user_id=m.user_id)
        if m.type == "group" and m.group_id in accounts:
            user.account_id = accounts[m.group_id]
        if m.type == "identify":
            traits = {k: v for k, v in m.properties.items() if isinstance(v, str | int | float | bool)}
            user.traits = {**(user.traits or {}), **traits}
            user.email = str(traits.get("email", user.email or ""))[:254]
            user.role = str(traits.get("role") or traits.get("title") or user.role or "")[:100]
        user.last_seen_at = max(filter(None, [user.last_seen_at, m.happened_at]))
        taught[m.user_id] = user
    if taught:
        upsert_rows(
            TrackedUser,
            ["source", "user_id", "account", "email", "role", "traits", "last_seen_at"],
            [(source.pk, u.user_id, u.account_id, u.email, u.role, u.traits or {}, u.last_seen_at)
             for u in taught.values()],
            conflict=["source", "user_id"],
            update=["account", "email", "role", "traits", "last_seen_at"],
        )  # fmt: skip
        users.update(taught)
    rows, days = [], set()
    fields = ["source", "message_id", "type", "event", "user_id", "anonymous_id", "group_id", "account",
              "happened_at", "received_at", "properties"]  # fmt: skip
    for m in messages:
        account_id = accounts.get(m.group_id) if m.group_id else None
        if account_id is None and m.user_id in users:
            account_id = users[m.user_id].account_id
        if account_id is None:
            outcome.unmatched += 1
        elif m.type in ACTIVITY:
            days.add((account_id, timezone.localtime(m.happened_at).date()))
        rows.append((source.pk, m.message_id, m.type, m.event, m.user_id, m.anonymous_id, m.group_id,
                     account_id, m.happened_at, now, m.properties))  # fmt: skip
    # One executemany; a message another request stored meanwhile is skipped (ON CONFLICT DO NOTHING).
    upsert_rows(UsageEvent, fields, rows, conflict=["source", "message_id"], update=[])
    outcome.stored += len(rows)
    grouped = {m.user_id for m in messages if m.type == "group" and m.user_id}
    days |= _tie_earlier_events(source, {uid: u.account_id for uid, u in taught.items() if uid in grouped})
    if days:
        request_rollup(days, now=now)


def _tie_earlier_events(source: TrackingSource, accounts: dict[str, int | None]) -> set[tuple[int, Any]]:
    """Events kept unmatched before a group call tied their user (user id -> account id) to an
    account: tie them now. One read and one executemany however many users the batch tied."""
    accounts = {uid: account for uid, account in accounts.items() if account is not None}
    if not accounts:
        return set()
    rows = list(
        UsageEvent.objects.filter(
            source=source, user_id__in=list(accounts), account__isnull=True
        ).values_list("pk", "user_id", "happened_at", "type")[:RETRO_MATCH_LIMIT]
    )
    update_rows(UsageEvent, ["account"], [(accounts[uid], pk) for pk, uid, _h, _t in rows])
    return {(accounts[uid], timezone.localtime(h).date()) for _pk, uid, h, t in rows if t in ACTIVITY}


def request_rollup(days, *, now: datetime) -> None:
    """Ask for these (account id, day) pairs to be rolled up again soon (after the commit)."""
    upsert_rows(
        RollupRequest,
        ["account", "day", "requested_at"],
        [(account_id, day, now) for account_id, day in sorted(days)],
        conflict=["account", "day"],
        update=["requested_at"],
    )
    if settings.TEND_USAGE_ROLLUP_ON_INGEST:
        transaction.on_commit(queue_rollup)


def queue_rollup(cause=None):
    from agents_core.dispatch import enqueue_once

    if not RollupRequest.objects.exists():
        return None
    return enqueue_once("csm", "rollup_usage", cause=cause)


def prune_events(*, now: datetime | None = None, chunk: int = 10_000) -> dict[str, Any]:
    """Delete events past the retention window (TEND_EVENT_RETENTION_DAYS), in chunks; the days stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TEND_EVENT_RETENTION_DAYS)
    deleted = 0
    while ids := list(UsageEvent.objects.filter(happened_at__lt=cutoff).values_list("pk", flat=True)[:chunk]):
        UsageEvent.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return {"deleted": deleted, "before": cutoff.isoformat()}
