from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from agents_core import dispatch
from agents_core.schedules import ensure_schedules as ensure_all


def ensure_schedules():
    """The daily health scan's (schedule, created) first, then the others."""
    results = ensure_all()
    return sorted(results, key=lambda pair: pair[0].name != "csm.daily_health_scan")


pytestmark = pytest.mark.django_db


def test_daily_health_scan_schedule_is_created_once():
    ensure_schedules()
    ensure_schedules()
    call_command("ensure_schedules", stdout=io.StringIO())
    rows = Schedule.objects.filter(name="csm.daily_health_scan")
    assert rows.count() == 1
    schedule = rows.get()
    assert schedule.schedule_type == Schedule.CRON and schedule.cron == "0 7 * * *"
    assert schedule.func == "agents_core.dispatch.start_scheduled"
    assert schedule.repeats == -1


def test_first_run_waits_for_seven_oclock_in_the_configured_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    from django_q.conf import Conf

    original = Conf.TIME_ZONE
    Conf.TIME_ZONE = "Europe/Berlin"
    try:
        (schedule, created), *_ = ensure_schedules()
    finally:
        Conf.TIME_ZONE = original
    local = schedule.next_run.astimezone(ZoneInfo("Europe/Berlin"))
    assert created
    assert (local.hour, local.minute) == (7, 0)
    assert schedule.next_run > datetime.now(tz=ZoneInfo("UTC"))


def test_a_changed_cron_updates_the_existing_row(monkeypatch):
    ensure_schedules()
    Schedule.objects.filter(name="csm.daily_health_scan").update(cron="0 6 * * *")
    (schedule, created), *_ = ensure_schedules()
    assert not created and schedule.cron == "0 7 * * *"
    assert Schedule.objects.filter(name="csm.daily_health_scan").count() == 1


def test_the_schedule_starts_the_task_like_every_other_caller(django_capture_on_commit_callbacks):
    (schedule, _), *_ = ensure_schedules()
    import ast

    args = ast.literal_eval(schedule.args)
    with django_capture_on_commit_callbacks(execute=True):
        run_id = dispatch.start_scheduled(*args)
    from agents_core.models import AgentRun

    run = AgentRun.objects.get(pk=run_id)
    assert (run.agent, run.task_type, run.trigger, run.status) == (
        "csm",
        "health_scan",
        "schedule",
        "succeeded",
    )
