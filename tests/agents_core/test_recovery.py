"""Runs whose worker died, or whose task was lost, are sent again and finish once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from agents_core.dispatch import recover_stale_runs
from agents_core.models import AgentRun
from agents_core.schedules import ensure_schedules
from csm.models import HealthScore

pytestmark = pytest.mark.django_db


def _run(status, *, started_ago=None, created_ago=0, account_ids=None, lock=None):
    run = AgentRun.objects.create(
        agent="csm",
        task_type="health_scan",
        payload={"account_ids": account_ids or []},
        trigger=AgentRun.Trigger.SCHEDULE,
        status=status,
        lock=lock,
    )
    now = timezone.now()
    AgentRun.objects.filter(pk=run.pk).update(
        created_at=now - timedelta(seconds=created_ago),
        started_at=None if started_ago is None else now - timedelta(seconds=started_ago),
    )
    return run


def test_a_run_whose_worker_died_is_finished_and_a_live_one_left_alone(make_account):
    account = make_account()
    dead = _run(
        AgentRun.Status.RUNNING, started_ago=4000, created_ago=4000, account_ids=[account.pk], lock="x" * 64
    )
    alive = _run(
        AgentRun.Status.RUNNING, started_ago=30, created_ago=30, account_ids=[account.pk], lock="y" * 64
    )

    assert recover_stale_runs(stale_after=3600) == {"worker_died": 1, "task_lost": 0}

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == AgentRun.Status.SUCCEEDED and dead.attempts == 1 and dead.lock is None
    assert alive.status == AgentRun.Status.RUNNING  # still within its time: not touched
    assert HealthScore.objects.filter(account=account).count() == 1


def test_a_run_whose_task_was_lost_is_sent_again_once(make_account):
    account = make_account()
    lost = _run(AgentRun.Status.QUEUED, created_ago=900, account_ids=[account.pk])
    fresh = _run(AgentRun.Status.QUEUED, created_ago=5, account_ids=[account.pk])
    finished = _run(AgentRun.Status.SUCCEEDED, created_ago=900, account_ids=[account.pk])

    assert recover_stale_runs(queued_after=600) == {"worker_died": 0, "task_lost": 1}
    lost.refresh_from_db()
    fresh.refresh_from_db()
    finished.refresh_from_db()
    assert lost.status == AgentRun.Status.SUCCEEDED
    assert fresh.status == AgentRun.Status.QUEUED and finished.attempts == 0
    # A second sweep finds nothing more to do.
    assert recover_stale_runs(queued_after=600) == {"worker_died": 0, "task_lost": 0}
    assert HealthScore.objects.filter(account=account).count() == 1


def test_the_sweep_has_its_own_schedule():
    ensure_schedules()
    ensure_schedules()
    sweep = Schedule.objects.get(name="agents_core.recover_stale_runs")
    assert sweep.func == "agents_core.dispatch.recover_stale_runs" and sweep.cron == "*/5 * * * *"
    assert Schedule.objects.filter(name="agents_core.recover_stale_runs").count() == 1
