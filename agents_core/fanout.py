"""Fan-out: one agent run's work, in batches that any number of workers take in parallel.

A task type that declares a `batch` handler (see agents_core.agents.TaskType)
splits its work into ranges of keys (account ids). Its run handler, the
coordinator, calls `run_batches`:

1. The run's batches are recorded once (`WorkBatch`, one row per range,
   with the run's shared `context`); a recovered run finds them in place.
2. `TEND_PARALLELISM - 1` helper tasks, `agents_core.fanout.work(run_id)`,
   go to django-q2. Any worker of any cluster may take one.
3. Coordinator and helpers loop: claim the next pending batch (a row lock
   with SKIP LOCKED on PostgreSQL, then a conditional update, so a batch is
   claimed once), do it, record it done in the same transaction as its
   writes. A batch claimed longer than `TEND_BATCH_TIMEOUT` ago belongs to a
   dead worker and is claimed again; its first worker, if it was only slow,
   finds its claim gone and rolls back.
4. When nothing is left to claim, coordinator and helpers wait for the
   batches others hold (taking over any whose worker died), then the
   coordinator returns every batch's result for the handler to sum up. If
   the coordinator itself dies, the run is sent again by the recovery sweep
   (agents_core.dispatch.recover_stale_runs) and finishes the same plan.

On SQLite `TEND_PARALLELISM` is 1: no helpers, and the coordinator does
every batch itself, through the same code.

A database that is locked (SQLite) or unreachable (a PostgreSQL restart,
a dropped connection) is waited for: the batch is tried again with backoff
for up to `TEND_DB_RETRY_SECONDS`. Any other error fails that batch only;
the run reports it and carries on with the others.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_q.tasks import async_task

from agents_core.agents import registry
from agents_core.batches import BatchHandler, BatchOutcome
from agents_core.broker import BROKER_ERRORS, worker_name
from agents_core.models import AgentRun, WorkBatch
from agents_core.write_behind import WriteBehind

logger = logging.getLogger(__name__)

HELPER_FUNC = "agents_core.fanout.work"
POLL_SECONDS = 0.5
MAX_ATTEMPTS = 3
MAX_LISTED_ERRORS = 20


class _ClaimLost(Exception):
    """Our claim on a batch was taken over (we were too slow): roll our writes back."""


def run_locally(context: Mapping[str, Any], ranges: Iterable[tuple[int, int, int]], handler: BatchHandler):
    """Every batch in this process, in order, with no claims: for callers outside any run."""
    results, ranges = [], list(ranges)
    # One batch (an account rescanned from the admin) has nothing to overlap with.
    with WriteBehind(wanted=len(ranges) > 1) as writer:
        for first, last, _count in ranges:
            outcome = _with_db_retries(lambda f=first, la=last: handler(context, f, la))
            writer.submit(lambda o=outcome: _with_db_retries(lambda: _write_local(o)))
            results.append(outcome.result)
    return results


def _write_local(outcome: BatchOutcome) -> None:
    with transaction.atomic():
        outcome.write()


def plan(run: AgentRun, context: Mapping[str, Any], ranges: Iterable[tuple[int, int, int]]) -> int:
    """Record the run's batches and context, once: a second call (a recovered run) keeps the first plan."""
    with transaction.atomic():
        locked = AgentRun.objects.select_for_update().get(pk=run.pk)
        if locked.context is not None:
            run.context = locked.context
            return WorkBatch.objects.filter(run=run).count()
        batches = [
            WorkBatch(run=run, seq=seq, first_key=first, last_key=last, size=count)
            for seq, (first, last, count) in enumerate(ranges)
        ]
        WorkBatch.objects.bulk_create(batches, batch_size=1000)
        AgentRun.objects.filter(pk=run.pk).update(context=dict(context))
        run.context = dict(context)
        return len(batches)


