"""The scoring engine against every row of every table in docs/scoring.md."""

from __future__ import annotations

import ast
import pathlib
import random
import subprocess
import sys

import pytest

from csm.scoring import engine
from csm.scoring.engine import DEFAULT_PROFILE, Profile, score

PERFECT = {
    "feature_adoption_rate": 1.0,
    "usage_trend": "growing",
    "login_frequency_days": 0,
    "days_since_last_interaction": 0,
    "stakeholder_engagement": "high",
    "nps_score": 10,
    "invoice_payment_status": "current",
    "days_to_renewal": 365,
    "seats_utilization_rate": 0.9,
    "open_ticket_count": 0,
    "avg_ticket_sentiment": "positive",
    "escalation_count_90_days": 0,
    "tam_health_rag": None,
}


def with_(**changes):
    return {**PERFECT, **changes}


def test_perfect_account_scores_100_with_every_group_at_its_maximum():
    result = score(PERFECT)
    assert result.score == 100
    assert result.rag == "GREEN"
    assert dict(result.breakdown) == dict(engine.BASE_MAX)
    assert set(result.breakdown) == set(engine.GROUPS) and len(engine.GROUPS) == 11


@pytest.mark.parametrize(
    ("changes", "group", "points"),
    [
        # feature_adoption_rate: rate x 20
        ({"feature_adoption_rate": 0.0}, "feature_adoption_rate", 0),
        ({"feature_adoption_rate": 0.5}, "feature_adoption_rate", 10),
        ({"feature_adoption_rate": 0.73}, "feature_adoption_rate", 14.6),
        # usage_trend
        ({"usage_trend": "growing"}, "usage_trend", 15),
        ({"usage_trend": "stable"}, "usage_trend", 10),
        ({"usage_trend": "declining"}, "usage_trend", 3),
        ({"usage_trend": "inactive"}, "usage_trend", 0),
        # login_frequency_days: <=7: 10, <=30: 7, <=60: 4, more: 0; none: 5
        ({"login_frequency_days": 7}, "login_frequency_days", 10),
        ({"login_frequency_days": 8}, "login_frequency_days", 7),
        ({"login_frequency_days": 30}, "login_frequency_days", 7),
        ({"login_frequency_days": 31}, "login_frequency_days", 4),
        ({"login_frequency_days": 60}, "login_frequency_days", 4),
        ({"login_frequency_days": 61}, "login_frequency_days", 0),
        ({"login_frequency_days": None}, "login_frequency_days", 5),
        # days_since_last_interaction: <=30: 10, <=60: 7, <=90: 4, more: 0; none: 5
        ({"days_since_last_interaction": 30}, "days_since_last_interaction", 10),
        ({"days_since_last_interaction": 31}, "days_since_last_interaction", 7),
        ({"days_since_last_interaction": 60}, "days_since_last_interaction", 7),
        ({"days_since_last_interaction": 61}, "days_since_last_interaction", 4),
        ({"days_since_last_interaction": 90}, "days_since_last_interaction", 4),
        ({"days_since_last_interaction": 91}, "days_since_last_interaction", 0),
        ({"days_since_last_interaction": None}, "days_since_last_interaction", 5),
        # invoice_payment_status
        ({"invoice_payment_status": "current"}, "invoice_payment_status", 10),
        ({"invoice_payment_status": "overdue_30"}, "invoice_payment_status", 6),
        ({"invoice_payment_status": "overdue_60"}, "invoice_payment_status", 3),
        ({"invoice_payment_status": "overdue_90_plus"}, "invoice_payment_status", 0),
        # support: sentiment base minus 1 per open ticket (at most 5), floor 0
        ({"avg_ticket_sentiment": "positive"}, "support", 10),
        ({"avg_ticket_sentiment": "neutral"}, "support", 7),
        ({"avg_ticket_sentiment": "negative"}, "support", 3),
        ({"avg_ticket_sentiment": "critical"}, "support", 0),
        ({"avg_ticket_sentiment": "positive", "open_ticket_count": 3}, "support", 7),
        ({"avg_ticket_sentiment": "positive", "open_ticket_count": 5}, "support", 5),
        ({"avg_ticket_sentiment": "positive", "open_ticket_count": 40}, "support", 5),
        ({"avg_ticket_sentiment": "neutral", "open_ticket_count": 6}, "support", 2),
        ({"avg_ticket_sentiment": "negative", "open_ticket_count": 4}, "support", 0),
        ({"avg_ticket_sentiment": "critical", "open_ticket_count": 2}, "support", 0),
        # days_to_renewal: >180: 10, >90: 8, >60: 6, >30: 3, else 1; none: 7
        ({"days_to_renewal": 181}, "days_to_renewal", 10),
        ({"days_to_renewal": 180}, "days_to_renewal", 8),
        ({"days_to_renewal": 91}, "days_to_renewal", 8),
        ({"days_to_renewal": 90}, "days_to_renewal", 6),
        ({"days_to_renewal": 61}, "days_to_renewal", 6),
        ({"days_to_renewal": 60}, "days_to_renewal", 3),
        ({"days_to_renewal": 31}, "days_to_renewal", 3),
        ({"days_to_renewal": 30}, "days_to_renewal", 1),
        ({"days_to_renewal": 0}, "days_to_renewal", 1),
        ({"days_to_renewal": -15}, "days_to_renewal", 1),
        ({"days_to_renewal": None}, "days_to_renewal", 7),
        # seats_utilization_rate: >1.0: 4, >=0.8: 5, >=0.5: 3, else 1
        ({"seats_utilization_rate": 2.0}, "seats_utilization_rate", 4),
        ({"seats_utilization_rate": 1.01}, "seats_utilization_rate", 4),
        ({"seats_utilization_rate": 1.0}, "seats_utilization_rate", 5),
        ({"seats_utilization_rate": 0.8}, "seats_utilization_rate", 5),
        ({"seats_utilization_rate": 0.79}, "seats_utilization_rate", 3),
        ({"seats_utilization_rate": 0.5}, "seats_utilization_rate", 3),
        ({"seats_utilization_rate": 0.49}, "seats_utilization_rate", 1),
        ({"seats_utilization_rate": 0.0}, "seats_utilization_rate", 1),
        # stakeholder_engagement
        ({"stakeholder_engagement": "high"}, "stakeholder_engagement", 5),
        ({"stakeholder_engagement": "medium"}, "stakeholder_engagement", 3),
        ({"stakeholder_engagement": "low"}, "stakeholder_engagement", 1),
        # nps_score: >=9: 3, >=7: 2, >=5: 1, else 0; none: 2
        ({"nps_score": 10}, "nps_score", 3),
        ({"nps_score": 9}, "nps_score", 3),
        ({"nps_score": 8}, "nps_score", 2),
        ({"nps_score": 7}, "nps_score", 2),
        ({"nps_score": 6}, "nps_score", 1),
        ({"nps_score": 5}, "nps_score", 1),
        ({"nps_score": 4}, "nps_score", 0),
        ({"nps_score": 0}, "nps_score", 0),
        ({"nps_score": None}, "nps_score", 2),
        # escalation_count_90_days: 0: 2, 1: 1, more: 0
        ({"escalation_count_90_days": 0}, "escalation_count_90_days", 2),
        ({"escalation_count_90_days": 1}, "escalation_count_90_days", 1),
        ({"escalation_count_90_days": 2}, "escalation_count_90_days", 0),
        ({"escalation_count_90_days": 9}, "escalation_count_90_days", 0),
    ],
)
def test_every_table_row(changes, group, points):
    result = score(with_(**changes))
    assert result.breakdown[group] == pytest.approx(points)
    # The total is the sum of the groups: only this group moved from 100.
    assert result.score == pytest.approx(100 - engine.BASE_MAX[group] + points)


