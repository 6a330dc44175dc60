"""Store what the tracking endpoint accepted: events kept once each, tied to accounts, days to roll up.

The `rollup_usage` task starts here. It takes the waiting batches
(IngestBatch, written by csm.usage.ingest) in the order they came, a chunk
at a time, and in one transaction per chunk: inserts their events, skipping
any message id stored before (a client's retry, or the same batch again
after a crashed worker: the unique key decides); remembers what identify
and group calls said about each user; ties a user's earlier unmatched events
once a group call names the account; asks for the account-days touched to
be rolled up; and deletes the batches. A crash leaves the chunk waiting,
whole, for the next run.

Per chunk, whatever its size: the accounts by external_id, the tracked
users a message does not tie by itself, one insert of the events, one
upsert of the users, one upsert of the account-days, one delete.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents_core.bulk import update_rows, upsert_rows
from csm.models import Account
from csm.usage import spec
from csm.usage.models import IngestBatch, RollupRequest, TrackedUser, UsageEvent

logger = logging.getLogger(__name__)

ACTIVITY = ("track", "page", "screen")
# Earlier unmatched events the group calls of one chunk tie to their accounts, at most.
RETRO_MATCH_LIMIT = 10_000
# Batches stored in one transaction: at most this many times Segment's 500 KB in memory.
BATCHES_PER_CHUNK = 50


@dataclass
class Stored:
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    unmatched: int = 0
    failed: int = 0
    taken: int = 0  # messages taken from the batches (a duplicate inside the chunk included)
    backlog: bool = False  # batches still wait: this run stored its share of a burst

    def add(self, other: Stored) -> None:
        for name in ("batches", "stored", "duplicates", "unmatched", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {"batches": self.batches, "stored": self.stored, "duplicates": self.duplicates,
                "unmatched": self.unmatched, "failed": self.failed}  # fmt: skip


def store_waiting(*, max_events: int | None = None, now: datetime | None = None) -> Stored:
    """Store the waiting batches, oldest first, until none wait or `max_events` were taken."""
    now = now or timezone.now()
    limit = max_events or settings.TEND_USAGE_STORE_MAX_EVENTS
    totals = Stored()
    taken = 0
    while taken < limit:
        try:
            with transaction.atomic():
                batches = _take(BATCHES_PER_CHUNK)
                if not batches:
                    break
                chunk = _store_batches(batches, now=now)
        except Exception:  # one bad batch must not hold up the others: find it, one at a time
            logger.exception("Storing a chunk of usage batches failed; storing them one by one")
            taken += _store_one_by_one(now=now, totals=totals, count=BATCHES_PER_CHUNK)
        else:
            totals.add(chunk)
            taken += chunk.taken
    else:
        totals.backlog = IngestBatch.objects.filter(failed_at__isnull=True).exists()
    return totals


def _take(count: int) -> list[tuple]:
    """The oldest waiting batches; two workers never take the same (the second skips the rows
    the first holds, on PostgreSQL; SQLite lets one writer in at a time)."""
    return list(
        IngestBatch.objects.select_for_update(skip_locked=True)
        .filter(failed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "source_id", "received_at", "messages")[:count]
    )


def _store_batches(batches: list[tuple], *, now: datetime) -> Stored:
    """Store these batches' events and delete the batches (the caller's transaction holds both)."""
    totals = Stored(batches=len(batches))
    by_source: dict[int, list[tuple[spec.Message, datetime]]] = defaultdict(list)
    for _pk, source_id, received_at, rows in batches:
        by_source[source_id] += [(spec.Message.from_row(row), received_at) for row in rows]
    for source_id, messages in by_source.items():
        _store(source_id, _once(messages, totals), now=now, totals=totals)
        totals.taken += len(messages)
    IngestBatch.objects.filter(pk__in=[b[0] for b in batches]).delete()
    return totals


def _store_one_by_one(*, now: datetime, totals: Stored, count: int) -> int:
    taken = 0
    for _ in range(count):
        batches: list[tuple] = []
        try:
            with transaction.atomic():
                batches = _take(1)
                if not batches:
                    break
                chunk = _store_batches(batches, now=now)
        except Exception as exc:
            if not batches:  # the database itself is failing: the run fails, and is retried
                raise
            logger.exception("A usage batch could not be stored; it is kept, marked failed")
            IngestBatch.objects.filter(pk=batches[0][0]).update(
                failed_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            totals.failed += 1
        else:
            totals.add(chunk)
            taken += chunk.taken
    return taken


def _once(messages: list[tuple[spec.Message, datetime]], totals: Stored):
    """The first of each message id in the chunk (a retry inside it is a duplicate)."""
    seen: set[str] = set()
    first = []
    for message, received_at in messages:
        if message.message_id in seen:
            totals.duplicates += 1
            continue
        seen.add(message.message_id)
        first.append((message, received_at))
    return first


def _store(
    source_id: int, messages: list[tuple[spec.Message, datetime]], *, now: datetime, totals: Stored
) -> None:
    if not messages:
        return
    external_ids = {m.group_id for m, _r in messages if m.group_id}
    accounts = dict(Account.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))
    # The users to read: those a message does not tie to an account by itself, and those whose
    # traits or account this chunk changes (a B2B source sends context.groupId: mostly none).
    user_ids = {
        m.user_id
        for m, _r in messages
        if m.user_id and (m.type in ("group", "identify") or m.group_id not in accounts)
    }
    users: dict[str, TrackedUser] = {}
    if user_ids:
        found = TrackedUser.objects.filter(source_id=source_id, user_id__in=user_ids)
        users = {u.user_id: u for u in found}
    taught = _what_the_calls_say(source_id, [m for m, _r in messages], accounts, users)
    users.update(taught)
    rows, days = [], set()
    fields = ["source", "message_id", "type", "event", "user_id", "anonymous_id", "group_id", "account",
              "happened_at", "day", "hour", "received_at", "properties"]  # fmt: skip
    zone = timezone.get_current_timezone()
    for m, received_at in messages:
        account_id = accounts.get(m.group_id) if m.group_id else None
        if account_id is None and m.user_id in users:
            account_id = users[m.user_id].account_id
        local = m.happened_at.astimezone(zone)
        day = local.date()
        if account_id is None:
            totals.unmatched += 1
        elif m.type in ACTIVITY:  # a retry's day is asked again too: harmless, the rollup recomputes
            days.add((account_id, day))
        rows.append((source_id, m.message_id, m.type, m.event, m.user_id, m.anonymous_id, m.group_id,
                     account_id, m.happened_at, day, local.hour, received_at, m.properties))  # fmt: skip
    # One statement; a message stored before is skipped by the unique key (ON CONFLICT DO
    # NOTHING): what the database wrote is what was new.
    stored = upsert_rows(UsageEvent, fields, rows, conflict=["source", "message_id"], update=[])
    totals.stored += stored
    totals.duplicates += len(rows) - stored
    grouped = {m.user_id for m, _r in messages if m.type == "group" and m.user_id}
    days |= _tie_earlier_events(source_id, {uid: u.account_id for uid, u in taught.items() if uid in grouped})
    if days:
        request_rollup(days, now=now)


def _what_the_calls_say(
    source_id: int, messages: list[spec.Message], accounts: dict[str, int], users: dict[str, TrackedUser]
) -> dict[str, TrackedUser]:
    """The users a group call (their account) or an identify call (their traits) told about, saved."""
    taught: dict[str, TrackedUser] = {}
    for m in sorted(messages, key=lambda m: m.happened_at):
        if not m.user_id or m.type not in ("group", "identify"):
            continue
        user = (
            taught.get(m.user_id)
            or users.get(m.user_id)
            or TrackedUser(source_id=source_id, user_id=m.user_id)
        )
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
            [(source_id, u.user_id, u.account_id, u.email, u.role, u.traits or {}, u.last_seen_at)
             for u in taught.values()],
            conflict=["source", "user_id"],
            update=["account", "email", "role", "traits", "last_seen_at"],
        )  # fmt: skip
    return taught


def _tie_earlier_events(source_id: int, accounts: dict[str, int | None]) -> set[tuple[int, Any]]:
    """Events kept unmatched before a group call tied their user (user id -> account id) to an
    account: tie them now. One read and one executemany however many users the chunk tied."""
    accounts = {uid: account for uid, account in accounts.items() if account is not None}
    if not accounts:
        return set()
    rows = list(
        UsageEvent.objects.filter(
            source_id=source_id, user_id__in=list(accounts), account__isnull=True
        ).values_list("pk", "user_id", "day", "type")[:RETRO_MATCH_LIMIT]
    )
    update_rows(UsageEvent, ["account"], [(accounts[uid], pk) for pk, uid, _d, _t in rows])
    return {(accounts[uid], day) for _pk, uid, day, t in rows if t in ACTIVITY}


def request_rollup(days, *, now: datetime) -> None:
    """Ask for these (account id, day) pairs to be rolled up again (by the run storing them, or the next)."""
    upsert_rows(
        RollupRequest,
        ["account", "day", "requested_at"],
        [(account_id, day, now) for account_id, day in sorted(days)],
        conflict=["account", "day"],
        update=["requested_at"],
    )


def queue_rollup(cause=None):
    """Queue a `rollup_usage` run if there is work for one and none is queued already."""
    from agents_core.dispatch import enqueue_once

    if not (IngestBatch.objects.filter(failed_at__isnull=True).exists() or RollupRequest.objects.exists()):
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
