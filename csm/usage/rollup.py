"""Roll the usage stream up into days, and derive from it the signals the scan reads.

The `rollup_usage` task takes the account-days whose events changed
(RollupRequest rows, written by csm.usage.store as it stores events) and recomputes each from
its events: active users, events and sessions (UsageDay), and per mapped
feature (FeatureUsageDay). Recomputed, never added to: re-running a day gives
the same rows. Then, for the accounts it touched:

* `last_login_on` is the last day with activity, and `usage_trend` follows
  the rule of csm.usage.rules (both stamped with source "usage");
* each feature's 30-day active users, events and last use (FeatureUsage)
  feed the adoption rate the scan reads;
* the accounts are scored again within seconds (csm.scoring.on_change).

A request is let go only if no newer event came for its day meanwhile.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Count, IntegerField, Max, Min, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf
from django.utils import timezone

from agents_core.bulk import update_rows, upsert_rows
from csm.adoption.tracking import track_adoption
from csm.contacts.champions import activity_from_usage, refresh_champions
from csm.models import Account, AccountSignals, FeatureUsage
from csm.scoring.inputs import seats_problem, stamp_sources
from csm.scoring.on_change import rescore_soon
from csm.usage import rules
from csm.usage.models import EventMapping, FeatureUsageDay, RollupRequest, UsageDay, UsageEvent
from csm.usage.store import ACTIVITY, queue_rollup, store_waiting

logger = logging.getLogger(__name__)

ACCOUNTS_PER_BATCH = 200
FEATURE_WINDOW_DAYS = 30
TREND_DAYS = (rules.RECENT_WEEKS + rules.BASELINE_WEEKS) * 7


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


# Who did it: the user id, or the anonymous id of a visitor not signed in.
_WHO = Coalesce(NullIf("user_id", Value("")), Concat(Value("anon:"), "anonymous_id"))


def roll_up_days(pairs: list[tuple[int, date]]) -> int:
    """Recompute UsageDay and FeatureUsageDay for these (account id, day) pairs. Returns rows written.

    One read of the events of all the pairs' accounts over the pairs' days, one upsert per table,
    and one delete of the feature-days that have no events any more.
    """
    if not pairs:
        return 0
    mapping = dict(EventMapping.objects.values_list("event", "feature_id"))
    wanted = set(pairs)
    accounts = sorted({a for a, _d in pairs})
    first, last = _bounds(min(d for _a, d in pairs))[0], _bounds(max(d for _a, d in pairs))[1]
    # The range reads the (account, happened_at) index; each event's local day and hour were
    # written with it, so the database groups on plain columns.
    events = UsageEvent.objects.filter(
        account_id__in=accounts, type__in=ACTIVITY, happened_at__gte=first, happened_at__lt=last
    ).annotate(who=_WHO)
    # The database counts (distinct users, distinct user-hours); Python only keeps the days asked for.
    hour = Cast("hour", CharField())
    days_rows = [
        (r["account_id"], r["day"], r["users"], r["n"], r["sessions"])
        for r in events.values("account_id", "day").annotate(
            n=Count("id"),
            users=Count("who", distinct=True),
            sessions=Count(Concat("who", Value("@"), hour), distinct=True),
        )
        if (r["account_id"], r["day"]) in wanted
    ]
    found = {(a, d) for a, d, *_rest in days_rows}
    days_rows += [(a, d, 0, 0, 0) for a, d in wanted - found]  # a day whose events went: zero, not stale
    features: dict[tuple[int, int, date], tuple[int, int]] = {}
    if mapping:
        feature = Case(
            *[When(event=e, then=Value(f)) for e, f in mapping.items()], output_field=IntegerField()
        )
        for r in (
            events.filter(event__in=list(mapping))
            .annotate(feature=feature)
            .values("account_id", "feature", "day")
            .annotate(n=Count("id"), users=Count("who", distinct=True))
        ):
            if (r["account_id"], r["day"]) in wanted:
                features[(r["account_id"], r["feature"], r["day"])] = (r["users"], r["n"])
    feature_rows = [(a, f, d, users, n) for (a, f, d), (users, n) in features.items()]
    # Feature-days that had events and have none now (a mapping removed, say) go.
    stale = [
        pk
        for pk, a, f, d in FeatureUsageDay.objects.filter(
            account_id__in=accounts, day__gte=first.date(), day__lte=max(d for _a, d in pairs)
        ).values_list("pk", "account_id", "feature_id", "day")
        if (a, d) in wanted and (a, f, d) not in features
    ]
    if stale:
        FeatureUsageDay.objects.filter(pk__in=stale).delete()
    upsert_rows(UsageDay, ["account", "day", "active_users", "events", "sessions"], days_rows,
                conflict=["account", "day"], update=["active_users", "events", "sessions"])  # fmt: skip
    upsert_rows(FeatureUsageDay, ["account", "feature", "day", "active_users", "events"], feature_rows,
                conflict=["account", "feature", "day"], update=["active_users", "events"])  # fmt: skip
    return len(days_rows) + len(feature_rows)


def derive_signals(account_ids: list[int], *, today: date, now: datetime) -> int:
    """Write last login and usage trend from the rollups of these accounts (a few queries in all)."""
    since = today - timedelta(days=TREND_DAYS)
    series: dict[int, dict[date, int]] = defaultdict(dict)
    for account_id, day, events in UsageDay.objects.filter(
        account_id__in=account_ids, day__gte=since
    ).values_list("account_id", "day", "events"):
        series[account_id][day] = events
    active = UsageDay.objects.filter(account_id__in=account_ids, events__gt=0).values("account_id").order_by()
    seen = {
        r["account_id"]: (r["first"], r["last"]) for r in active.annotate(first=Min("day"), last=Max("day"))
    }
    existing = {
        row[0]: row[1:]
        for row in AccountSignals.objects.filter(account_id__in=seen).values_list(
            "account_id", "last_login_on", "usage_trend", "sources"
        )
    }
    updates, new = [], []
    for account_id, (first_seen, last) in seen.items():
        trend = rules.usage_trend(series.get(account_id, {}), today=today, first_seen=first_seen)
        login, old_trend, sources = existing.get(account_id, (None, "", {}))
        trend = trend or old_trend or ""
        if account_id in existing and (login, old_trend) == (last, trend):
            continue
        changed = [c for c, old, value in (("last_login_on", login, last), ("usage_trend", old_trend, trend))
                   if old != value]  # fmt: skip
        sources = stamp_sources(sources or {}, changed, source="usage", at=now)
        if account_id in existing:
            updates.append((last, trend, sources, now, account_id))
        else:
            new.append(
                AccountSignals(account_id=account_id, last_login_on=last, usage_trend=trend, sources=sources)
            )
    update_rows(AccountSignals, ["last_login_on", "usage_trend", "sources", "updated_at"], updates)
    AccountSignals.objects.bulk_create(new, ignore_conflicts=True)
    _feature_usage(account_ids, today=today)
    activity_from_usage(account_ids, now=now)  # the contacts' last activity, then their champions
    refresh_champions(account_ids, today=today)
    if settings.TEND_SEATS_FROM_USAGE:
        _seats_in_use(account_ids, today=today, now=now)
    return len(updates) + len(new)


def _feature_usage(account_ids: list[int], *, today: date) -> None:
    """Each mapped feature's use over the last FEATURE_WINDOW_DAYS, as the adoption rules read it."""
    mapping = dict(EventMapping.objects.values_list("event", "feature_id"))
    if not mapping:
        return
    start = _bounds(today - timedelta(days=FEATURE_WINDOW_DAYS - 1))[0]
    feature = Case(*[When(event=e, then=Value(f)) for e, f in mapping.items()], output_field=IntegerField())
    # The database counts each feature's distinct users over the window: one row per account and feature.
    used = (
        UsageEvent.objects.filter(
            account_id__in=account_ids, type__in=ACTIVITY, event__in=list(mapping), happened_at__gte=start
        )
        .annotate(feature=feature, who=_WHO)
        .values("account_id", "feature")
        .annotate(users=Count("who", distinct=True), n=Count("id"), last=Max("day"))
        .values_list("account_id", "feature", "users", "n", "last")
    )
    now = timezone.now()
    upsert_rows(
        FeatureUsage,
        ["account", "feature", "active_users", "events_30d", "last_used_on", "source", "updated_at"],
        [(a, f, users, n, last, "usage", now) for a, f, users, n, last in used],
        conflict=["account", "feature"],
        update=["active_users", "events_30d", "last_used_on", "source", "updated_at"],
    )


