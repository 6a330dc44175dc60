"""Tracking feature adoption from usage, and each account's scorecard.

`track_adoption` derives every tracked account's adoption rate from its
feature usage (an account with no usage rows is not tracked and keeps its
typed-in feature_adoption_rate), in batches with bulk writes. The scan then
uses the tracked rate instead of a typed-in one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.utils import timezone

from agents_core.bulk import update_rows
from csm.accounts.catalogue import PlanTerms, addons_of, owned, plan_terms
from csm.adoption import rules as adoption_rules
from csm.models import Account, Feature, FeatureUsage

BATCH_SIZE = 2000


def _owned_modules(
    account_ids: list[int], plans: dict[str, PlanTerms] | None = None
) -> dict[int, frozenset[str]]:
    """Add-on keys each account has (see csm.catalogue)."""
    plans = plan_terms() if plans is None else plans
    bought = addons_of(account_ids)
    return {
        pk: owned(plans, plan, bought.get(pk, ()))
        for pk, plan in Account.objects.filter(pk__in=account_ids).values_list("pk", "plan")
    }


def _available(features: list[tuple[str, str | None]], modules: set[str]) -> set[str]:
    return {key for key, module in features if module is None or module in modules}


def track_adoption(*, today: date | None = None, account_ids: list[int] | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    now = timezone.now()
    features = list(Feature.objects.values_list("key", "module__key"))
    tracked = FeatureUsage.objects.values_list("account_id", flat=True).distinct().order_by("account_id")
    if account_ids is not None:
        tracked = tracked.filter(account_id__in=account_ids)
    ids = list(tracked)
    updated = 0
    for start in range(0, len(ids), BATCH_SIZE):
        batch = ids[start : start + BATCH_SIZE]
        owned = _owned_modules(batch)
        adopted: dict[int, set[str]] = defaultdict(set)
        for account_id, key, users, last_used in FeatureUsage.objects.filter(
            account_id__in=batch
        ).values_list("account_id", "feature__key", "active_users", "last_used_on"):
            if adoption_rules.is_adopted(users, last_used, today):
                adopted[account_id].add(key)
        rows = [
            (adoption_rules.adoption_rate(_available(features, owned.get(pk, set())), adopted[pk]), now, pk)
            for pk in batch
        ]
        update_rows(Account, ["tracked_adoption_rate", "adoption_tracked_at"], rows)
        updated += len(rows)
    return {"accounts_tracked": updated, "features": len(features)}


@dataclass
class Scorecard:
    rate: float | None
    segment_median: float | None
    segment_percentile: float | None
    features: list[dict[str, Any]] = field(default_factory=list)
    unused_paid: list[str] = field(default_factory=list)


@dataclass
class ScorecardContext:
    """What every account's scorecard in one run shares: read once, not per account."""

    plans: dict[str, PlanTerms]
    features: list[Feature]
    # segment -> tracked adoption rates, for a run over many accounts; None: one account, whose
    # standing in its segment the database works out (`peer_standing`).
    peers: dict[str, list[float]] | None

    @classmethod
    def load(cls, *, peers: bool = True) -> ScorecardContext:
        """Everything a run shares; `peers=False` for one account's page."""
        rates: dict[str, list[float]] | None = None
        if peers:
            rates = defaultdict(list)
            tracked = Account.objects.filter(tracked_adoption_rate__isnull=False).order_by()
            for segment, rate in tracked.values_list("segment", "tracked_adoption_rate"):
                rates[segment].append(rate)
            rates = dict(rates)
        return cls(plan_terms(), list(Feature.objects.select_related("module")), rates)


def peer_standing(segment: str, rate: float | None) -> tuple[float | None, float | None]:
    """The segment's median tracked adoption rate and `rate`'s percentile rank in it, as
    `adoption_rules.median` and `percentile_rank` give them, read off the partial index on
    (segment, rate): a count, the middle one or two rates, and a count at or below `rate`,
    instead of every peer's rate (half a million in a large segment of a million-account book).
    """
    rates = (
        Account.objects.filter(segment=segment, tracked_adoption_rate__isnull=False)
        .order_by("tracked_adoption_rate")
        .values_list("tracked_adoption_rate", flat=True)
    )
    peers = rates.count()
    if not peers:
        return None, None
    middle = peers // 2
    if peers % 2:
        median = rates[middle]
    else:
        low, high = rates[middle - 1 : middle + 1]
        median = (low + high) / 2
    if rate is None:
        return median, None
    return median, round(100 * rates.filter(tracked_adoption_rate__lte=rate).count() / peers, 1)


def scorecard(
    account: Account, *, today: date | None = None, context: ScorecardContext | None = None
) -> Scorecard:
    """Adoption per available feature, against the segment, and paid modules' features unused."""
    today = today or timezone.localdate()
    context = context or ScorecardContext.load(peers=False)
    owned = _owned_modules([account.pk], context.plans).get(account.pk, set())
    usage = {u.feature_id: u for u in account.feature_usage.all()}
    rows = []
    for feature in context.features:
        if feature.module is not None and feature.module.key not in owned:
            continue
        used = usage.get(feature.pk)
        rows.append(
            {
                "feature": feature.name,
                "module": feature.module.name if feature.module else "Core",
                "paid": feature.module is not None,
                "active_users": used.active_users if used else 0,
                "last_used_on": used.last_used_on if used else None,
                "adopted": bool(used)
                and adoption_rules.is_adopted(used.active_users, used.last_used_on, today),
            }
        )
    rate = account.tracked_adoption_rate
    if context.peers is None:
        median, percentile = peer_standing(account.segment, rate)
    else:
        peers = context.peers.get(account.segment, [])
        median = adoption_rules.median(peers)
        percentile = adoption_rules.percentile_rank(rate, peers) if rate is not None else None
    return Scorecard(
        rate=rate,
        segment_median=median,
        segment_percentile=percentile,
        features=rows,
        unused_paid=[r["feature"] for r in rows if r["paid"] and not r["adopted"]],
    )
