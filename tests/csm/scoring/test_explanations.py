import random
from datetime import date, timedelta

import pytest
from django.urls import reverse

from csm.models import ChurnAlert, HealthScore
from csm.scoring import engine
from csm.scoring.explanations import costs, explain_score
from csm.scoring.scan import scan_health

TODAY = date(2026, 11, 30)
WEIGHTS = dict(engine.BASE_MAX)


def full_marks() -> dict[str, float]:
    return dict(WEIGHTS)


def test_names_the_three_groups_that_cost_the_most_points():
    breakdown = full_marks()
    breakdown.update(login_frequency_days=2.0, support=5.0, nps_score=WEIGHTS["nps_score"] - 1.0)
    breakdown["stakeholder_engagement"] = WEIGHTS["stakeholder_engagement"] - 0.2  # too small to name
    line = explain_score(breakdown, WEIGHTS, score=61.0, rag="AMBER", previous_score=None, previous_rag=None)
    lost_logins = WEIGHTS["login_frequency_days"] - 2.0
    lost_support = WEIGHTS["support"] - 5.0
    top = sorted(
        [("logins", lost_logins), ("support tickets", lost_support), ("NPS", 1.0)], key=lambda x: -x[1]
    )
    assert line.startswith("Costing most: ")
    for name, lost in top:
        assert f"{name} -{round(lost, 1):g} of " in line
    positions = [line.index(name) for name, _ in top]
    assert positions == sorted(positions)  # the biggest loss first
    assert "stakeholder" not in line
    assert line.endswith("; first score.")


def test_says_what_changed_since_the_last_score():
    b = full_marks()
    b["usage_trend"] = 0.0
    down = explain_score(b, WEIGHTS, score=55.0, rag="AMBER", previous_score=71.5, previous_rag="GREEN")
    assert down.endswith("down 16.5 since the last score (GREEN to AMBER).")
    up = explain_score(b, WEIGHTS, score=60.0, rag="AMBER", previous_score=55.0, previous_rag="AMBER")
    assert up.endswith("up 5 since the last score.")
    same = explain_score(b, WEIGHTS, score=60.0, rag="AMBER", previous_score=60.0, previous_rag="AMBER")
    assert same.endswith("unchanged since the last score.")


def test_a_perfect_account_has_nothing_costing_points():
    line = explain_score(
        full_marks(), WEIGHTS, score=100, rag="GREEN", previous_score=100, previous_rag="GREEN"
    )
    assert line.startswith("Every signal group at or near full points")
    assert costs(full_marks(), WEIGHTS) == []


def test_ties_are_ordered_by_group_so_the_line_is_deterministic():
    b = full_marks()
    b["nps_score"] -= 3
    b["escalation_count_90_days"] -= 3
    assert [g for g, _, _ in costs(b, WEIGHTS)] == ["escalation_count_90_days", "nps_score"]


def test_costs_are_each_groups_rounded_loss_of_at_least_half_a_point():
    """Against the rule written out plainly, on losses around the rounding edges (0.44 to 0.56)."""
    rng = random.Random(7)
    edges = [0.0, 0.44, 0.4499999, 0.45, 0.45000001, 0.5, 0.55, 0.56, 1.05, 2.25]
    for _ in range(2000):
        b = {g: w - rng.choice([*edges, rng.uniform(0, w)]) for g, w in WEIGHTS.items()}
        plain = [(g, round(w - b[g], 1), w) for g, w in WEIGHTS.items()]
        expected = sorted((c for c in plain if c[1] >= 0.5), key=lambda c: (-c[1], c[0]))
        assert costs(b, WEIGHTS) == expected, b


def test_the_remembered_roundings_are_bounded_and_stay_right_after_emptying():
    from csm.scoring import explanations

    tenths = explanations._TENTHS
    for n in range(100_010):
        shortfall = 0.5 + n / 1_000_003
        assert tenths[shortfall] == round(shortfall, 1)
    assert len(tenths) <= 100_000
    b = full_marks()
    b["nps_score"] -= 2.25
    assert costs(b, WEIGHTS) == [("nps_score", round(2.25, 1), WEIGHTS["nps_score"])]


@pytest.mark.django_db
def test_the_scan_writes_the_line_and_the_api_and_alerts_show_it(make_account, make_user, api):
    owner = make_user("maya")
    account = make_account(today=TODAY - timedelta(days=1), owner=owner)
    scan_health(today=TODAY - timedelta(days=1))
    first = HealthScore.objects.get(account=account, scored_on=TODAY - timedelta(days=1))
    assert first.explanation.endswith("first score.")

    # The account collapses: the next scan explains the fall, and the alert carries the line.
    signals = account.signals
    signals.usage_trend, signals.invoice_payment_status, signals.stakeholder_engagement = (
        "inactive",
        "overdue_60",
        "low",
    )
    signals.nps_score, signals.last_login_on = 1, TODAY - timedelta(days=80)
    signals.save()
    scan_health(today=TODAY)
    second = HealthScore.objects.get(account=account, scored_on=TODAY)
    assert f"down {round(first.score - second.score, 1):g} since the last score" in second.explanation
    assert "payments" in second.explanation or "usage trend" in second.explanation
    alert = ChurnAlert.objects.get(account=account)
    assert alert.explanation.endswith(second.explanation)

    response = api(owner).get(reverse("api:account-health", args=[account.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    assert rows[0]["explanation"] == second.explanation
