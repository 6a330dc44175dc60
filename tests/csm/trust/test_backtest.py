import json
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from csm.demo.history import lay_down_history
from csm.models import HealthScore, RenewalOutcome, ScoringProfile
from csm.scoring import engine
from csm.scoring.profiles import publish_version
from csm.trust import backtest as backtest_module
from csm.trust.backtest import (
    MIN_OUTCOMES,
    Case,
    backtest,
    calibration,
    confusion,
    evaluate,
    rescore,
    roc_auc,
    roc_curve,
)

TODAY = date(2026, 11, 30)


# --- metrics, against hand-computed cases ---------------------------------------


def test_auc_is_one_for_a_perfect_score_and_zero_for_a_reversed_one():
    risk = [0.9, 0.8, 0.3, 0.1]
    churned = [True, True, False, False]
    assert roc_auc(risk, churned) == 1.0
    assert roc_auc([-r for r in risk], churned) == 0.0


def test_auc_of_the_textbook_example():
    # The example from scikit-learn's roc_auc_score documentation: 0.75.
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75


def test_ties_count_half():
    assert roc_auc([1, 1, 1, 1], [True, False, True, False]) == 0.5
    # The churned account ties one retained one and beats the other: (0.5 + 1) / 2.
    assert roc_auc([0.5, 0.5, 0.2], [True, False, False]) == 0.75


def test_auc_needs_both_classes():
    assert roc_auc([0.2, 0.3], [True, True]) is None
    assert roc_curve([0.2, 0.3], [False, False]) == []