def run_batches(
    run: AgentRun,
    context: Mapping[str, Any],
    ranges: Iterable[tuple[int, int, int]],
    handler: BatchHandler,
    *,
    parallelism: int | None = None,
) -> list[dict[str, Any]]:
    """The coordinator: plan, call helpers, work, wait; returns the results of the batches done.

    Raises BatchesFailed (after every other batch is done) if any batch failed.
    """
    total = plan(run, context, ranges)
    parallelism = settings.TEND_PARALLELISM if parallelism is None else parallelism
    helpers = min(max(parallelism - 1, 0), max(total - 1, 0))
    sent = 0
    for n in range(helpers):
        try:
            async_task(HELPER_FUNC, run.pk, task_name=f"{run.agent}.{run.task_type}#{run.pk}.helper{n + 1}")
        except BROKER_ERRORS:
            # Helpers only speed the run up: without them this worker does every batch.
            logger.exception("Could not send helpers for run %s; carrying on alone.", run.pk)
            break
        sent += 1
    # Working alone, this worker writes each batch behind the next (agents_core/write_behind.py);
    # with helpers, the workers already overlap one another's reads and writes.
    _drain(run, handler, worker_name(), alone=sent == 0 and total > 1)
    batches = list(WorkBatch.objects.filter(run=run).values("seq", "status", "result", "error"))
    done = [b["result"] or {} for b in batches if b["status"] == WorkBatch.Status.DONE]
    failed = [b for b in batches if b["status"] == WorkBatch.Status.FAILED]
    if failed:
        raise BatchesFailed(failed, done, total)
    return done


class BatchesFailed(Exception):
    """Some batches failed for good; `done` holds the results of the others, whose writes stand."""

    def __init__(self, failed: list[dict[str, Any]], done: list[dict[str, Any]], total: int) -> None:
        listed = "; ".join(f"batch {b['seq']}: {b['error']}" for b in failed[:MAX_LISTED_ERRORS])
        super().__init__(f"{len(failed)} of {total} batches failed (the others are done). {listed}")
        self.failed, self.done = failed, done


def work(run_id: int) -> dict[str, Any]:
    """A helper task: claim and do the run's batches until none is left."""
    try:
        run = AgentRun.objects.get(pk=run_id)
    except AgentRun.DoesNotExist:
        return {"run": run_id, "batches": 0}
    handler = registry.get(run.agent).task(run.task_type).batch
    if handler is None:
        raise ValueError(f"{run.agent}.{run.task_type} has no batch handler")
    return {"run": run_id, "batches": _drain(run, handler, worker_name())}


def _drain(run: AgentRun, handler: BatchHandler, me: str, *, alone: bool = False) -> int:
    """Do batches until every one is done or failed; returns how many this worker did.

    `alone`: no helpers share the run, so each batch's writes commit behind the next batch
    (agents_core/write_behind.py). With helpers they do not: measured on 2 cores, two workers took
    3.8-4.0 s for 100,000 accounts writing in turn and 4.2-4.6 s writing behind.

    When nothing is left to claim but others still hold batches, wait: if one
    of them dies, its batch becomes claimable after TEND_BATCH_TIMEOUT and is
    taken here.
    """
    done = 0
    with WriteBehind(wanted=alone) as writer:
        while True:
            if _work_one(run, handler, me, writer):
                done += 1
                continue
            writer.wait()  # our own last batch, before looking at what others hold
            open_batches = WorkBatch.objects.filter(
                run=run, status__in=[WorkBatch.Status.PENDING, WorkBatch.Status.RUNNING]
            )
            if not _with_db_retries(open_batches.exists):
                return done
            time.sleep(POLL_SECONDS)


