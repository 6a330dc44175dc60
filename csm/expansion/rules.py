"""Expansion rules: deterministic, plain data in, findings out. No Django.

Three kinds of opportunity, each only for accounts healthy enough to hear a
sales conversation (not RED, churn risk low or medium):

* seats: the account uses 90% or more of the seats it bought and usage is
  growing or stable; suggest 20% headroom (at least 5 seats) at the seat
  price of its plan (or, without a known plan, its ARR per seat);
* module: the account adopts the product heavily (75%+ feature adoption)
  with growing usage, and a module it has not bought is next in the
  catalogue; priced per seat in use;
* integration: a team of 25+ seats with high engagement or 60%+ adoption
  and an integration it has not connected; priced flat.

Every finding carries the numbers behind it (evidence), a sentence a rep can
quote, and the estimated ARR impact as a Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from csm.accounts.limits import MAX_MONEY

SEAT_UTILIZATION = 0.9
SEAT_HEADROOM = 0.2
MIN_EXTRA_SEATS = 5
MODULE_ADOPTION = 0.75
INTEGRATION_MIN_SEATS = 25
INTEGRATION_ADOPTION = 0.6
HEALTHY_RAGS = ("GREEN", "AMBER")
CALM_CHURN = ("low", "medium")
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Offer:
    key: str
    name: str
    kind: str  # "module" | "integration"
    price_per_seat: Decimal
    flat_price: Decimal


@dataclass(frozen=True)
class AccountFacts:
    id: int
    rag: str
    churn_risk: str
    arr: Decimal
    seats_purchased: int | None
    seats_used: int | None
    plan_seat_price: Decimal | None
    usage_trend: str | None
    feature_adoption_rate: float | None
    stakeholder_engagement: str | None
    owned: frozenset[str] = field(default_factory=frozenset)  # add-on keys in the plan or bought


@dataclass(frozen=True)
class Finding:
    account_id: int
    kind: str
    impact: Decimal
    evidence: dict[str, Any]
    summary: str
    addon_key: str | None = None


def capped(impact: Decimal) -> Decimal:
    """An estimate within what an ARR column holds, however large the account's numbers."""
    return min(impact, MAX_MONEY)


def healthy_enough(facts: AccountFacts) -> bool:
    return facts.rag in HEALTHY_RAGS and facts.churn_risk in CALM_CHURN


def seat_price(facts: AccountFacts) -> Decimal | None:
    """What a seat costs this account: what it pays (ARR over seats bought), else its plan's list price.

    More seats are offered at the price the customer already pays, not at a
    list price they never saw.
    """
    if facts.seats_purchased and facts.arr and facts.arr > 0:
        return (Decimal(str(facts.arr)) / facts.seats_purchased).quantize(CENTS, ROUND_HALF_UP)
    return facts.plan_seat_price


def find_seats(facts: AccountFacts) -> Finding | None:
    purchased, used, price = facts.seats_purchased, facts.seats_used, seat_price(facts)
    if not purchased or used is None or price is None or price <= 0:
        return None
    utilization = used / purchased
    if utilization < SEAT_UTILIZATION or facts.usage_trend not in ("growing", "stable"):
        return None
    extra = max(MIN_EXTRA_SEATS, math.ceil(max(used, purchased) * (1 + SEAT_HEADROOM)) - purchased)
    impact = (price * extra).quantize(CENTS)
    return Finding(
        account_id=facts.id,
        kind="seats",
        impact=capped(impact),
        evidence={
            "seats_used": used,
            "seats_purchased": purchased,
            "seat_utilization": round(utilization, 4),
            "usage_trend": facts.usage_trend,
            "seat_price": str(price),
            "suggested_additional_seats": extra,
        },
        summary=(
            f"{used} of {purchased} seats in use ({utilization:.0%}) with {facts.usage_trend} usage; "
            f"{extra} more seats at {price} a year each."
        ),
    )


def _first_missing(catalogue: Iterable[Offer], kind: str, owned: frozenset[str]) -> Offer | None:
    return next((o for o in catalogue if o.kind == kind and o.key not in owned), None)


def find_module(facts: AccountFacts, catalogue: Iterable[Offer]) -> Finding | None:
    adoption = facts.feature_adoption_rate
    if adoption is None or adoption < MODULE_ADOPTION or facts.usage_trend != "growing":
        return None
    offer = _first_missing(catalogue, "module", facts.owned)
    seats = facts.seats_used or facts.seats_purchased
    if offer is None or not seats or offer.price_per_seat <= 0:
        return None
    impact = (offer.price_per_seat * seats).quantize(CENTS)
    return Finding(
        account_id=facts.id,
        kind="module",
        impact=capped(impact),
        addon_key=offer.key,
        evidence={
            "feature_adoption_rate": round(adoption, 4),
            "usage_trend": facts.usage_trend,
            "module": offer.key,
            "seats": seats,
            "module_price_per_seat": str(offer.price_per_seat),
        },
        summary=(
            f"{adoption:.0%} of features adopted with growing usage; {offer.name} is not in their plan "
            f"({seats} seats at {offer.price_per_seat} a year)."
        ),
    )


def find_integration(facts: AccountFacts, catalogue: Iterable[Offer]) -> Finding | None:
    seats = facts.seats_used or 0
    adoption = facts.feature_adoption_rate or 0.0
    engaged = facts.stakeholder_engagement == "high" or adoption >= INTEGRATION_ADOPTION
    if seats < INTEGRATION_MIN_SEATS or not engaged:
        return None
    offer = _first_missing(catalogue, "integration", facts.owned)
    if offer is None or offer.flat_price <= 0:
        return None
    return Finding(
        account_id=facts.id,
        kind="integration",
        impact=capped(offer.flat_price.quantize(CENTS)),
        addon_key=offer.key,
        evidence={
            "seats_used": seats,
            "feature_adoption_rate": round(adoption, 4),
            "stakeholder_engagement": facts.stakeholder_engagement,
            "integration": offer.key,
            "integrations_connected": sorted(k for k in facts.owned if k != offer.key),
        },
        summary=(
            f"{seats} people use the product ({adoption:.0%} adoption, "
            f"{facts.stakeholder_engagement or 'unknown'} engagement) and {offer.name} is not connected."
        ),
    )


def find_opportunities(facts: AccountFacts, catalogue: Iterable[Offer]) -> list[Finding]:
    """Every opportunity an account shows today; none unless it is healthy enough."""
    if not healthy_enough(facts):
        return []
    catalogue = list(catalogue)
    found = [find_seats(facts), find_module(facts, catalogue), find_integration(facts, catalogue)]
    return [f for f in found if f is not None]


# Ties in ARR impact break by kind in this order (and then account id), for a stable ranking.
KIND_ORDER = {"seats": 0, "module": 1, "integration": 2}


def goodness(finding: Finding) -> tuple:
    """Larger is better: the ARR impact, then (for a stable order) lower account id and kind."""
    return (finding.impact, -finding.account_id, -KIND_ORDER[finding.kind])
