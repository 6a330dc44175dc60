"""Fan-out: batches claimed once, a dead worker's batch taken again, failures kept to their batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.db.models import Count
from django.utils import timezone

from agents_core import fanout
from agents_core.batches import BatchOutcome, key_ranges
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun, WorkBatch
from agents_core.write_behind import WriteBehind
from csm.models import HealthScore

pytestmark = pytest.mark.django_db


def _run() -> AgentRun:
    return AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger=AgentRun.Trigger.COMMAND, status="running"
    )


class Recorder:
    """A batch handler that records, per range, what it wrote (into a list, committed with the batch)."""

    def __init__(self, fail_on: int | None = None, transient_failures: int = 0) -> None:
        self.written: list[tuple[int, int]] = []
        self.calls = 0
        self.fail_on = fail_on
        self.transient_failures = transient_failures

    def __call__(self, context, first, last):
        self.calls += 1
        if first == self.fail_on:
            raise ValueError(f"bad data at {first}")
        if self.transient_failures:
            self.transient_failures -= 1
            raise OperationalError("database is locked")
        return BatchOutcome(
            {"n": last - first + 1, "day": context["day"]}, lambda: self.written.append((first, last))
        )


def test_key_ranges_cut_consecutive_keys_into_batches():
    assert list(key_ranges([1, 2, 5, 9, 10, 11, 40], 3)) == [(1, 5, 3), (9, 11, 3), (40, 40, 1)]
    assert list(key_ranges([], 3)) == []
    assert list(key_ranges(iter([7, 8]), 2)) == [(7, 8, 2)]


def test_a_run_plans_once_and_keeps_its_first_context():
    run = _run()
    assert fanout.plan(run, {"day": "2026-11-30"}, [(1, 10, 10), (11, 20, 10)]) == 2
    again = AgentRun.objects.get(pk=run.pk)
    # A recovered run plans again with another day and other ranges: the first plan stands.
    assert fanout.plan(again, {"day": "2026-12-01"}, [(1, 5, 5)]) == 2
    assert again.context == {"day": "2026-11-30"}
    assert list(WorkBatch.objects.filter(run=run).values_list("first_key", "last_key")) == [(1, 10), (11, 20)]


def test_the_coordinator_does_every_batch_once_and_returns_their_results():
    run, handler = _run(), Recorder()
    results = fanout.run_batches(
        run, {"day": "d"}, [(1, 10, 10), (11, 12, 2), (13, 20, 8)], handler, parallelism=1
    )
    assert results == [{"n": 10, "day": "d"}, {"n": 2, "day": "d"}, {"n": 8, "day": "d"}]
    assert handler.written == [(1, 10), (11, 12), (13, 20)]
    batches = WorkBatch.objects.filter(run=run)
    assert set(batches.values_list("status", "attempts")) == {("done", 1)}
    assert set(batches.values_list("claimed_by", flat=True)) == {fanout.worker_name()}


def test_a_batch_held_by_a_dead_worker_is_taken_again_after_the_timeout(settings):
    settings.TEND_BATCH_TIMEOUT = 60
    run, handler = _run(), Recorder()
    fanout.plan(run, {"day": "d"}, [(1, 10, 10), (11, 20, 10)])
    # Another worker claimed the first batch two minutes ago and was killed.
    WorkBatch.objects.filter(run=run, seq=0).update(
        status="running",
        claimed_by="gone-host:4242",
        claimed_at=timezone.now() - timedelta(seconds=120),
        attempts=1,
    )
    fanout.run_batches(run, {}, [], handler, parallelism=1)
    retaken = WorkBatch.objects.get(run=run, seq=0)
    assert (retaken.status, retaken.attempts, retaken.claimed_by) == ("done", 2, fanout.worker_name())
    assert sorted(handler.written) == [(1, 10), (11, 20)]


def test_a_batch_another_worker_holds_is_not_claimed_before_the_timeout(settings):
    settings.TEND_BATCH_TIMEOUT = 60
    run = _run()
    fanout.plan(run, {"day": "d"}, [(1, 10, 10)])
    WorkBatch.objects.filter(run=run).update(
        status="running",
        claimed_by="busy-host:1",
        claimed_at=timezone.now() - timedelta(seconds=5),
        attempts=1,
    )
    assert fanout._claim(run, fanout.worker_name()) is None


def test_a_worker_whose_claim_was_taken_over_rolls_its_writes_back():
    run = _run()
    fanout.plan(run, {"day": "d"}, [(1, 10, 10)])
    account_scores_before = HealthScore.objects.count()

    def slow_handler(context, first, last):
        # While we work, the batch is declared dead and another worker claims it.
        WorkBatch.objects.filter(run=run).update(claimed_by="faster-host:7", attempts=2)

        def write():
            AgentRun.objects.filter(pk=run.pk).update(error="written by the slow worker")

        return BatchOutcome({"n": 10}, write)

    with WriteBehind() as writer:
        assert fanout._work_one(run, slow_handler, fanout.worker_name(), writer) is True
    run.refresh_from_db()
    assert run.error == ""  # rolled back
    batch = WorkBatch.objects.get(run=run)
    assert (batch.status, batch.claimed_by) == ("running", "faster-host:7")
    assert HealthScore.objects.count() == account_scores_before


def test_a_failing_batch_is_tried_three_times_then_reported_and_the_others_are_done():
    run, handler = _run(), Recorder(fail_on=11)
    with pytest.raises(
        fanout.BatchesFailed, match=r"1 of 3 batches failed .* batch 1: ValueError: bad data at 11"
    ) as exc:
        fanout.run_batches(
            run, {"day": "d"}, [(1, 10, 10), (11, 20, 10), (21, 30, 10)], handler, parallelism=1
        )
    assert handler.written == [(1, 10), (21, 30)]
    assert [r["n"] for r in exc.value.done] == [10, 10]
    failed = WorkBatch.objects.get(run=run, seq=1)
    assert (failed.status, failed.attempts) == ("failed", fanout.MAX_ATTEMPTS)
    assert handler.calls == 2 + fanout.MAX_ATTEMPTS


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_locked_or_unreachable_database_is_waited_for_not_fatal(settings, monkeypatch):
    settings.TEND_DB_RETRY_SECONDS = 30
    sleeps = []
    monkeypatch.setattr(fanout.time, "sleep", sleeps.append)
    run, handler = _run(), Recorder(transient_failures=2)
    results = fanout.run_batches(run, {"day": "d"}, [(1, 10, 10)], handler, parallelism=1)
    assert results == [{"n": 10, "day": "d"}] and handler.written == [(1, 10)]
    assert sleeps == [0.5, 1.0]  # backoff, then it went through
    assert WorkBatch.objects.get(run=run).attempts == 1  # the same claim, not a failure


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_down_for_longer_than_the_budget_fails_the_batch_not_the_worker(settings, monkeypatch):
    settings.TEND_DB_RETRY_SECONDS = 0  # no waiting: give up at once
    run, handler = _run(), Recorder(transient_failures=1000)
    with pytest.raises(fanout.BatchesFailed, match="OperationalError: database is locked"):
        fanout.run_batches(run, {"day": "d"}, [(1, 10, 10)], handler, parallelism=1)


def test_a_helper_does_the_batches_left(make_account):
    run = _run()
    accounts = [make_account() for _ in range(5)]
    ids = sorted(a.pk for a in accounts)
    fanout.plan(run, {"today": timezone.localdate().isoformat(), "raise_alerts": False}, key_ranges(ids, 2))
    assert fanout.work(run.pk) == {"run": run.pk, "batches": 3}
    assert HealthScore.objects.filter(account__in=accounts).count() == 5
    assert fanout.work(run.pk) == {"run": run.pk, "batches": 0}  # nothing left: a late helper does nothing


def test_a_scan_run_fans_out_and_scores_each_account_once(
    make_account, settings, django_capture_on_commit_callbacks
):
    settings.TEND_SCAN_BATCH_SIZE = 3
    settings.TEND_PARALLELISM = 3  # helpers run in-process in the suite: they take batches too
    accounts = [make_account() for _ in range(10)]
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.COMMAND)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.result["scored"] == 10 and run.result["batches"] == 4
    assert WorkBatch.objects.filter(run=run, status="done").count() == 4
    today = HealthScore.objects.filter(scored_on=timezone.localdate(), account__in=accounts)
    assert today.count() == 10
    assert not today.values("account").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert fanout.summary(run)["by_status"] == {"done": 4}
    assert run.worker == fanout.worker_name()


def test_the_run_page_shows_its_batches_by_status_and_worker(admin_client):
    run = _run()
    fanout.plan(run, {"day": "d"}, [(1, 10, 10), (11, 20, 10), (21, 30, 10)])
    WorkBatch.objects.filter(run=run, seq__lt=2).update(status="done", claimed_by="box-a:11")
    WorkBatch.objects.filter(run=run, seq=2).update(status="failed", claimed_by="box-b:12", error="boom")
    page = admin_client.get(f"/admin/agents_core/agentrun/{run.pk}/change/")
    assert page.status_code == 200
    assert "2 done, 1 failed (done by box-a:11: 2)" in page.content.decode()


def test_a_scan_with_a_failing_batch_fails_the_run_and_keeps_the_rest(
    make_account, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.TEND_SCAN_BATCH_SIZE = 2
    accounts = [make_account() for _ in range(6)]
    from csm.scoring import scan

    real = scan._rows

    def broken(first, last, account_ids):
        if first == accounts[2].pk:
            raise RuntimeError("disk on fire")
        return real(first, last, account_ids)

    monkeypatch.setattr(scan, "_rows", broken)
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.COMMAND)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "1 of 3 batches failed" in run.error and "RuntimeError: disk on fire" in run.error
    scored = set(
        HealthScore.objects.filter(scored_on=timezone.localdate()).values_list("account_id", flat=True)
    )
    assert scored == {accounts[i].pk for i in (0, 1, 4, 5)}


def test_a_qbr_run_fans_out_and_a_regenerated_qbr_keeps_its_notion_page(
    make_account, settings, django_capture_on_commit_callbacks
):
    from csm.models import QBR
    from csm.qbr import quarters

    settings.TEND_PARALLELISM = 2
    accounts = [make_account() for _ in range(5)]
    quarter = quarters.quarter_of(timezone.localdate())
    payload = {"quarter": quarter, "account_ids": [a.pk for a in accounts]}
    with django_capture_on_commit_callbacks(execute=True):
        first = enqueue("csm", "generate_qbr", payload, trigger=AgentRun.Trigger.COMMAND)
    first.refresh_from_db()
    assert first.status == "succeeded", first.error
    assert first.result == {"quarter": quarter, "created": 5, "updated": 0}
    assert WorkBatch.objects.filter(run=first, status="done").count() == 1
    QBR.objects.filter(account=accounts[0]).update(status=QBR.Status.PUBLISHED, notion_page_id="page-1")

    with django_capture_on_commit_callbacks(execute=True):
        second = enqueue("csm", "generate_qbr", payload, trigger=AgentRun.Trigger.COMMAND)
    second.refresh_from_db()
    assert second.result == {"quarter": quarter, "created": 0, "updated": 5}
    assert QBR.objects.filter(quarter=quarter, account__in=accounts).count() == 5
    kept = QBR.objects.get(account=accounts[0])
    assert (kept.status, kept.notion_page_id, kept.generated_by_run_id) == ("published", "page-1", second.pk)
