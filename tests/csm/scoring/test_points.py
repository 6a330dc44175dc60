"""`score` reads weighted point tables built once per profile; here, against a plain reading of the spec.

The reference below is the specification's arithmetic written out directly
(table points, then `round(points * weight / base maximum, 2)` per group).
Random accounts under random profiles must score identically, to the last bit.
"""

from __future__ import annotations

import random

import pytest

from csm.scoring import engine
from csm.scoring.engine import BASE_MAX, DEFAULT_RULES, Profile


def reference_points(table, value):
    if value is None:
        return table["none"]
    for bound, points in table.get("above", ()):
        if value > bound:
            return points
    for bound, points in table.get("at_least", ()):
        if value >= bound:
            return points
    for bound, points in table.get("at_most", ()):
        if value <= bound:
            return points
    return table["else"]


def reference_breakdown(inputs, profile):
    rules = profile.rules
    support = rules["support"]
    penalty = min(inputs["open_ticket_count"] * support["per_open_ticket"], support["max_ticket_penalty"])
    base = {
        "feature_adoption_rate": inputs["feature_adoption_rate"] * BASE_MAX["feature_adoption_rate"],
        "usage_trend": rules["usage_trend"][inputs["usage_trend"]],
        "login_frequency_days": reference_points(
            rules["login_frequency_days"], inputs["login_frequency_days"]
        ),
        "days_since_last_interaction": reference_points(
            rules["days_since_last_interaction"], inputs["days_since_last_interaction"]
        ),
        "invoice_payment_status": rules["invoice_payment_status"][inputs["invoice_payment_status"]],
        "support": max(0, support["sentiment"][inputs["avg_ticket_sentiment"]] - penalty),
        "days_to_renewal": reference_points(rules["days_to_renewal"], inputs["days_to_renewal"]),
        "seats_utilization_rate": reference_points(
            rules["seats_utilization_rate"], inputs["seats_utilization_rate"]
        ),
        "stakeholder_engagement": rules["stakeholder_engagement"][inputs["stakeholder_engagement"]],
        "nps_score": reference_points(rules["nps_score"], inputs["nps_score"]),
        "escalation_count_90_days": reference_points(
            rules["escalation_count_90_days"], inputs["escalation_count_90_days"]
        ),
    }
    return {g: round(p * profile.weights[g] / BASE_MAX[g], 2) for g, p in base.items()}


def reference_score(inputs, profile):
    breakdown = reference_breakdown(inputs, profile)
    raw = min(100.0, max(0.0, sum(breakdown.values())))
    multiplier = profile.tam_multipliers[inputs["tam_health_rag"] or "GREEN"]
    return breakdown, round(min(100.0, max(0.0, raw * multiplier)), 2)


def random_inputs(rng):
    def maybe(value):
        return None if rng.random() < 0.15 else value

    return {
        "feature_adoption_rate": rng.choice([0.0, 1.0, round(rng.random(), rng.randint(1, 6)), rng.random()]),
        "usage_trend": rng.choice(engine.USAGE_TRENDS),
        "login_frequency_days": maybe(rng.choice([0, 7, 8, 30, 31, 60, 61, rng.randint(0, 400)])),
        "days_since_last_interaction": maybe(rng.choice([0, 30, 31, 60, 61, 90, 91, rng.randint(0, 400)])),
        "stakeholder_engagement": rng.choice(engine.ENGAGEMENT_LEVELS),
        "nps_score": maybe(rng.randint(0, 10)),
        "invoice_payment_status": rng.choice(engine.PAYMENT_STATUSES),
        "days_to_renewal": maybe(
            rng.choice([-5, 0, 30, 31, 60, 61, 90, 91, 180, 181, rng.randint(-30, 900)])
        ),
        "seats_utilization_rate": rng.choice([0.0, 0.5, 0.8, 1.0, 1.01, 2.0, round(rng.uniform(0, 2), 4)]),
        "open_ticket_count": rng.randint(0, 12),
        "avg_ticket_sentiment": rng.choice(engine.SENTIMENTS),
        "escalation_count_90_days": rng.randint(0, 4),
        "tam_health_rag": rng.choice([None, *engine.RAGS]),
    }


def random_profile(rng):
    weights = {
        g: rng.choice([0, m, round(rng.uniform(0, 3 * m), rng.randint(0, 3)), 7, 1.5])
        for g, m in BASE_MAX.items()
    }
    rules = {**DEFAULT_RULES}
    rules["days_to_renewal"] = {
        "above": sorted(([rng.randint(0, 365), rng.randint(0, 10)] for _ in range(3)), reverse=True),
        "at_most": [[rng.randint(-10, 20), 0.5]],
        "else": rng.choice([0, 1, 2.5]),
        "none": rng.choice([0, 7, 3.3]),
    }
    rules["support"] = {
        "sentiment": {s: rng.randint(0, 10) for s in engine.SENTIMENTS},
        "per_open_ticket": rng.choice([0, 1, 0.7]),
        "max_ticket_penalty": rng.choice([0, 5, 9.5]),
    }
    return Profile(
        version=rng.randint(1, 9),
        weights=weights,
        green_threshold=70.0,
        amber_threshold=40.0,
        tam_multipliers={"GREEN": 1.0, "AMBER": rng.choice([0.95, 0.9]), "RED": rng.choice([0.85, 0.5])},
        rules=rules,
    )


@pytest.mark.parametrize("seed", range(40))
def test_weighted_tables_score_exactly_as_the_specification_reads(seed):
    rng = random.Random(seed)
    profile = engine.DEFAULT_PROFILE if seed == 0 else random_profile(rng)
    for _ in range(250):
        inputs = random_inputs(rng)
        breakdown, final = reference_score(inputs, profile)
        result = engine.score(inputs, profile)
        assert dict(result.breakdown) == breakdown, inputs
        assert list(result.breakdown) == list(engine.GROUPS)
        assert result.score == final, inputs
        assert result.rag == engine.rag_for(final, profile)


def test_the_weighted_tables_are_built_once_per_profile():
    profile = Profile(weights={**BASE_MAX, "nps_score": 6})
    assert profile.points is profile.points
    assert profile.points.nps[2] == ((9, 6.0), (7, 4.0), (5, 2.0))
    assert (
        engine.score({**random_inputs(random.Random(1)), "nps_score": 9}, profile).breakdown["nps_score"]
        == 6.0
    )
