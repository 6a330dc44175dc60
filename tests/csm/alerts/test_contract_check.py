from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from csm.alerts.contract_check import contract_check
from csm.models import Account, AlertDelivery, ChurnAlert, QBRDue

pytestmark = pytest.mark.django_db


def with_health(account, rag, score, churn="high"):
    Account.objects.filter(pk=account.pk).update(rag=rag, health_score=score, churn_risk=churn)
    return account


def test_weak_health_inside_the_churn_window_alerts_once_per_renewal(
    make_account, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    near = with_health(
        make_account(renewal_date=today + timedelta(days=40), arr=Decimal("84500")), "AMBER", 52.3
    )
    with_health(make_account(renewal_date=today + timedelta(days=40)), "GREEN", 80.0, "low")  # healthy
    with_health(
        make_account(renewal_date=today + timedelta(days=75)), "RED", 30.0
    )  # outside the 60-day window
    with django_capture_on_commit_callbacks(execute=True):
        result = contract_check(today=today)
    assert result["renewals_in_window_with_weak_health"] == 1
    alert = ChurnAlert.objects.get()
    assert (alert.account_id, alert.reason) == (near.pk, "renewal_near")
    assert alert.explanation == (
        f"Renewal in 40 days ({(today + timedelta(days=40)).isoformat()}) with AMBER health: "
        "score 52.3, churn risk high. ARR at stake $84,500."
    )
    assert AlertDelivery.objects.filter(alert=alert, channel="event", status="sent").exists()
    # The same day again, the next day, and after the cooldown: still one alert for this renewal.
    for days in (0, 1, 10):
        contract_check(today=today + timedelta(days=days))
    assert ChurnAlert.objects.count() == 1


def test_a_segment_profile_window_is_respected(make_account):
    from csm.models import ScoringProfile
    from csm.scoring.profiles import publish_version

    today = timezone.localdate()
    draft = ScoringProfile.objects.get(segment="", is_active=True)
    draft.segment, draft.churn_window_days = "enterprise", 90
    publish_version(draft)
    with_health(make_account(segment="enterprise", renewal_date=today + timedelta(days=75)), "AMBER", 50.0)
    with_health(make_account(segment="smb", renewal_date=today + timedelta(days=75)), "AMBER", 50.0)
    assert contract_check(today=today)["renewals_in_window_with_weak_health"] == 1


def test_qbrs_due_90_days_before_contract_end_are_recorded_once(make_account):
    today = timezone.localdate()
    soon = make_account(renewal_date=today + timedelta(days=90))
    make_account(renewal_date=today + timedelta(days=91))
    assert contract_check(today=today)["qbrs_due_recorded"] == 1
    assert contract_check(today=today)["qbrs_due_recorded"] == 0
    due = QBRDue.objects.get()
    assert (due.account_id, due.contract_end, due.due_on) == (soon.pk, soon.renewal_date, today)


def test_the_contract_check_is_scheduled_at_eight_and_runs_through_the_entry_point(
    make_account, django_capture_on_commit_callbacks
):
    from django_q.models import Schedule

    from agents_core.schedules import ensure_schedules

    ensure_schedules()
    assert Schedule.objects.get(name="csm.daily_contract_check").cron == "0 8 * * *"
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue("csm", "contract_check", trigger=AgentRun.Trigger.SCHEDULE)
    run.refresh_from_db()
    assert run.status == "succeeded" and "qbrs_due_recorded" in run.result