def _claim(run: AgentRun, me: str) -> WorkBatch | None:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TEND_BATCH_TIMEOUT)
    claimable = Q(status=WorkBatch.Status.PENDING) | Q(status=WorkBatch.Status.RUNNING, claimed_at__lt=stale)
    while True:
        with transaction.atomic():
            candidates = WorkBatch.objects.filter(claimable, run=run).order_by("seq")
            if connection.features.has_select_for_update_skip_locked:
                # Workers pass over each other's rows instead of queueing on them.
                candidates = candidates.select_for_update(skip_locked=True)
            batch = candidates.first()
            if batch is None:
                return None
            won = WorkBatch.objects.filter(claimable, pk=batch.pk, attempts=batch.attempts).update(
                status=WorkBatch.Status.RUNNING, claimed_by=me, claimed_at=now, attempts=F("attempts") + 1
            )
        if won:
            if batch.status == WorkBatch.Status.RUNNING:
                logger.warning(
                    "Run %s batch %s: %s stopped working on it; taken over by %s.",
                    run.pk,
                    batch.seq,
                    batch.claimed_by,
                    me,
                )
            batch.status, batch.claimed_by, batch.claimed_at = WorkBatch.Status.RUNNING, me, now
            batch.attempts += 1
            return batch


def _work_one(run: AgentRun, handler: BatchHandler, me: str, writer: WriteBehind) -> bool:
    """Claim one batch, read and compute it, and hand its writes to `writer`; False when there is
    nothing left to claim."""
    batch = _with_db_retries(lambda: _claim(run, me))
    if batch is None:
        return False
    try:
        outcome = _with_db_retries(lambda: handler(run.context or {}, batch.first_key, batch.last_key))
    except Exception as exc:
        _failed(run, batch, me, exc)
        return True
    writer.submit(lambda: _finish(run, batch, outcome, me))
    return True


def _finish(run: AgentRun, batch: WorkBatch, outcome: BatchOutcome, me: str) -> None:
    """Commit a batch's writes with the batch marked done, or record why not."""
    try:
        _with_db_retries(lambda: _commit(batch, outcome, me))
    except _ClaimLost:
        logger.warning(
            "Run %s batch %s was taken over by another worker; our writes rolled back.", run.pk, batch.seq
        )
    except Exception as exc:
        _failed(run, batch, me, exc)


def _failed(run: AgentRun, batch: WorkBatch, me: str, exc: Exception) -> None:
    """The batch goes back to pending, or fails for good after MAX_ATTEMPTS; the run carries on."""
    logger.error("Run %s batch %s failed", run.pk, batch.seq, exc_info=exc)
    give_up, error = batch.attempts >= MAX_ATTEMPTS, f"{type(exc).__name__}: {exc}"
    _with_db_retries(
        lambda: WorkBatch.objects.filter(pk=batch.pk, claimed_by=me, attempts=batch.attempts).update(
            status=WorkBatch.Status.FAILED if give_up else WorkBatch.Status.PENDING,
            error=error,
            finished_at=timezone.now() if give_up else None,
        )
    )


def _commit(batch: WorkBatch, outcome: BatchOutcome, me: str) -> None:
    with transaction.atomic():
        outcome.write()
        done = WorkBatch.objects.filter(
            pk=batch.pk, status=WorkBatch.Status.RUNNING, claimed_by=me, attempts=batch.attempts
        ).update(status=WorkBatch.Status.DONE, finished_at=timezone.now(), result=outcome.result, error="")
        if not done:
            raise _ClaimLost


_TRANSIENT = (OperationalError, InterfaceError)


def _with_db_retries(step: Callable[[], Any]) -> Any:
    """Run `step`; when the database is locked or unreachable, reconnect and try again with backoff."""
    deadline = time.monotonic() + settings.TEND_DB_RETRY_SECONDS
    delay = 0.5
    while True:
        try:
            return step()
        except _TRANSIENT as exc:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "Database unavailable (%s: %s); trying again in %.1fs.", type(exc).__name__, exc, delay
            )
            # A broken connection is dropped so the next query opens a new one.
            with contextlib.suppress(DatabaseError):
                connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 10)


def summary(run: AgentRun) -> dict[str, Any]:
    """Batches by status and by worker: for the admin's run page (one query)."""
    rows = WorkBatch.objects.filter(run=run).values("status", "claimed_by").annotate(n=Count("id"))
    by_status: dict[str, int] = {}
    by_worker: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        if row["status"] == WorkBatch.Status.DONE:
            by_worker[row["claimed_by"]] = by_worker.get(row["claimed_by"], 0) + row["n"]
    return {"by_status": by_status, "done_by_worker": by_worker}