def _seats_in_use(account_ids: list[int], *, today: date, now: datetime) -> int:
    """Seats used = the distinct users active in the last FEATURE_WINDOW_DAYS (TEND_SEATS_FROM_USAGE).

    A count the score would refuse (far more users than seats bought) is not written: the typed
    value stands, and the run's log says which accounts to look at.
    """
    start = _bounds(today - timedelta(days=FEATURE_WINDOW_DAYS - 1))[0]
    # Signed-in users take seats; anonymous visitors do not. The database counts them.
    active = dict(
        UsageEvent.objects.filter(account_id__in=account_ids, type__in=ACTIVITY, happened_at__gte=start)
        .exclude(user_id="")
        .values("account_id")
        .annotate(users=Count("user_id", distinct=True))
        .values_list("account_id", "users")
    )
    purchased = dict(Account.objects.filter(pk__in=active).values_list("pk", "seats_purchased"))
    rows, refused = [], []
    for account_id, users in active.items():
        if seats_problem(purchased.get(account_id), users):
            refused.append(account_id)
        else:
            rows.append((users, now, account_id))
    update_rows(Account, ["seats_used", "updated_at"], rows)
    if refused:
        logger.warning(
            "Seats in use from usage not written for accounts %s: more users than seats allow.", refused
        )
    return len(rows)


