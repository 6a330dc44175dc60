"""Escalation: late work goes to the owner's manager once, counted in business days (Monday to
Friday), by priority; an alert not acknowledged in time too; nobody with no manager is lost track of."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from csm.models import ChurnAlert, ReportingLine, Task
from csm.playbooks import rules
from csm.playbooks.escalation import escalate
from csm.playbooks.tasks import create_task

FRIDAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    "start, days, expected",
    [
        (FRIDAY, 1, date(2026, 11, 30)),  # Friday + 1 business day: Monday
        (FRIDAY, 3, date(2026, 12, 2)),
        (date(2026, 11, 28), 1, date(2026, 12, 1)),  # a Saturday counts from the Monday
        (date(2026, 11, 30), 0, date(2026, 11, 30)),
        (date(2026, 11, 30), 5, date(2026, 12, 7)),
    ],
)
def test_business_days_skip_the_weekend(start, days, expected):
    assert rules.add_business_days(start, days) == expected


def test_escalation_times_are_read_and_refused_in_words():
    defaults = {"urgent": 1, "high": 2, "normal": 3, "low": 5}
    assert rules.parse_after("urgent=0, low=10", defaults) == {"urgent": 0, "high": 2, "normal": 3, "low": 10}
    with pytest.raises(ValueError, match="unknown priority 'soon'"):
        rules.parse_after("soon=1", defaults)
    with pytest.raises(ValueError, match="whole number"):
        rules.parse_after("high=two", defaults)


@pytest.fixture
def team(api_book):
    ReportingLine.objects.create(user=api_book["maya"], manager=api_book["manager"])
    return api_book


def _late(team, *, priority, due_on, owner="maya"):
    account = team[f"{owner}_accounts"][0]
    return create_task(
        account=account, owner=team[owner], title=f"{priority} call", due_on=due_on, priority=priority
    )


@pytest.mark.django_db
def test_a_task_late_past_its_prioritys_business_days_goes_to_the_manager_once(team):
    monday = date(2026, 11, 30)
    urgent = _late(team, priority="urgent", due_on=FRIDAY)  # 1 business day: due Friday, late Monday
    normal = _late(team, priority="normal", due_on=FRIDAY)  # 3 business days: not before Wednesday
    toms = _late(team, priority="urgent", due_on=FRIDAY, owner="tom")  # tom has no manager on record

    result = escalate(today=monday)
    assert result == {"tasks": 1, "alerts": 0, "no_manager": 1}
    urgent.refresh_from_db()
    assert urgent.escalated_to == team["manager"] and urgent.escalated_at is not None
    handed = Task.objects.get(origin="escalation")
    assert handed.owner == team["manager"] and handed.account == urgent.account and handed.due_on == monday
    assert "maya has not closed" in handed.notes and handed.title == "Escalated: urgent call"

    assert escalate(today=monday)["tasks"] == 0  # once
    assert escalate(today=date(2026, 12, 2))["tasks"] == 1  # Wednesday: the normal one
    normal.refresh_from_db()
    assert normal.escalated_at is not None
    toms.refresh_from_db()
    assert toms.escalated_at is None
    assert not Task.objects.filter(origin="escalation", title__startswith="Escalated: Escalated").exists()


@pytest.mark.django_db
def test_done_or_not_yet_late_work_is_not_escalated(team):
    today = timezone.localdate()
    done = _late(team, priority="urgent", due_on=today - timedelta(days=10))
    Task.objects.filter(pk=done.pk).update(status="done")
    _late(team, priority="urgent", due_on=today)
    assert escalate(today=today) == {"tasks": 0, "alerts": 0, "no_manager": 0}


@pytest.mark.django_db
def test_an_alert_not_acknowledged_in_two_business_days_is_escalated(team, settings):
    account = team["maya_accounts"][0]
    alert = ChurnAlert.objects.create(
        account=account, raised_on=FRIDAY, raised_at=timezone.now(), reason="entered_red",
        reasons=["entered_red"], explanation="Health fell to 35.", score=35.0, rag="RED", churn_risk="high",
        arr=account.arr,
    )  # fmt: skip
    assert escalate(today=date(2026, 11, 30))["alerts"] == 0  # Monday: one business day
    assert escalate(today=date(2026, 12, 1))["alerts"] == 1  # Tuesday: two
    alert.refresh_from_db()
    assert alert.escalated_to == team["manager"]
    task = Task.objects.get(origin="escalation", alert=alert)
    assert task.owner == team["manager"] and "Health fell to 35." in task.notes
    assert escalate(today=date(2026, 12, 8))["alerts"] == 0