def test_missing_optional_inputs_count_as_none_and_earn_the_neutral_points():
    inputs = {k: v for k, v in PERFECT.items() if k not in engine.INPUT_SPEC or engine.INPUT_SPEC[k][1]}
    result = score(inputs)
    assert result.breakdown["login_frequency_days"] == 5
    assert result.breakdown["days_since_last_interaction"] == 5
    assert result.breakdown["days_to_renewal"] == 7
    assert result.breakdown["nps_score"] == 2
    assert result.inputs["tam_health_rag"] is None
    assert result.score == 100 - 5 - 5 - 3 - 1


@pytest.mark.parametrize(("tam", "expected"), [(None, 80.0), ("GREEN", 80.0), ("AMBER", 76.0), ("RED", 68.0)])
def test_tam_rating_caps_the_score(tam, expected):
    # 80 raw: adoption 0 takes 20 points away.
    result = score(with_(feature_adoption_rate=0.0, tam_health_rag=tam))
    assert result.score == pytest.approx(expected)


def test_tam_red_can_move_an_account_out_of_green():
    assert score(with_(feature_adoption_rate=0.0)).rag == "GREEN"
    assert score(with_(feature_adoption_rate=0.0, tam_health_rag="RED")).rag == "AMBER"


def test_worst_account_clamps_at_zero_and_never_goes_negative():
    worst = with_(
        feature_adoption_rate=0.0,
        usage_trend="inactive",
        login_frequency_days=400,
        days_since_last_interaction=400,
        stakeholder_engagement="low",
        nps_score=0,
        invoice_payment_status="overdue_90_plus",
        days_to_renewal=-5,
        seats_utilization_rate=0.0,
        open_ticket_count=50,
        avg_ticket_sentiment="critical",
        escalation_count_90_days=20,
        tam_health_rag="RED",
    )
    result = score(worst)
    # 1 (renewal) + 1 (seats) + 1 (engagement) = 3, x 0.85
    assert result.score == pytest.approx(2.55)
    assert result.rag == "RED"


