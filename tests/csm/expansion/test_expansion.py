from __future__ import annotations

from decimal import Decimal

import pytest

from csm.expansion.opportunities import check_expansion
from csm.expansion.rules import AccountFacts, Offer, find_opportunities, find_seats, healthy_enough
from csm.models import ExpansionOpportunity
from csm.scoring.scan import scan_health

CATALOGUE = [
    Offer("analytics", "Advanced Analytics", "module", Decimal("60"), Decimal("0")),
    Offer("automation", "Workflow Automation", "module", Decimal("80"), Decimal("0")),
    Offer("salesforce", "Salesforce sync", "integration", Decimal("0"), Decimal("6000")),
]


def facts(**changes):
    base = dict(
        id=1, rag="GREEN", churn_risk="low", arr=Decimal("40000"), seats_purchased=100, seats_used=95,
        plan_seat_price=Decimal("400"), usage_trend="growing", feature_adoption_rate=0.8,
        stakeholder_engagement="high", owned=frozenset({"analytics"}),
    )  # fmt: skip
    base.update(changes)
    return AccountFacts(**base)


@pytest.mark.parametrize(
    ("rag", "churn", "ok"),
    [("GREEN", "low", True), ("AMBER", "medium", True), ("RED", "low", False), ("GREEN", "high", False),
     ("AMBER", "critical", False)],
)  # fmt: skip
def test_only_healthy_enough_accounts_qualify(rag, churn, ok):
    assert healthy_enough(facts(rag=rag, churn_risk=churn)) is ok
    assert bool(find_opportunities(facts(rag=rag, churn_risk=churn), CATALOGUE)) is ok


@pytest.mark.parametrize(
    ("used", "purchased", "trend", "extra"),
    [(90, 100, "stable", 20), (95, 100, "growing", 20), (130, 100, "growing", 56), (9, 10, "stable", 5),
     (89, 100, "growing", None), (95, 100, "declining", None), (95, 0, "growing", None)],
)  # fmt: skip
def test_seats_rule(used, purchased, trend, extra):
    finding = find_seats(
        facts(seats_used=used, seats_purchased=purchased, usage_trend=trend, arr=Decimal(400 * purchased))
    )
    if extra is None:
        assert finding is None
    else:
        assert finding.evidence["suggested_additional_seats"] == extra
        assert finding.impact == Decimal("400") * extra


def test_seats_are_priced_at_what_the_account_pays_not_the_list_price():
    finding = find_seats(facts(plan_seat_price=Decimal("400"), arr=Decimal("23100"), seats_purchased=100))
    assert finding.evidence["seat_price"] == "231.00" and finding.impact == Decimal("4620.00")  # 20 x 231
    without_a_plan = find_seats(facts(plan_seat_price=None, arr=Decimal("45000"), seats_purchased=100))
    assert without_a_plan.evidence["seat_price"] == "450.00"


def test_seat_price_falls_back_to_the_plan_when_the_account_pays_nothing_yet():
    finding = find_seats(facts(plan_seat_price=Decimal("400"), arr=Decimal("0"), seats_purchased=100))
    assert finding.evidence["seat_price"] == "400"


def test_module_rule_offers_the_first_module_not_owned():
    [module] = [f for f in find_opportunities(facts(), CATALOGUE) if f.kind == "module"]
    assert module.addon_key == "automation" and module.impact == Decimal("7600.00")  # 80 x 95
    assert not [
        f for f in find_opportunities(facts(feature_adoption_rate=0.7), CATALOGUE) if f.kind == "module"
    ]
    everything = facts(owned=frozenset({"analytics", "automation", "salesforce"}))
    assert [f.kind for f in find_opportunities(everything, CATALOGUE)] == ["seats"]


def test_integration_rule_needs_a_team_and_engagement():
    small = facts(seats_used=10, seats_purchased=100)
    assert not [f for f in find_opportunities(small, CATALOGUE) if f.kind == "integration"]
    lukewarm = facts(stakeholder_engagement="low", feature_adoption_rate=0.5)
    assert not [f for f in find_opportunities(lukewarm, CATALOGUE) if f.kind == "integration"]
    [integration] = [f for f in find_opportunities(facts(), CATALOGUE) if f.kind == "integration"]
    assert integration.addon_key == "salesforce" and integration.impact == Decimal("6000.00")


@pytest.mark.django_db
def test_at_most_five_per_run_highest_impact_first_and_the_rest_wait(make_account, settings):
    settings.GMAIL_SERVICE_ACCOUNT_JSON = ""
    # Seat-bound accounts of growing size: seats opportunities of growing impact.
    plain = dict(
        feature_adoption_rate=0.5,
        usage_trend="stable",
        stakeholder_engagement="medium",
        invoice_payment_status="current",
        open_ticket_count=0,
        avg_ticket_sentiment="positive",
        escalation_count_90_days=0,
    )
    accounts = [
        make_account(
            plan="Starter",
            arr=3_000 * (i + 1),
            seats_purchased=10 * (i + 1),
            seats_used=10 * (i + 1),
            signals=plain,
        )
        for i in range(7)
    ]
    scan_health()
    first = check_expansion()
    assert first["candidates"] == 7 and len(first["created"]) == 5 and first["waiting"] == 2
    chosen = ExpansionOpportunity.objects.filter(pk__in=first["created"])
    assert {o.account_id for o in chosen} == {a.pk for a in accounts[2:]}  # the five biggest
    second = check_expansion()
    assert second["candidates"] == 2 and len(second["created"]) == 2  # open ones are not found again
    assert check_expansion()["candidates"] == 0
    assert ExpansionOpportunity.objects.count() == 7


@pytest.mark.django_db
def test_check_expansion_limits_itself_to_account_ids(make_account, settings):
    settings.GMAIL_SERVICE_ACCOUNT_JSON = ""
    make_account(seats_used=10)
    b = make_account(seats_used=10)
    scan_health()
    result = check_expansion([b.pk])
    assert result["accounts_checked"] == 1
    assert set(ExpansionOpportunity.objects.values_list("account_id", flat=True)) == {b.pk}
