"""The one way agent work starts.

Every caller (schedule, admin, API, signal, command) calls `enqueue()`. It
validates the agent, the task type and the payload, records an `AgentRun`
and hands `execute_run(run_id)` to django-q2 once the surrounding transaction
commits. `execute_run` is the only function the q-cluster runs for agents.

django-q2 delivers at least once: the ORM broker hands a task out again when
its lock expires, and a worker can die half-way. So `execute_run` claims the
run atomically and proceeds only when it won the claim; a run that has been
"running" for longer than the queue timeout belongs to a dead worker and may
be claimed again. Handlers are written to be re-runnable (the daily scan
replaces the day's rows), so a re-claimed run finishes the work, it does
not double it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from agents_core.agents import registry
from agents_core.broker import BROKER_ERRORS, worker_name
from agents_core.models import AgentRun

logger = logging.getLogger(__name__)

ENTRY_POINT = "agents_core.dispatch.execute_run"


def enqueue(
    agent_id: str,
    task_type: str,
    payload: dict[str, Any] | None = None,
    *,
    trigger: str,
    requested_by=None,
    sync: bool | None = None,
) -> AgentRun:
    """Record a run and queue it. Raises AgentError subclasses for bad requests.

    `sync=True` runs it in this process, now (through django-q2's sync path,
    the same code the cluster runs), so the caller can read its outcome;
    `None` follows `Q_CLUSTER["sync"]` and queues once the transaction commits.
    """
    agent = registry.get(agent_id)
    clean = agent.clean_payload(task_type, payload, user=requested_by)
    return _record_and_queue(
        agent.id, task_type, clean, trigger=trigger, requested_by=requested_by, sync=sync
    )


def follow_up(cause: AgentRun | None, agent_id: str, task_type: str, payload: dict[str, Any] | None = None):
    """Queue work that the run `cause` leads to (the scan's expansion check and alert
    deliveries, the contract check's QBRs), under the cause's trigger and requester.

    The trail then shows who set it off. The payload is checked but not scoped
    to the requester again: they were allowed the cause, and this is the
    system finishing it. Without a cause it is the schedule's own work.
    """
    agent = registry.get(agent_id)
    clean = agent.clean_payload(task_type, payload)
    if cause is None:
        return _record_and_queue(agent.id, task_type, clean, trigger=AgentRun.Trigger.SCHEDULE)
    return _record_and_queue(
        agent.id, task_type, clean, trigger=cause.trigger, requested_by_id=cause.requested_by_id
    )


def enqueue_once(agent_id: str, task_type: str, *, cause: AgentRun | None = None) -> AgentRun | None:
    """Queue work that takes whatever is waiting (a re-score, a rollup), unless a run of it is
    already queued: that one will take the new work too. A burst becomes one run (debounced).

    Set off by a change (trigger "signal"), or as the follow-up of `cause`.
    """
    waiting = AgentRun.objects.filter(agent=agent_id, task_type=task_type, status=AgentRun.Status.QUEUED)
    if cause is not None:
        waiting = waiting.exclude(pk=cause.pk)
    if waiting.exists():
        return None
    if cause is None:
        return enqueue(agent_id, task_type, {}, trigger=AgentRun.Trigger.SIGNAL)
    return follow_up(cause, agent_id, task_type, {})


def _record_and_queue(
    agent_id: str,
    task_type: str,
    clean: dict[str, Any],
    *,
    trigger: str,
    sync: bool | None = None,
    **requester,
) -> AgentRun:
    run = AgentRun.objects.create(
        agent=agent_id, task_type=task_type, payload=clean, trigger=trigger, **requester
    )

    def send() -> None:
        options: dict[str, Any] = {"task_name": f"{agent_id}.{task_type}#{run.pk}"}
        if sync is not None:
            options["sync"] = sync
        try:
            q_task_id = async_task(ENTRY_POINT, run.pk, **options)
        except BROKER_ERRORS:
            # The broker is down (Redis restarting, say). The run is recorded as
            # queued: the recovery sweep sends it once the broker is back.
            logger.exception("Could not queue agent run %s; the recovery sweep will send it.", run.pk)
            return
        AgentRun.objects.filter(pk=run.pk).update(q_task_id=q_task_id or "")

    if sync:
        send()  # the caller waits for the outcome; the run's row is visible on this connection
    else:
        transaction.on_commit(send)
    return run


def start_scheduled(agent_id: str, task_type: str, payload: dict[str, Any] | None = None) -> int:
    """What a django-q2 Schedule row calls: start the task like anyone else."""
    return enqueue(agent_id, task_type, payload, trigger=AgentRun.Trigger.SCHEDULE).pk


def _lock_key(run: AgentRun) -> str:
    body = json.dumps([run.agent, run.task_type, run.payload], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:64]


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.Q_TIMEOUT)


def _claim(run_id: int, lock: str) -> str:
    """Claim the run: 'claimed', 'busy' (same work running) or 'gone'."""
    now = timezone.now()
    stale = _stale_before()
    # A run still holding the lock past the queue timeout had its worker
    # killed; free the lock so the work is not blocked for ever.
    AgentRun.objects.filter(lock=lock, status=AgentRun.Status.RUNNING, started_at__lt=stale).exclude(
        pk=run_id
    ).update(
        status=AgentRun.Status.FAILED,
        lock=None,
        finished_at=now,
        error="The worker running this task stopped before it finished.",
    )
    claimable = Q(status=AgentRun.Status.QUEUED) | Q(status=AgentRun.Status.RUNNING, started_at__lt=stale)
    try:
        with transaction.atomic():
            changed = AgentRun.objects.filter(claimable, pk=run_id).update(
                status=AgentRun.Status.RUNNING,
                worker=worker_name(),
                started_at=now,
                attempts=F("attempts") + 1,
                lock=lock,
            )
    except IntegrityError:
        return "busy"
    return "claimed" if changed else "gone"


def execute_run(run_id: int) -> dict[str, Any]:
    """Run one recorded AgentRun: the q-cluster's single entry point for agents."""
    try:
        run = AgentRun.objects.get(pk=run_id)
    except AgentRun.DoesNotExist:
        logger.warning("Agent run %s no longer exists; nothing to do.", run_id)
        return {"run": run_id, "status": "missing"}
    lock = _lock_key(run)
    claim = _claim(run_id, lock)
    if claim == "gone":
        # Another delivery of the same task got here first.
        logger.info("Agent run %s was already claimed; skipping duplicate delivery.", run_id)
        return {"run": run_id, "status": "duplicate"}
    if claim == "busy":
        holder = AgentRun.objects.filter(lock=lock).values_list("pk", flat=True).first()
        AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.QUEUED).update(
            status=AgentRun.Status.SUCCEEDED,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            result={"skipped": True, "reason": f"the same work is already running as run {holder}"},
        )
        return {"run": run_id, "status": "skipped"}

    run.refresh_from_db()
    started = time.monotonic()
    status, result, error = AgentRun.Status.SUCCEEDED, None, ""
    try:
        task = registry.get(run.agent).task(run.task_type)
        result = task.handler(dict(run.payload), run)
        result = dict(result) if result is not None else {}
    except Exception as exc:
        logger.exception("Agent run %s (%s.%s) failed", run.pk, run.agent, run.task_type)
        status, error = AgentRun.Status.FAILED, f"{type(exc).__name__}: {exc}"
    # Not in a `finally`: if the worker is being killed (timeout, shutdown),
    # the run stays "running" and is claimed again once it is stale.
    AgentRun.objects.filter(pk=run.pk).update(
        status=status,
        finished_at=timezone.now(),
        result=result,
        error=error,
        lock=None,
    )
    logger.info(
        "Agent run %s (%s.%s) %s in %.2fs",
        run.pk,
        run.agent,
        run.task_type,
        status,
        time.monotonic() - started,
    )
    return {"run": run.pk, "status": status}


