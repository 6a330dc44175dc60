"""Synthetic daily history and renewal outcomes, for the demo book and the tests.

Each account gets a hidden "propensity to churn". Its inputs drift slowly
around a health level that sinks, for the accounts that will churn, in the
months before their renewal; every day's inputs are scored with the profile
that scores the account, so the stored history can be re-scored with any
other version. Outcomes follow the propensity with some noise, as real life
does. Everything written here is marked synthetic.

The history ends where the account is: over its last ANCHOR_DAYS the inputs
move from the synthetic ones to the account's own (its signals and facts as
the scan will read them today), each input changing once rather than
flickering, and a last login months ago is months ago on every day since. So
yesterday's stored score is what today's scan computes, give or take a day's
drift, and the first real scan moves about as many accounts as a synthetic
day does (tests/csm/demo/test_history_realism.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from agents_core.bulk import update_rows, upsert_rows
from csm.models import Account, AccountSignals, HealthScore, RenewalOutcome
from csm.scoring import engine
from csm.scoring.explanations import explain_score
from csm.scoring.inputs import ACCOUNT_FIELDS, DATED_SIGNALS, SIGNAL_FIELDS, derive_inputs
from csm.scoring.profiles import load_active_profiles

BATCH = 5_000
# Days over which an account's history turns into its own current inputs.
ANCHOR_DAYS = 90
# The day-to-day wobble of health: a slow random walk, not fresh noise each day.
DRIFT_KEEP, DRIFT_STEP = 0.92, 0.015
_NUMERIC = {name for name, (kind, _req, _r) in engine.INPUT_SPEC.items() if kind in ("int", "float")}


def synthetic_inputs(health: float, *, days_to_renewal: int) -> dict:
    """Plausible inputs for an account at `health` (0 worst, 1 best)."""
    h = min(1.0, max(0.0, health))
    return {
        "feature_adoption_rate": round(min(1.0, max(0.0, h * 0.9 + 0.05)), 3),
        "usage_trend": "growing"
        if h > 0.78
        else "stable"
        if h > 0.5
        else "declining"
        if h > 0.25
        else "inactive",
        "login_frequency_days": int(1 + (1 - h) * 50),
        "days_since_last_interaction": int(2 + (1 - h) * 90),
        "stakeholder_engagement": "high" if h > 0.7 else "medium" if h > 0.4 else "low",
        "nps_score": round(h * 10),
        "invoice_payment_status": "current" if h > 0.35 else "overdue_30" if h > 0.2 else "overdue_60",
        "days_to_renewal": days_to_renewal,
        "seats_utilization_rate": round(0.4 + h * 0.6, 2),
        "open_ticket_count": int((1 - h) * 6),
        "avg_ticket_sentiment": "positive" if h > 0.75 else "neutral" if h > 0.45 else "negative",
        "escalation_count_90_days": int((1 - h) * 3),
        "tam_health_rag": None,
    }


@dataclass
class HistoryReport:
    accounts: int
    scores: int
    outcomes: int


def _own_inputs(accounts: list[Account], today: date, profiles) -> dict[int, dict]:
    """Each account's inputs as today's scan will score them (one query for the signals)."""
    signals = {
        row[0]: dict(zip(SIGNAL_FIELDS, row[1:], strict=True))
        for row in AccountSignals.objects.filter(account__in=[a.pk for a in accounts]).values_list(
            "account_id", *SIGNAL_FIELDS
        )
    }
    own = {}
    for account in accounts:
        facts = {name: getattr(account, name) for name in ACCOUNT_FIELDS}
        theirs = signals.get(account.pk, {})
        if account.tracked_adoption_rate is not None:
            theirs = {**theirs, "feature_adoption_rate": account.tracked_adoption_rate}
        profile = profiles.for_segment(account.segment)[1]
        try:
            inputs, _defaulted = derive_inputs(facts, theirs, today, profile.no_data_defaults)
            engine.score(inputs, profile)
        except ValueError:
            continue  # the scan cannot score it either: its history stays synthetic
        own[account.pk] = inputs
    return own


def blend(synthetic: dict, own: dict | None, *, weight: float, back: int, switch: dict[str, float]) -> dict:
    """The inputs `back` days ago: the synthetic ones, turned into the account's own by `weight` (0 to 1).

    Numbers move in a straight line; a choice takes the account's own value
    once `weight` passes its switch point, so it changes once, as in life.
    Dated inputs keep their event: last seen 60 days before today is 60 - back
    days before the day `back` days ago (when that day came after it).
    """
    if own is None:
        return synthetic
    inputs = dict(synthetic)
    for name, value in own.items():
        if name == "days_to_renewal":
            continue
        if name in DATED_SIGNALS:  # a fact about a day, whatever else was going on
            if value is not None and value >= back:
                inputs[name] = value - back
            elif value is not None and synthetic.get(name) is not None and weight > 0:
                inputs[name] = min(synthetic[name], max(0, value))
            continue
        if weight <= 0:
            continue
        if name in _NUMERIC and value is not None and synthetic.get(name) is not None:
            mixed = synthetic[name] + (value - synthetic[name]) * weight
            inputs[name] = round(mixed) if isinstance(value, int) else round(mixed, 3)
        elif weight >= switch.get(name, 0.5):
            inputs[name] = value
    return inputs


def lay_down_history(
    accounts: list[Account], *, days: int, today: date | None = None, seed: int = 7
) -> HistoryReport:
    """`days` of daily scores before today for `accounts`, and an outcome for each renewal in that time.

    Each account's last renewal is taken as a year before its current
    renewal date; where that falls inside the history, its outcome is
    recorded (renewed, downgraded or churned) and the history before it
    shows the slide of the accounts that churned; those end there, and are
    marked churned.
    """
    today = today or timezone.localdate()
    rng = random.Random(seed)
    profiles = load_active_profiles()
    now = timezone.now()
    start = today - timedelta(days=days)
    fields = [
        "account", "scored_on", "score", "rag", "churn_risk", "churn_trigger", "breakdown", "inputs",
        "defaulted_inputs", "profile", "profile_version", "computed_at", "explanation",
    ]  # fmt: skip
    rows, outcomes, lost, current, written = [], [], [], [], 0
    own_inputs = _own_inputs(accounts, today, profiles)
    for account in accounts:
        own = own_inputs.get(account.pk)
        switch = {name: rng.uniform(0.15, 0.95) for name in engine.INPUT_NAMES}
        drift = 0.0
        profile_pk, profile = profiles.for_segment(account.segment)
        renewal = account.renewal_date or (today + timedelta(days=rng.randint(30, 330)))
        last_renewal = renewal - timedelta(days=365)
        propensity = rng.betavariate(1.6, 4.0)  # most accounts are fine; a few are not
        churns = last_renewal >= start and rng.random() < propensity * 0.6
        # As in life, the signals do not tell everything: some leave without warning,
        # and some slide and still renew.
        slides = rng.random() < 0.75 if churns else rng.random() < propensity * 0.4
        base = 0.85 - propensity * 0.5 + rng.uniform(-0.1, 0.1)
        previous = None
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            if churns and day > last_renewal:
                break  # a lost customer is not scored after it leaves
            next_renewal = last_renewal if day <= last_renewal else renewal
            to_go = (next_renewal - day).days
            drift = drift * DRIFT_KEEP + rng.gauss(0, DRIFT_STEP)
            health = base + drift
            if slides and day <= last_renewal:
                health -= max(0.0, (150 - to_go) / 150) * 0.6  # the slide before the renewal
            synthetic = synthetic_inputs(health, days_to_renewal=to_go)
            weight = max(0.0, 1 - (back - 1) / ANCHOR_DAYS) if day > last_renewal else 0.0
            result = engine.score(blend(synthetic, own, weight=weight, back=back, switch=switch), profile)
            rows.append(
                (
                    account.pk, day, result.score, result.rag, result.churn_risk, result.churn_trigger or "",
                    dict(result.breakdown), dict(result.inputs), [], profile_pk, result.profile_version, now,
                    explain_score(
                        result.breakdown, profile.weights, score=result.score, rag=result.rag,
                        previous_score=previous[0] if previous else None,
                        previous_rag=previous[1] if previous else None,
                    ),
                )
            )  # fmt: skip
            previous = (result.score, result.rag, result.churn_risk, result.churn_trigger or "", day)
        if previous and not (churns and last_renewal >= start):
            # Yesterday's health is the account's current one, so today's scan compares with it.
            score, rag, risk, trigger, _day = previous
            current.append((score, rag, risk, trigger, now, account.pk))
        if last_renewal >= start:
            arr = account.arr or Decimal("10000")
            if churns:
                outcome, kept = RenewalOutcome.Outcome.CHURNED, Decimal("0")
                lost.append(account.pk)
            elif rng.random() < propensity * 0.5:
                outcome, kept = (
                    RenewalOutcome.Outcome.DOWNGRADED,
                    (arr * Decimal("0.7")).quantize(Decimal("1")),
                )
            else:
                outcome, kept = RenewalOutcome.Outcome.RENEWED, arr
            outcomes.append(
                RenewalOutcome(
                    account=account,
                    renewal_date=last_renewal,
                    outcome=outcome,
                    arr_before=arr,
                    arr_after=kept,
                    source=RenewalOutcome.Source.DEMO,
                    synthetic=True,
                )
            )
        if len(rows) >= BATCH:
            written += _write(fields, rows)
            rows = []
    written += _write(fields, rows)
    RenewalOutcome.objects.bulk_create(outcomes, ignore_conflicts=True)
    Account.objects.filter(pk__in=lost).update(status=Account.Status.CHURNED)
    with transaction.atomic():
        update_rows(Account, ["health_score", "rag", "churn_risk", "churn_trigger", "scored_at"], current)
    return HistoryReport(accounts=len(accounts), scores=written, outcomes=len(outcomes))


def _write(fields: list[str], rows: list[tuple]) -> int:
    if rows:
        with transaction.atomic():
            upsert_rows(HealthScore, fields, rows, conflict=["account", "scored_on"], update=fields[2:])
    return len(rows)
