"""What an account has bought: its plan's terms and modules, and its own add-ons.

One place for the rule, used by expansion (what to offer) and adoption (what
counts as available): an account owns its plan's included add-ons plus the
add-ons bought for it. Plans are matched by name, case-insensitively.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from csm.models import Account, Plan


@dataclass(frozen=True)
class PlanTerms:
    seat_price: Decimal | None
    included: frozenset[str]


NO_PLAN = PlanTerms(seat_price=None, included=frozenset())


def plan_terms() -> dict[str, PlanTerms]:
    """Plan name (lower case) -> its seat price and included add-on keys. One query."""
    return {
        plan.name.lower(): PlanTerms(plan.seat_price, frozenset(a.key for a in plan.included.all()))
        for plan in Plan.objects.prefetch_related("included")
    }


def terms_for(plans: dict[str, PlanTerms], plan_name: str | None) -> PlanTerms:
    return plans.get((plan_name or "").lower(), NO_PLAN)


def addons_of(account_ids: Iterable[int]) -> dict[int, set[str]]:
    """Add-on keys bought for each account, beyond its plan. One query."""
    bought: dict[int, set[str]] = defaultdict(set)
    for account_id, key in Account.addons.through.objects.filter(
        account_id__in=list(account_ids)
    ).values_list("account_id", "addon__key"):
        bought[account_id].add(key)
    return bought


def addons_between(first: int, last: int) -> dict[int, set[str]]:
    """Add-on keys bought by the accounts with ids from `first` to `last`. One query."""
    bought: dict[int, set[str]] = defaultdict(set)
    for account_id, key in Account.addons.through.objects.filter(
        account_id__gte=first, account_id__lte=last
    ).values_list("account_id", "addon__key"):
        bought[account_id].add(key)
    return bought


def owned(plans: dict[str, PlanTerms], plan_name: str | None, bought: Iterable[str]) -> frozenset[str]:
    return terms_for(plans, plan_name).included | frozenset(bought)
