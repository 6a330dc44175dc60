from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage

from agents_core import dispatch
from agents_core.agents import (
    Agent,
    InvalidPayload,
    TaskType,
    UnknownAgent,
    UnknownTaskType,
    registry,
)
from agents_core.models import AgentRun

pytestmark = pytest.mark.django_db

CALLS: list[dict] = []


def record(payload, run):
    CALLS.append({"payload": payload, "run": run.pk, "status": run.status})
    return {"seen": payload.get("n", 0)}


def explode(payload, run):
    raise RuntimeError("the integration is down")


def clean_n(payload):
    if set(payload) - {"n"}:
        raise InvalidPayload("only 'n' is allowed")
    return payload


@pytest.fixture(autouse=True)
def test_agent():
    CALLS.clear()
    agent = registry.register(
        Agent(
            id="testbot",
            name="Test bot",
            tasks={"record": TaskType(record, clean_payload=clean_n), "explode": TaskType(explode)},
        )
    )
    yield agent
    registry.unregister("testbot")


def test_enqueue_records_the_run_and_executes_it_through_the_entry_point(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        run = dispatch.enqueue("testbot", "record", {"n": 3}, trigger=AgentRun.Trigger.API)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.SUCCEEDED
    assert run.result == {"seen": 3}
    assert run.trigger == "api" and run.attempts == 1
    assert run.started_at and run.finished_at and run.duration_seconds is not None
    assert run.q_task_id  # django-q2 took it
    assert run.lock is None
    assert [{"payload": {"n": 3}, "run": run.pk, "status": "running"}] == CALLS


def test_nothing_is_queued_if_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = dispatch.enqueue("testbot", "record", {}, trigger=AgentRun.Trigger.SIGNAL)
    assert len(callbacks) == 1  # sent only on commit
    assert CALLS == []
    assert AgentRun.objects.get(pk=run.pk).status == AgentRun.Status.QUEUED


def test_unknown_agent_is_a_clear_error():
    with pytest.raises(UnknownAgent, match=r"Unknown agent 'nobody'\. Known agents: .*csm.*testbot"):
        dispatch.enqueue("nobody", "record", trigger=AgentRun.Trigger.API)
    assert not AgentRun.objects.exists()


def test_unknown_task_type_is_a_clear_error():
    with pytest.raises(UnknownTaskType, match=r"no task type 'fly'\. Known task types: explode, record"):
        dispatch.enqueue("testbot", "fly", trigger=AgentRun.Trigger.API)
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize("payload", [["n"], {"x": 1}, "text"])
def test_bad_payload_is_rejected_before_a_run_is_recorded(payload):
    with pytest.raises(InvalidPayload):
        dispatch.enqueue("testbot", "record", payload, trigger=AgentRun.Trigger.API)
    assert not AgentRun.objects.exists()


def test_a_failing_handler_fails_the_run_with_its_error(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = dispatch.enqueue("testbot", "explode", trigger=AgentRun.Trigger.ADMIN)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED
    assert run.error == "RuntimeError: the integration is down"
    assert run.lock is None and run.finished_at


def _queued(payload=None):
    return AgentRun.objects.create(agent="testbot", task_type="record", payload=payload or {}, trigger="api")


def test_a_second_delivery_of_the_same_task_does_nothing():
    run = _queued()
    assert dispatch.execute_run(run.pk)["status"] == "succeeded"
    assert dispatch.execute_run(run.pk)["status"] == "duplicate"
    assert len(CALLS) == 1
    run.refresh_from_db()
    assert run.attempts == 1


def test_a_run_left_running_by_a_dead_worker_is_claimed_again_after_the_timeout(settings):
    run = _queued()
    AgentRun.objects.filter(pk=run.pk).update(
        status="running", started_at=timezone.now() - timedelta(seconds=settings.Q_TIMEOUT + 5)
    )
    assert dispatch.execute_run(run.pk)["status"] == "succeeded"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 1 and len(CALLS) == 1


def test_a_run_still_inside_its_timeout_is_not_taken_twice():
    run = _queued()
    AgentRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    assert dispatch.execute_run(run.pk)["status"] == "duplicate"
    assert CALLS == []


def test_the_same_work_never_runs_twice_at_once():
    first, second = _queued({"n": 1}), _queued({"n": 1})
    other = _queued({"n": 2})
    # `first` is mid-run and holds the lock for its work.
    AgentRun.objects.filter(pk=first.pk).update(
        status="running", started_at=timezone.now(), lock=dispatch._lock_key(first)
    )
    assert dispatch.execute_run(second.pk)["status"] == "skipped"
    second.refresh_from_db()
    assert second.status == "succeeded" and second.result["skipped"] is True
    assert f"run {first.pk}" in second.result["reason"]
    # Different work is not blocked.
    assert dispatch.execute_run(other.pk)["status"] == "succeeded"
    assert [c["payload"] for c in CALLS] == [{"n": 2}]


def test_a_stale_lock_from_a_dead_worker_is_released(settings):
    dead, fresh = _queued({"n": 5}), _queued({"n": 5})
    AgentRun.objects.filter(pk=dead.pk).update(
        status="running",
        started_at=timezone.now() - timedelta(seconds=settings.Q_TIMEOUT + 60),
        lock=dispatch._lock_key(dead),
    )
    assert dispatch.execute_run(fresh.pk)["status"] == "succeeded"
    dead.refresh_from_db()
    assert dead.status == "failed" and "stopped before it finished" in dead.error
    assert dead.lock is None


def test_the_task_travels_through_the_configured_broker(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The real path: the message goes onto the broker (ORM or Redis), a
    worker takes it off and runs the one entry point."""
    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker()
    assert type(broker).__name__ == ("Redis" if settings.REDIS_URL else "ORM")
    broker.purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        run = dispatch.enqueue("testbot", "record", {"n": 7}, trigger=AgentRun.Trigger.SCHEDULE)
    assert AgentRun.objects.get(pk=run.pk).status == "queued"

    task_id, message = broker.dequeue()[0]
    task = SignedPackage.loads(message)
    assert task["func"] == dispatch.ENTRY_POINT and task["args"] == (run.pk,)
    assert AgentRun.objects.get(pk=run.pk).q_task_id == task["id"]
    broker.acknowledge(task_id)

    dispatch.execute_run(*task["args"])
    run.refresh_from_db()
    assert run.status == "succeeded" and run.result == {"seen": 7}


def test_start_scheduled_records_a_schedule_run(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = dispatch.start_scheduled("testbot", "record", {"n": 1})
    run = AgentRun.objects.get(pk=run_id)
    assert run.trigger == "schedule" and run.status == "succeeded"
