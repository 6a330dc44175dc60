"""Write-behind: on PostgreSQL a batch's writes commit on connections of their own while the worker
reads and scores the next, two batches at most in flight, with commits that do not wait for the disk
until the end; nothing is lost or written twice, failures reach the caller or the batch's record, and
it stays off where it cannot help (SQLite, inside a transaction, switched off)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from agents_core import fanout, write_behind
from agents_core.batches import BatchOutcome
from agents_core.models import AgentRun, WorkBatch
from agents_core.write_behind import IN_FLIGHT, WriteBehind, WritesMayBeLost
from bench.measure import QueryCounter

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="write-behind is PostgreSQL's")


def _open_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_next_batch_is_read_while_the_last_ones_writes_commit_on_their_own_connection():
    second_batch_started = threading.Event()
    writers, backends = [], []

    def handler(context, first, last):
        if first == 2:
            second_batch_started.set()

        def write():
            if first == 1:
                # Run in place, this would wait for a batch that only starts after it: no overlap.
                assert second_batch_started.wait(10), "batch 2 was not read while batch 1 wrote"
            writers.append(threading.current_thread().name)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(cursor.fetchone()[0])
            AgentRun.objects.create(agent="cs", task_type="health_scan", error=f"batch {first}")

        return BatchOutcome({"first": first}, write)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    before = _open_connections()
    results = fanout.run_locally({}, [(1, 1, 1), (2, 2, 1), (3, 3, 1)], handler)

    assert results == [{"first": 1}, {"first": 2}, {"first": 3}]
    assert sorted(AgentRun.objects.values_list("error", flat=True)) == ["batch 1", "batch 2", "batch 3"]
    assert all(name.startswith("tend-write-behind") for name in writers), writers
    assert mine not in backends and len(set(backends)) == IN_FLIGHT == 2  # the writers' own, in turn
    assert _open_connections() == before  # the writer's connection closed when the run ends


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_batches_write_at_once_and_a_third_waits_for_the_oldest():
    both_writing = threading.Barrier(2, timeout=10)
    lock, running, most = threading.Lock(), [0], [0]

    def handler(context, first, last):
        def write():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            if first in (1, 2):
                # With one writer, batch 2's writes would start only once batch 1's are done: the
                # barrier would break (BrokenBarrierError) instead of letting both through.
                both_writing.wait()
            with lock:
                running[0] -= 1
            AgentRun.objects.create(agent="cs", task_type="health_scan", error=f"batch {first}")

        return BatchOutcome({"first": first}, write)

    fanout.run_locally({}, [(n, n, 1) for n in range(1, 6)], handler)

    assert most[0] == IN_FLIGHT
    written = AgentRun.objects.values_list("error", flat=True)
    assert sorted(written) == [f"batch {n}" for n in range(1, 6)]


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_writers_commit_without_waiting_for_the_disk_and_the_callers_connection_still_waits():
    seen = []

    def handler(context, first, last):
        def write():
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(cursor.fetchone()[0])

        return BatchOutcome({}, write)

    fanout.run_locally({}, [(1, 1, 1), (2, 2, 1), (3, 3, 1)], handler)

    assert seen == ["off", "off", "off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_leaving_makes_the_writers_commits_durable_then_closes_their_connections():
    """The last commit of each writer waits for the disk, with a transaction id so that it has a
    commit record to wait for: that flushes the WAL of every commit before it."""
    statements, closed = [], []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def flush_on_a_writer():
        write_behind._commit_without_waiting()
        AgentRun.objects.create(agent="cs", task_type="health_scan")
        with connection.execute_wrapper(record):
            write_behind._flush_and_close()
        closed.append(connection.connection is None)

    thread = threading.Thread(target=flush_on_a_writer)
    thread.start()
    thread.join(10)

    assert statements == ["SET LOCAL synchronous_commit = on", "SELECT txid_current()"]
    assert closed == [True]
    assert AgentRun.objects.count() == 1


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_writer_whose_connection_was_opened_again_says_its_last_commits_may_be_lost():
    """Its commits did not wait for the disk: had the database restarted, the last ones are gone."""

    def handler(context, first, last):
        def write():
            AgentRun.objects.create(agent="cs", task_type="health_scan", error=f"batch {first}")
            if first == 1:  # dropped once committed, as the write's retries drop a broken one
                transaction.on_commit(connection.close)

        return BatchOutcome({}, write)

    with pytest.raises(WritesMayBeLost, match="Run the work again"):
        fanout.run_locally({}, [(1, 1, 1), (2, 2, 1), (3, 3, 1)], handler)
    # Batch 3 was the first writer's next: it says so instead of writing on a new connection.
    assert sorted(AgentRun.objects.values_list("error", flat=True)) == ["batch 1", "batch 2"]


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_write_that_fails_behind_reaches_the_caller():
    def handler(context, first, last):
        def write():
            if first == 2:
                raise ValueError("the disk is full")

        return BatchOutcome({"first": first}, write)

    with pytest.raises(ValueError, match="the disk is full"):
        fanout.run_locally({}, [(1, 1, 1), (2, 2, 1), (3, 3, 1)], handler)


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_in_a_run_a_failed_write_sends_its_batch_back_and_the_run_finishes_every_batch(settings):
    settings.TEND_PARALLELISM = 1
    run = AgentRun.objects.create(agent="cs", task_type="health_scan")
    failures = {"left": 1}

    def handler(context, first, last):
        def write():
            if first == 2 and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("deadlock detected")
            AgentRun.objects.create(agent="cs", task_type="health_scan", error=f"batch {first}")

        return BatchOutcome({"first": first}, write)

    results = fanout.run_batches(run, {}, [(1, 1, 1), (2, 2, 1), (3, 3, 1)], handler)

    assert sorted(r["first"] for r in results) == [1, 2, 3]
    batches = {b.first_key: b for b in WorkBatch.objects.filter(run=run)}
    assert {b.status for b in batches.values()} == {WorkBatch.Status.DONE}
    assert batches[2].attempts == 2 and batches[1].attempts == 1
    written = AgentRun.objects.exclude(pk=run.pk).values_list("error", flat=True)
    assert sorted(written) == ["batch 1", "batch 2", "batch 3"]  # each once


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_writers_queries_go_through_the_callers_execute_wrappers(settings):
    def handler(context, first, last):
        return BatchOutcome({}, lambda: AgentRun.objects.create(agent="cs", task_type="health_scan"))

    def counted() -> int:
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            fanout.run_locally({}, [(1, 1, 1), (2, 2, 1)], handler)
        return counter.count

    behind = counted()
    # Each write is one INSERT in its own transaction (the savepoint-free atomic block).
    assert behind >= 2
    settings.TEND_WRITE_BEHIND = False
    assert behind == counted()  # as many as the same writes in place


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_scan_writes_the_same_scores_behind_as_in_place(make_account, settings):
    from csm.models import Account, HealthScore
    from csm.scoring.scan import scan_health

    for _ in range(7):
        make_account()

    def scored():
        return sorted(
            HealthScore.objects.values_list("account_id", "score", "rag", "churn_risk", "explanation")
        ), sorted(Account.objects.values_list("pk", "health_score", "rag", "churn_risk"))

    settings.TEND_WRITE_BEHIND = False
    in_place = scan_health(batch_size=2)
    expected = scored()
    HealthScore.objects.all().delete()
    Account.objects.update(health_score=None, rag="", churn_risk="", churn_trigger="")

    settings.TEND_WRITE_BEHIND = True
    assert WriteBehind().enabled
    behind = scan_health(batch_size=2)
    assert scored() == expected
    assert (behind["scored"], behind["batches"], behind["by_rag"]) == (7, 4, in_place["by_rag"])


@pytest.mark.django_db
def test_it_is_off_inside_a_transaction_on_sqlite_and_when_switched_off(settings):
    ran_on = []
    with transaction.atomic():
        writer = WriteBehind()
        writer.submit(lambda: ran_on.append(threading.current_thread()))
    assert not writer.enabled and ran_on == [threading.current_thread()]
    settings.TEND_WRITE_BEHIND = False
    assert not WriteBehind().enabled


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's case")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_is_off_on_sqlite():
    assert not connection.in_atomic_block
    assert not WriteBehind().enabled


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_single_batch_is_written_in_place():
    """Nothing to overlap with (an account rescanned from the admin): no thread, no second connection."""
    ran_on = []

    def handler(context, first, last):
        return BatchOutcome({}, lambda: ran_on.append(threading.current_thread()))

    fanout.run_locally({}, [(1, 1, 1)], handler)
    assert ran_on == [threading.current_thread()]


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("alone", [True, False])
def test_a_worker_writes_behind_only_when_it_works_the_run_alone(alone):
    """With helpers sharing the run, the workers already overlap each other: a writer thread each
    only added contention (measured on 2 cores)."""
    run = AgentRun.objects.create(agent="cs", task_type="health_scan")
    fanout.plan(run, {}, [(1, 1, 1), (2, 2, 1)])
    ran_on = []

    def handler(context, first, last):
        return BatchOutcome({}, lambda: ran_on.append(threading.current_thread().name))

    assert fanout._drain(run, handler, fanout.worker_name(), alone=alone) == 2
    behind = [name.startswith("tend-write-behind") for name in ran_on]
    assert behind == [alone, alone]
    assert set(WorkBatch.objects.filter(run=run).values_list("status", flat=True)) == {WorkBatch.Status.DONE}