RECOVER_FUNC = "agents_core.dispatch.recover_stale_runs"
RECOVER_CAP = 200


def recover_stale_runs(*, stale_after: int | None = None, queued_after: int | None = None) -> dict[str, int]:
    """Send again the runs nobody is working on (every 5 minutes, from its own schedule).

    * running for longer than `stale_after` seconds (default: the queue timeout
      plus a minute, after which django-q2 has stopped the task anyway): the
      worker died, by SIGKILL, a crash or a lost machine. The run goes back to
      queued, its lock freed.
    * queued for longer than `queued_after` seconds (TEND_REQUEUE_AFTER): its
      task was lost on the way (a broker restart without persistence).

    A run sent twice is claimed once (see `_claim`) and handlers are
    re-runnable, so this can only finish work, never double it.
    """
    now = timezone.now()
    stale_after = settings.Q_TIMEOUT + 60 if stale_after is None else stale_after
    queued_after = settings.TEND_REQUEUE_AFTER if queued_after is None else queued_after
    dead = list(
        AgentRun.objects.filter(
            status=AgentRun.Status.RUNNING, started_at__lt=now - timedelta(seconds=stale_after)
        ).values_list("pk", flat=True)[:RECOVER_CAP]
    )
    if dead:
        AgentRun.objects.filter(pk__in=dead, status=AgentRun.Status.RUNNING).update(
            status=AgentRun.Status.QUEUED,
            lock=None,
            error="The worker running this task stopped before it finished; sent again.",
        )
    lost = list(
        AgentRun.objects.filter(
            status=AgentRun.Status.QUEUED, created_at__lt=now - timedelta(seconds=queued_after)
        )
        .exclude(pk__in=dead)
        .values_list("pk", flat=True)[:RECOVER_CAP]
    )
    for run_id in [*dead, *lost]:
        async_task(ENTRY_POINT, run_id, task_name=f"recover#{run_id}")
        logger.warning(
            "Agent run %s sent again (%s).", run_id, "worker died" if run_id in dead else "task lost"
        )
    return {"worker_died": len(dead), "task_lost": len(lost)}