def test_roc_curve_steps_through_each_threshold():
    points = roc_curve([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    assert points == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    tied = roc_curve([1, 1, 0], [True, False, False])
    assert tied == [(0.0, 0.0), (0.5, 1.0), (1.0, 1.0)]  # a tie moves both rates at once


def test_precision_and_recall():
    c = confusion([True, True, True, False, False], [True, True, False, True, False])
    assert (c.true_positive, c.false_positive, c.false_negative, c.true_negative) == (2, 1, 1, 1)
    assert c.precision == 2 / 3 and c.recall == 2 / 3
    assert confusion([False, False], [True, False]).precision is None


def test_calibration_by_score_band():
    rows = calibration([10, 15, 30, 90, 95, 100], [True, True, False, False, True, False])
    by_band = {r["band"]: r for r in rows}
    assert by_band["0-20"] == {"band": "0-20", "accounts": 2, "churned": 2, "churn_rate": 1.0}
    assert by_band["20-40"]["churn_rate"] == 0.0
    assert by_band["40-60"]["churn_rate"] is None
    assert by_band["80-100"]["accounts"] == 3 and by_band["80-100"]["churned"] == 1


def _case(score, churned, *, warned_days=None, lost=1000):
    renewal = TODAY
    return Case(
        account_id=1,
        renewal_date=renewal,
        outcome="churned" if churned else "renewed",
        arr_lost=Decimal(lost if churned else 0),
        score=score,
        rag="RED" if score < 40 else "AMBER" if score < 70 else "GREEN",
        churn_risk="high" if score < 40 else "low",
        first_warning=renewal - timedelta(days=warned_days) if warned_days is not None else None,
    )


def test_too_few_outcomes_claim_nothing():
    cases = [_case(20, True), _case(80, False)] * 5
    report = evaluate(cases, horizon=90, source="stored scores")
    assert not report.sufficient and report.auc is None and report.high_risk is None
    assert "Too few outcomes" in report.why_not and str(MIN_OUTCOMES) in report.why_not


def test_lead_time_and_churned_arr_flagged_in_time():
    cases = (
        [_case(20, True, warned_days=120, lost=500)] * 10
        + [_case(30, True, warned_days=30, lost=200)] * 5  # warned, but too late for the horizon
        + [_case(75, True, lost=100)] * 5  # never warned
        + [_case(85, False)] * 20
    )
    report = evaluate(cases, horizon=90, source="stored scores")
    assert report.sufficient
    assert report.churned == 20 and report.retained == 20
    assert report.warned == 15 and report.median_lead_days == 120
    assert report.churned_arr == Decimal(10 * 500 + 5 * 200 + 5 * 100)
    assert report.churned_arr_flagged == Decimal(5000)
    assert report.high_risk.recall == 15 / 20 and report.high_risk.precision == 1.0
    assert report.auc == 1.0


# --- against the database --------------------------------------------------------


@pytest.fixture
def history(make_account):
    rng = random.Random(3)
    accounts = [
        make_account(
            today=TODAY,
            renewal_date=TODAY + timedelta(days=rng.randint(10, 200)),
            arr=Decimal(rng.randint(5, 50) * 1000),
        )
        for _ in range(60)
    ]
    # 450 days: every as-of day (a year before renewal, minus 90 days) falls inside the history.
    return lay_down_history(accounts, days=450, today=TODAY, seed=11)


@pytest.mark.django_db
def test_stored_history_separates_churned_from_retained(history):
    assert history.outcomes == 60 and history.scores > 60 * 100
    assert RenewalOutcome.objects.filter(synthetic=True).count() == 60
    report = backtest(horizon=90, until=TODAY)
    assert report.sufficient, report.why_not
    assert report.synthetic == 60
    assert report.scored == report.outcomes == 60
    # The generator makes churn foreseeable, not certain: chance would give 0.5.
    assert report.auc > 0.65
    assert report.churned_arr >= report.churned_arr_flagged > 0


@pytest.mark.django_db
def test_rescoring_with_another_version_gives_exactly_what_scoring_the_inputs_gives(history):
    default = ScoringProfile.objects.get(segment="", is_active=True)
    strict = ScoringProfile.objects.get(pk=default.pk)
    strict.pk, strict.green_threshold, strict.amber_threshold = None, 85.0, 60.0
    publish_version(strict)
    old = ScoringProfile.objects.get(pk=default.pk)

    # Inputs are `json` on PostgreSQL, which has no `=`: the rows that have them are picked here.
    stored = [row for row in HealthScore.objects.order_by("?")[:200] if row.inputs][:25]
    assert len(stored) == 25
    for row in stored:
        expected = engine.score(row.inputs, strict.to_profile())
        assert rescore(row.inputs, strict.to_profile()) == (expected.score, expected.rag, expected.churn_risk)
        # And the old version re-scores to exactly what was stored with it.
        assert rescore(row.inputs, old.to_profile()) == (row.score, row.rag, row.churn_risk)

    by_old = backtest(horizon=90, profile=old, step=1, until=TODAY)
    by_stored = backtest(horizon=90, until=TODAY)
    assert by_old.as_dict() | {"source": ""} == by_stored.as_dict() | {"source": ""}
    by_strict = backtest(horizon=90, profile=strict, step=1, until=TODAY)
    assert (
        by_strict.red.true_positive + by_strict.red.false_positive
        > by_old.red.true_positive + by_old.red.false_positive
    )


@pytest.mark.django_db
def test_the_command_prints_the_figures(history, capsys):
    call_command("backtest_profile", "--horizon", "60")
    out = capsys.readouterr().out
    assert "60 outcomes" in out and "ROC AUC" in out and "(60 synthetic, from the demo)" in out
    call_command("backtest_profile", "--json")
    assert '"sufficient": true' in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize("ids_per_query", [1, 500])
def test_each_case_reads_its_latest_day_inside_its_own_window(make_account, monkeypatch, ids_per_query):
    """Cases in queries of any size: overlapping windows of one account each
    get their own latest day; a day past the tolerance or after the as-of day is never read."""
    monkeypatch.setattr(backtest_module, "AS_OF_IDS", ids_per_query)
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    first, second, gone = make_account(), make_account(), make_account()
    as_of = TODAY - timedelta(days=90)

    def day(account, offset, score):
        HealthScore.objects.create(
            account=account, scored_on=as_of + timedelta(days=offset), score=score, rag="AMBER",
            churn_risk="medium", breakdown={}, inputs={}, profile=profile, profile_version=profile.version,
            computed_at=timezone.now(),
        )  # fmt: skip

    for offset, score in ((-10, 10), (-5, 40), (-1, 50), (2, 60), (9, 70)):
        day(first, offset, score)
    day(second, -3, 35)
    day(gone, -8, 20)  # one day too old for the 7 days of tolerance
    cases = [
        Case(first.pk, TODAY, "renewed", Decimal(0)),
        Case(first.pk, TODAY + timedelta(days=3), "churned", Decimal(0)),
        Case(second.pk, TODAY, "renewed", Decimal(0)),
        Case(gone.pk, TODAY, "churned", Decimal(0)),
    ]
    backtest_module._set_as_of(cases, tuple, horizon=90, tolerance=7, fields=["score", "rag", "churn_risk"])
    assert [c.score for c in cases] == [50, 60, 35, None]


@pytest.mark.django_db
def test_a_stored_day_no_version_can_score_is_left_out_of_every_version(make_account, monkeypatch):
    """The re-scored versions share each row's parsing and validation: a day whose stored inputs
    fail it is unjudged in all of them, and a churned account's first warning is the next
    day that can be scored."""
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    lenient, strict = profile.to_profile(), engine.Profile(green_threshold=80, amber_threshold=55)
    healthy = {
        "feature_adoption_rate": 0.9, "usage_trend": "growing", "login_frequency_days": 1,
        "days_since_last_interaction": 5, "stakeholder_engagement": "high", "nps_score": 9,
        "invoice_payment_status": "current", "days_to_renewal": 200, "seats_utilization_rate": 0.9,
        "open_ticket_count": 0, "avg_ticket_sentiment": "positive", "escalation_count_90_days": 0,
    }  # fmt: skip
    failing = {**healthy, "usage_trend": "inactive", "login_frequency_days": 90, "nps_score": 0,
               "invoice_payment_status": "overdue_90_plus", "stakeholder_engagement": "low",
               "feature_adoption_rate": 0.1, "avg_ticket_sentiment": "critical", "open_ticket_count": 6,
               "days_since_last_interaction": 120, "escalation_count_90_days": 3}  # fmt: skip
    for version in (lenient, strict):
        assert engine.score(failing, version).rag == "RED" and engine.score(healthy, version).rag == "GREEN"
    unreadable = {**failing, "nps_score": "ten"}
    bad_as_of, churned = make_account(), make_account()
    renewal = TODAY
    as_of = renewal - timedelta(days=90)

    def day(account, on, inputs):
        HealthScore.objects.create(
            account=account, scored_on=on, score=50, rag="AMBER", churn_risk="medium", breakdown={},
            inputs=inputs, profile=profile, profile_version=profile.version, computed_at=timezone.now(),
        )  # fmt: skip

    day(bad_as_of, as_of - timedelta(days=3), healthy)
    day(bad_as_of, as_of, unreadable)  # the latest day in the window: it is the one judged
    day(churned, as_of, healthy)
    first_red = renewal - timedelta(days=60)
    day(churned, first_red - timedelta(days=7), unreadable)  # RED-looking, but unreadable: not a warning
    day(churned, first_red, failing)
    RenewalOutcome.objects.create(
        account=bad_as_of, renewal_date=renewal, outcome="renewed", arr_before=1000, arr_after=1000
    )
    RenewalOutcome.objects.create(
        account=churned, renewal_date=renewal, outcome="churned", arr_before=1000, arr_after=0
    )

    monkeypatch.setattr(backtest_module, "MIN_OUTCOMES", 1)  # two cases: report their figures anyway
    monkeypatch.setattr(backtest_module, "MIN_PER_CLASS", 0)
    reports = backtest_module.backtests([(lenient, "now"), (strict, "strict")], step=1, until=TODAY)
    for report in reports:
        assert report.outcomes == 2 and report.scored == 1  # the unreadable as-of day: unjudged
        assert report.warned == 1 and report.lead_days == [60]
    with pytest.raises(ValueError, match="nps_score"):
        rescore(unreadable, lenient)


def test_stored_inputs_read_from_their_text_as_from_the_dict():
    typed = {
        "feature_adoption_rate": 0.6, "usage_trend": "stable", "login_frequency_days": 12,
        "stakeholder_engagement": "medium", "invoice_payment_status": "current",
        "seats_utilization_rate": 0.7, "open_ticket_count": 2, "avg_ticket_sentiment": "neutral",
        "escalation_count_90_days": 0,
    }  # fmt: skip
    clean = engine.validate_inputs(typed)
    text = json.dumps(clean)
    assert backtest_module.validated_inputs(text) == clean
    # orjson reads an integer past 64 bits as a float: the day is read as json reads it.
    huge = json.dumps({**clean, "open_ticket_count": 2**70})
    assert backtest_module.validated_inputs(huge)["open_ticket_count"] == 2**70
    as_many = {**clean, "open_ticket_count": 99}  # either way the most the tickets can cost
    assert rescore(huge, engine.DEFAULT_PROFILE) == rescore(as_many, engine.DEFAULT_PROFILE)
    nested = "[" * 100_000 + "]" * 100_000  # json itself would raise RecursionError
    for broken in ("{", "[1, 2]", "NaN", '{"nps_score": NaN}', nested):
        with pytest.raises(ValueError):
            backtest_module.validated_inputs(broken)
    assert backtest_module.stored_inputs([nested]) is None  # the day is left out, the run goes on
