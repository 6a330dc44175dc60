"""The demo behaves like a book: its synthetic history ends where each account is, so the first
real scan moves about as many accounts as a synthetic day did (it used to drop 39% of them 15+
points at once, and raise an alert on 162 of 407)."""

from __future__ import annotations

from datetime import timedelta
from statistics import mean

import pytest
from django.core.management import call_command
from django.utils import timezone

from csm.models import ChurnAlert, HealthScore
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db

DROP = 15  # the default profile's alert_drop_points


def day_over_day(scores: dict[int, dict], day) -> tuple[float, float]:
    """(share of accounts that fell DROP points or more since the day before, mean absolute move)."""
    before = day - timedelta(days=1)
    pairs = [(s[before], s[day]) for s in scores.values() if before in s and day in s]
    assert len(pairs) > 100
    return sum(p - c >= DROP for p, c in pairs) / len(pairs), mean(abs(c - p) for p, c in pairs)


def test_the_first_real_scan_moves_the_book_like_a_synthetic_day():
    today = timezone.localdate()
    call_command("seed_demo", accounts=240, history_days=120, seed=42, verbosity=0)
    result = scan_health(today=today)
    scores: dict[int, dict] = {}
    for account_id, day, score in HealthScore.objects.filter(
        scored_on__gte=today - timedelta(days=31)
    ).values_list("account_id", "scored_on", "score"):
        scores.setdefault(account_id, {})[day] = score
    synthetic = [day_over_day(scores, today - timedelta(days=back)) for back in range(1, 29)]
    typical_drops = mean(share for share, _ in synthetic)
    typical_move = mean(move for _, move in synthetic)
    first_drops, first_move = day_over_day(scores, today)
    assert first_drops <= 2 * typical_drops + 0.01, (first_drops, typical_drops)
    assert first_move <= 2 * typical_move + 0.5, (first_move, typical_move)
    raised = ChurnAlert.objects.filter(raised_on=today).count()
    assert raised == result["alerts"]["raised"] and raised <= 0.02 * result["scored"] + 2


def test_a_long_gone_login_is_in_the_history_of_every_day_since():
    """Echo Insurance sat GREEN for 180 days with a last login months ago, then fell 42 points."""
    from csm.models import AccountSignals

    today = timezone.localdate()
    call_command("seed_demo", accounts=60, history_days=120, seed=7, verbosity=0)
    signals = (
        AccountSignals.objects.filter(last_login_on__lte=today - timedelta(days=20))
        .select_related("account")
        .first()
    )
    assert signals is not None
    days_ago = (today - signals.last_login_on).days
    history = dict(
        HealthScore.objects.filter(account=signals.account, scored_on__gte=signals.last_login_on).values_list(
            "scored_on", "inputs"
        )
    )
    for day, inputs in history.items():
        assert inputs["login_frequency_days"] == days_ago - (today - day).days, day