def test_weights_above_the_total_are_clamped_to_100():
    heavy = Profile(weights={**engine.BASE_MAX, "feature_adoption_rate": 60})
    assert score(PERFECT, heavy).score == 100


@pytest.mark.parametrize(
    ("value", "rag"),
    [(100, "GREEN"), (70.0, "GREEN"), (69.99, "AMBER"), (40.0, "AMBER"), (39.99, "RED"), (0, "RED")],
)
def test_rag_edges(value, rag):
    assert engine.rag_for(value) == rag


def test_a_score_of_exactly_70_is_green_despite_float_sums():
    # 0.35 * 20 is 7.000000000000001 in floats; the score must be 70 and GREEN.
    result = score(
        with_(
            feature_adoption_rate=0.35,  # 7
            usage_trend="stable",  # 10 (-5)
            stakeholder_engagement="low",  # 1 (-4)
            nps_score=None,  # 2 (-1)
            invoice_payment_status="overdue_30",  # 6 (-4)
            escalation_count_90_days=1,  # 1 (-1)
            seats_utilization_rate=0.5,  # 3 (-2)
        )
    )
    assert result.score == 70.0
    assert result.rag == "GREEN"


# churn: (rag-producing inputs, days_to_renewal, usage/login) -> level, trigger
AMBER_INPUTS = dict(
    feature_adoption_rate=0.0, usage_trend="stable", stakeholder_engagement="low", nps_score=0
)
RED_INPUTS = dict(
    feature_adoption_rate=0.0,
    usage_trend="stable",
    stakeholder_engagement="low",
    nps_score=0,
    invoice_payment_status="overdue_90_plus",
    avg_ticket_sentiment="critical",
    login_frequency_days=100,
    days_since_last_interaction=100,
)