def rollup_pending(run=None, *, today: date | None = None) -> dict[str, Any]:
    """Store what came in, then roll up the days it touched, derive the signals, re-score.

    A run takes every waiting day of at most TEND_USAGE_ROLLUP_MAX_ACCOUNTS accounts (those waiting
    longest): each account's events are read once a run, however many of its days changed. While
    a burst is still being stored (more waits than one run stores), the rollup waits for the rest,
    up to TEND_USAGE_ROLLUP_MAX_DELAY seconds: each day is then rolled up once, not once per run.
    A follow-up run takes the rest and whatever came meanwhile.
    """
    stored = store_waiting()  # first the events that came in, then the days they touched
    today = today or timezone.localdate()
    started = timezone.now()
    pending = RollupRequest.objects.filter(requested_at__lte=started)
    oldest = pending.aggregate(first=Min("requested_at"))["first"]
    if oldest is None:
        return _followed({"stored": stored.as_dict(), "account_days": 0}, run)
    if stored.backlog and started - oldest < timedelta(seconds=settings.TEND_USAGE_ROLLUP_MAX_DELAY):
        return _followed({"stored": stored.as_dict(), "account_days": 0, "deferred": True}, run)
    first_waiting = (
        pending.values("account_id")
        .annotate(first=Min("requested_at"))
        .order_by("first", "account_id")
        .values_list("account_id", flat=True)[: settings.TEND_USAGE_ROLLUP_MAX_ACCOUNTS]
    )
    taken = list(pending.filter(account_id__in=list(first_waiting)).values_list("pk", "account_id", "day"))
    pairs = [(a, d) for _pk, a, d in taken]
    accounts = sorted({a for a, _d in pairs})
    written = 0
    for start in range(0, len(accounts), ACCOUNTS_PER_BATCH):
        chunk = set(accounts[start : start + ACCOUNTS_PER_BATCH])
        mine = [(pk, a, d) for pk, a, d in taken if a in chunk]
        with transaction.atomic():
            written += roll_up_days([(a, d) for _pk, a, d in mine])
            derive_signals(sorted(chunk), today=today, now=started)
            # Let go of what was rolled up, unless an event for its day came meanwhile.
            RollupRequest.objects.filter(
                pk__in=[pk for pk, _a, _d in mine], requested_at__lte=started
            ).delete()
    track_adoption(today=today, account_ids=accounts)
    rescore_soon(accounts)
    result = {
        "stored": stored.as_dict(),
        "account_days": len(pairs),
        "accounts": len(accounts),
        "rows": written,
    }
    return _followed(result, run)


def _followed(result: dict[str, Any], run) -> dict[str, Any]:
    """A follow-up run takes what is left (a burst over one run's share) or came meanwhile."""
    if run is not None and (follow := queue_rollup(run)) is not None:
        result["followed_by"] = {"rollup_usage": follow.pk}
    return result
