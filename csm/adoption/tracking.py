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
    peers: dict[str, list[float]]  # segment -> tracked adoption rates

    @classmethod
    def load(cls, segments: list[str] | None = None) -> ScorecardContext:
        """Everything (a run), or only the peers of `segments` (one account's page)."""
        peers: dict[str, list[float]] = defaultdict(list)
        tracked = Account.objects.filter(tracked_adoption_rate__isnull=False).order_by()
        if segments is not None:
            tracked = tracked.filter(segment__in=segments)
        for segment, rate in tracked.values_list("segment", "tracked_adoption_rate"):
            peers[segment].append(rate)
        return cls(plan_terms(), list(Feature.objects.select_related("module")), dict(peers))


def scorecard(
    account: Account, *, today: date | None = None, context: ScorecardContext | None = None
) -> Scorecard:
    """Adoption per available feature, against the segment, and paid modules' features unused."""
    today = today or timezone.localdate()
    context = context or ScorecardContext.load(segments=[account.segment])
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
    peers = context.peers.get(account.segment, [])
    rate = account.tracked_adoption_rate
    return Scorecard(
        rate=rate,
        segment_median=adoption_rules.median(peers),
        segment_percentile=adoption_rules.percentile_rank(rate, peers) if rate is not None else None,
        features=rows,
        unused_paid=[r["feature"] for r in rows if r["paid"] and not r["adopted"]],
    )