@pytest.mark.parametrize(
    ("base", "changes", "rag", "level", "trigger"),
    [
        # none
        ({}, {}, "GREEN", "low", None),
        (AMBER_INPUTS, {}, "AMBER", "medium", None),
        (RED_INPUTS, {}, "RED", "medium", None),
        # contract proximity only (RED/AMBER with renewal inside 60 days)
        (AMBER_INPUTS, {"days_to_renewal": 60}, "AMBER", "high", "contract_proximity"),
        (RED_INPUTS, {"days_to_renewal": 10}, "RED", "critical", "contract_proximity"),
        (AMBER_INPUTS, {"days_to_renewal": -3}, "AMBER", "high", "contract_proximity"),
        # GREEN near renewal is not a contract risk; unknown renewal never is
        ({}, {"days_to_renewal": 10}, "GREEN", "low", None),
        (AMBER_INPUTS, {"days_to_renewal": 61}, "AMBER", "medium", None),
        (AMBER_INPUTS, {"days_to_renewal": None}, "AMBER", "medium", None),
        # behavioural only: declining/inactive and no login for > 30 days (or unknown)
        ({}, {"usage_trend": "declining", "login_frequency_days": 31}, "GREEN", "medium", "behavioral"),
        ({}, {"usage_trend": "inactive", "login_frequency_days": None}, "GREEN", "medium", "behavioral"),
        ({}, {"usage_trend": "declining", "login_frequency_days": 30}, "GREEN", "low", None),
        (
            AMBER_INPUTS,
            {"usage_trend": "declining", "login_frequency_days": 45},
            "AMBER",
            "high",
            "behavioral",
        ),
        (RED_INPUTS, {"usage_trend": "inactive"}, "RED", "high", "behavioral"),
        # both
        (
            AMBER_INPUTS,
            {"usage_trend": "declining", "login_frequency_days": 45, "days_to_renewal": 20},
            "AMBER",
            "critical",
            "both",
        ),
        (RED_INPUTS, {"usage_trend": "inactive", "days_to_renewal": 5}, "RED", "critical", "both"),
    ],
)
def test_churn_table(base, changes, rag, level, trigger):
    result = score(with_(**{**base, **changes}))
    assert result.rag == rag, result.score
    assert (result.churn_risk, result.churn_trigger) == (level, trigger)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"feature_adoption_rate": 1.01}, "feature_adoption_rate"),
        ({"feature_adoption_rate": -0.1}, "feature_adoption_rate"),
        ({"feature_adoption_rate": "0.5"}, "feature_adoption_rate"),
        ({"feature_adoption_rate": float("nan")}, "feature_adoption_rate"),
        ({"usage_trend": "exploding"}, "usage_trend"),
        ({"login_frequency_days": -1}, "login_frequency_days"),
        ({"login_frequency_days": 2.5}, "login_frequency_days"),
        ({"days_since_last_interaction": -4}, "days_since_last_interaction"),
        ({"stakeholder_engagement": "HIGH"}, "stakeholder_engagement"),
        ({"nps_score": 11}, "nps_score"),
        ({"nps_score": -1}, "nps_score"),
        ({"invoice_payment_status": "late"}, "invoice_payment_status"),
        ({"days_to_renewal": "soon"}, "days_to_renewal"),
        ({"seats_utilization_rate": 2.01}, "seats_utilization_rate"),
        ({"seats_utilization_rate": -0.5}, "seats_utilization_rate"),
        ({"open_ticket_count": -1}, "open_ticket_count"),
        ({"open_ticket_count": True}, "open_ticket_count"),
        ({"avg_ticket_sentiment": "angry"}, "avg_ticket_sentiment"),
        ({"escalation_count_90_days": -2}, "escalation_count_90_days"),
        ({"tam_health_rag": "green"}, "tam_health_rag"),
        ({"mood": "good"}, "mood"),
    ],
)
def test_invalid_inputs_raise_value_error_naming_the_input(changes, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        score(with_(**changes))


@pytest.mark.parametrize("name", engine.REQUIRED_INPUTS)
def test_missing_or_none_required_input_is_rejected(name):
    inputs = dict(PERFECT)
    del inputs[name]
    with pytest.raises(ValueError, match=f"^{name}: required"):
        score(inputs)
    with pytest.raises(ValueError, match=f"^{name}: required"):
        score(with_(**{name: None}))


@pytest.mark.parametrize("bad", [[], ["usage_trend"], "usage_trend", 3, None])
def test_inputs_that_are_not_an_object_are_rejected(bad):
    with pytest.raises(ValueError, match=r"^inputs must be an object"):
        score(bad)


def test_same_inputs_always_give_the_same_result():
    inputs = with_(feature_adoption_rate=0.37, usage_trend="declining", nps_score=6, days_to_renewal=45)
    assert score(inputs) == score(dict(inputs))


def test_health_of_validated_inputs_is_what_score_gives_under_any_profile():
    rng = random.Random(5)
    profiles = [
        DEFAULT_PROFILE,
        Profile(version=3, green_threshold=85, amber_threshold=60, churn_window_days=120),
        Profile(weights={**engine.BASE_MAX, "usage_trend": 30, "support": 0}),
    ]
    choices = {
        "usage_trend": sorted(engine.USAGE_TRENDS),
        "stakeholder_engagement": sorted(engine.ENGAGEMENT_LEVELS),
        "invoice_payment_status": sorted(engine.PAYMENT_STATUSES),
        "avg_ticket_sentiment": sorted(engine.SENTIMENTS),
        "tam_health_rag": [None, *sorted(engine.RAGS)],
    }
    for _ in range(300):
        inputs = with_(
            **{name: rng.choice(values) for name, values in choices.items()},
            feature_adoption_rate=rng.random(),
            login_frequency_days=rng.choice([None, rng.randint(0, 120)]),
            days_since_last_interaction=rng.choice([None, rng.randint(0, 120)]),
            nps_score=rng.choice([None, rng.randint(0, 10)]),
            days_to_renewal=rng.randint(-30, 400),
            seats_utilization_rate=rng.random() * 1.3,
            open_ticket_count=rng.randint(0, 12),
            escalation_count_90_days=rng.randint(0, 5),
        )
        clean = engine.validate_inputs(inputs)
        for profile in profiles:
            full = score(inputs, profile)
            assert engine.health(clean, profile) == (full.score, full.rag, full.churn_risk)


def test_weights_rescale_a_group_and_zero_switches_it_off():
    doubled = Profile(weights={**engine.BASE_MAX, "usage_trend": 30, "feature_adoption_rate": 0})
    result = score(with_(usage_trend="stable"), doubled)
    assert result.breakdown["usage_trend"] == 20  # 10 of 15 -> 20 of 30
    assert result.breakdown["feature_adoption_rate"] == 0


def test_profile_thresholds_and_churn_window_are_used():
    strict = Profile(version=7, green_threshold=95, amber_threshold=80, churn_window_days=120)
    result = score(with_(nps_score=7, days_to_renewal=100), strict)  # 99 - 2 = 97 -> still green
    assert result.rag == "GREEN" and result.profile_version == 7
    result = score(with_(feature_adoption_rate=0.5, days_to_renewal=100), strict)  # 90 - 2 -> AMBER
    assert result.rag == "AMBER"
    assert (result.churn_risk, result.churn_trigger) == ("high", "contract_proximity")


@pytest.mark.parametrize(
    "bad",
    [
        {"weights": {**engine.BASE_MAX, "usage_trend": -1}},
        {"weights": {"usage_trend": 15}},
        {"green_threshold": 30, "amber_threshold": 40},
        {"green_threshold": 120},
        {"churn_window_days": -1},
        {"tam_multipliers": {"GREEN": 1.0, "AMBER": 1.5, "RED": 0.5}},
        {"rules": {**engine.DEFAULT_RULES, "usage_trend": {"growing": 15}}},
        {"no_data_defaults": {**engine.DEFAULT_NO_DATA, "usage_trend": "soaring"}},
    ],
)
def test_unusable_profiles_are_rejected(bad):
    with pytest.raises(ValueError):
        Profile(**bad)


def test_profile_round_trips_through_its_dict_form():
    assert Profile(**DEFAULT_PROFILE.as_dict()) == DEFAULT_PROFILE


def test_movement_lists_the_groups_that_moved_biggest_first():
    before = score(PERFECT).breakdown
    after = score(with_(usage_trend="declining", nps_score=8)).breakdown
    assert engine.movement(before, after) == [("usage_trend", -12), ("nps_score", -1)]


def test_scoring_module_imports_nothing_from_django():
    tree = ast.parse(pathlib.Path(engine.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(name.split(".")[0] == "django" for name in imported), imported


ODD_VALUES = [None, True, False, 0, 1, -1, 11, 2, 0.5, 1.5, 2.5, -0.1, float("nan"), float("inf"), "1",
              "GREEN", "declining", "paid", [], 10**20, 3.0]  # fmt: skip


@pytest.mark.parametrize("name", engine.INPUT_NAMES)
def test_the_scans_inline_checks_agree_with_validate_input_for_odd_values(name):
    for value in ODD_VALUES:
        try:
            expected = ("ok", engine.validate_input(name, value))
        except ValueError as exc:
            expected = ("error", str(exc))
        if value is None and engine.INPUT_SPEC[name][1]:
            expected = ("error", f"{name}: required input is missing")
        try:
            got = ("ok", engine.validate_inputs(with_(**{name: value}))[name])
        except ValueError as exc:
            got = ("error", str(exc))
        assert got == expected, (value, got, expected)


def test_the_documented_interface_imports_from_the_package_without_django():
    code = (
        "import sys; from csm.scoring import score, DEFAULT_PROFILE; "
        "r = score({'feature_adoption_rate': 1.0, 'usage_trend': 'growing', "
        "'stakeholder_engagement': 'high', "
        "'invoice_payment_status': 'current', 'seats_utilization_rate': 0.9, 'open_ticket_count': 0, "
        "'avg_ticket_sentiment': 'positive', 'escalation_count_90_days': 0}, "
        "profile=DEFAULT_PROFILE); "
        "assert r.rag == 'GREEN', r; assert 'django' not in sys.modules, 'the engine pulled in Django'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).parents[3])
