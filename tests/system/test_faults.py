"""Faults on the PostgreSQL + Redis path: a worker killed mid-scan, tasks lost by the broker, Redis restarted.

Both end with exactly one score per account for the day. They start real
q-clusters, so they run where the suite runs on PostgreSQL with Redis (the
second half of .ci/run) and skip on the embedded defaults.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.conf import Conf
from django_q.tasks import async_task

from agents_core import fanout
from agents_core.dispatch import enqueue, recover_stale_runs
from agents_core.models import AgentRun, WorkBatch
from csm.demo.book import build_demo_book
from csm.models import Account, HealthScore
from tests.paths import ROOT

ACCOUNTS = 12_000

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="real clusters need PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)",
    ),
]


def _env(**overrides: str) -> dict[str, str]:
    """The environment of a Tend process on the test database and broker."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
        "TEND_SCAN_BATCH_SIZE": "250",
        **overrides,
    }


def _cluster(**overrides: str) -> subprocess.Popen:
    # A killed worker's batch is taken over after 5 s (300 s in production).
    env = _env(**{"Q_WORKERS": "1", "TEND_BATCH_TIMEOUT": "5", **overrides})
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    for signal_to_send, wait in ((sig, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(process.pid, signal_to_send)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _scores_today() -> int:
    return HealthScore.objects.filter(scored_on=timezone.localdate()).count()


def _assert_one_score_per_account() -> None:
    scannable = Account.objects.scannable().count()
    today = HealthScore.objects.filter(scored_on=timezone.localdate())
    assert today.count() == scannable
    doubled = today.values("account").annotate(n=Count("id")).filter(n__gt=1)
    assert not doubled.exists()


@pytest.fixture
def book(monkeypatch):
    build_demo_book(ACCOUNTS, seed=3, today=timezone.localdate())
    # Send tasks to the real broker, not in-process (the suite's default).
    monkeypatch.setattr(Conf, "SYNC", False)


def test_a_worker_killed_mid_scan_is_recovered_and_the_day_is_scored_once(book):
    first = _cluster()
    try:
        run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.ADMIN)
        _wait_for(lambda: _scores_today() >= 500, 120, "the scan to get going")
        _kill(first)  # SIGKILL: no goodbye, the run is left "running"
    finally:
        if first.poll() is None:
            _kill(first)
    run.refresh_from_db()
    partial = _scores_today()
    assert run.status == AgentRun.Status.RUNNING and 0 < partial < Account.objects.scannable().count()

    second = _cluster()
    try:
        # The 5-minute sweep, here at once: the run's worker is gone.
        assert recover_stale_runs(stale_after=0)["worker_died"] == 1
        _wait_for(
            lambda: AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.SUCCEEDED).exists(),
            180,
            "the recovered run to finish",
        )
    finally:
        _kill(second, signal.SIGTERM)
    run.refresh_from_db()
    assert run.attempts == 2
    _assert_one_score_per_account()


def test_tasks_lost_by_the_broker_are_sent_again_and_run_once(book):
    from django_q.brokers import get_broker

    # No cluster yet: the task waits in Redis, and Redis loses it (a restart without persistence).
    run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.ADMIN)
    broker = get_broker()
    assert broker.queue_size() >= 1
    broker.delete_queue()
    assert broker.queue_size() == 0

    cluster = _cluster()
    try:
        time.sleep(3)
        run.refresh_from_db()
        assert run.status == AgentRun.Status.QUEUED  # nobody will ever run it ...
        assert recover_stale_runs(queued_after=0)["task_lost"] == 1  # ... until the sweep sends it again
        _wait_for(
            lambda: AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.SUCCEEDED).exists(),
            180,
            "the re-sent run to finish",
        )
        # A second, late copy of the same task (say the old one did survive) changes nothing.
        recover_stale_runs(queued_after=0)
        from django_q.tasks import async_task

        async_task("agents_core.dispatch.execute_run", run.pk)
        time.sleep(3)
    finally:
        _kill(cluster, signal.SIGTERM)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.SUCCEEDED and run.attempts == 1
    _assert_one_score_per_account()


def _group_of(worker: str) -> int | None:
    """The process group (one per cluster here) of a "host:pid" worker, if it still runs."""
    try:
        return os.getpgid(int(worker.rsplit(":", 1)[1]))
    except (ProcessLookupError, ValueError, IndexError):
        return None


def test_two_clusters_share_a_scan_and_a_killed_helpers_batch_is_taken_over(book):
    # Two machines' worth of clusters, one worker each; the scan asks for two at once.
    # Small batches: hundreds of them, so the scan lasts long enough to catch the helper inside one.
    clusters = [_cluster(TEND_PARALLELISM="2", TEND_SCAN_BATCH_SIZE="25") for _ in range(2)]
    try:
        time.sleep(3)  # both listening before the work arrives
        run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.ADMIN)
        coordinator = _wait_for(
            lambda: (
                AgentRun.objects.filter(pk=run.pk).exclude(worker="").values_list("worker", flat=True).first()
            ),
            60,
            "the scan to start",
        )
        helper_cluster = next(c for c in clusters if c.pid != _group_of(coordinator))

        def helpers_batches():
            batches = WorkBatch.objects.filter(run=run).values_list("status", "claimed_by", "seq")
            return [
                (status, seq) for status, worker, seq in batches if _group_of(worker) == helper_cluster.pid
            ]

        def other_cluster_joined():
            """Each cluster's pusher takes whatever task Redis hands it (BLPOP, the longest waiting
            first), even while its one worker is busy: the coordinator's own cluster may take the
            helper task into its local queue, to run once the scan is over, and leave the other
            cluster idle. A helper sent again costs nothing (it finds the run's batches claimed or
            done), so it is sent again until the other cluster works on the scan."""
            if helpers_batches():
                return True
            async_task(fanout.HELPER_FUNC, run.pk, task_name=f"csm.health_scan#{run.pk}.resent-helper")
            time.sleep(0.3)
            return False

        _wait_for(other_cluster_joined, 60, "the other cluster to join the scan")

        def helper_frozen_holding_a_batch_after_doing_one():
            """Freeze the helper (SIGSTOP) once it has done a batch, and look: holding one, it stays
            frozen for the kill; between two, it goes on (SIGCONT) and we look again. No race between
            seeing the batch and killing the worker that holds it."""
            if not any(status == "done" for status, _ in helpers_batches()):
                return None
            os.killpg(helper_cluster.pid, signal.SIGSTOP)
            time.sleep(0.5)  # what it sent before freezing (a commit marking a batch done) lands first
            running = [seq for status, seq in helpers_batches() if status == "running"]
            if running:
                return (running[0],)  # a tuple: batch 0 is a batch too
            os.killpg(helper_cluster.pid, signal.SIGCONT)
            time.sleep(0.02)
            return None

        (held,) = _wait_for(helper_frozen_holding_a_batch_after_doing_one, 120, "the helper to hold a batch")
        _kill(helper_cluster)  # SIGKILL in the middle of a batch
        _wait_for(
            lambda: AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.SUCCEEDED).exists(),
            180,
            "the scan to finish without the helper",
        )
    finally:
        for cluster in clusters:
            _kill(cluster, signal.SIGTERM)
    batches = WorkBatch.objects.filter(run=run)
    assert set(batches.values_list("status", flat=True)) == {"done"}
    taken_over = batches.get(seq=held)
    assert taken_over.attempts == 2 and taken_over.claimed_by != ""
    workers = set(batches.values_list("claimed_by", flat=True))
    assert len(workers) == 2, workers  # both clusters did batches
    run.refresh_from_db()
    assert run.attempts == 1 and run.result["scored"] == Account.objects.scannable().count()
    _assert_one_score_per_account()


@pytest.fixture
def own_redis(tmp_path, monkeypatch):
    """A Redis of the test's own, on a free port, for the test to restart (no persistence, as by default)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed here")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ping = [shutil.which("redis-cli") or "redis-cli", "-p", str(port), "ping"]
        _wait_for(lambda: subprocess.run(ping, capture_output=True).returncode == 0, 20, "redis to start")
        return process

    state = {"process": start()}

    def restart() -> None:
        state["process"].terminate()
        state["process"].wait(timeout=20)
        state["process"] = start()

    url = f"redis://127.0.0.1:{port}/0"
    monkeypatch.setattr(Conf, "REDIS", url)  # this process queues to it too
    yield url, restart
    state["process"].terminate()
    state["process"].wait(timeout=20)


def test_a_redis_restart_mid_scan_loses_and_doubles_nothing(book, own_redis):
    url, restart_redis = own_redis
    cluster = _cluster(REDIS_URL=url, Q_WORKERS="2", TEND_PARALLELISM="2")
    try:
        time.sleep(3)
        scan = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.ADMIN)
        _wait_for(lambda: _scores_today() >= 500, 120, "the scan to get going")
        # Queued while both workers are busy: in Redis (or already pulled by the cluster) when it goes down.
        waiting = enqueue("csm", "track_feature_adoption", {}, trigger=AgentRun.Trigger.ADMIN)
        assert AgentRun.objects.get(pk=scan.pk).status == AgentRun.Status.RUNNING
        assert _scores_today() < Account.objects.scannable().count()
        restart_redis()  # mid-scan
        _wait_for(
            lambda: AgentRun.objects.filter(pk=scan.pk, status=AgentRun.Status.SUCCEEDED).exists(),
            180,
            "the scan to finish after the restart",
        )
        # The 5-minute sweep, at once: anything Redis lost is sent again.
        recover_stale_runs(queued_after=0)
        # Work queued after the restart runs too: the cluster reconnected.
        after = enqueue("csm", "track_feature_adoption", {"account_ids": [Account.objects.first().pk]},
                        trigger=AgentRun.Trigger.ADMIN)  # fmt: skip
        _wait_for(
            lambda: not AgentRun.objects.exclude(status__in=["succeeded", "failed"]).exists(),
            180,
            "every run to finish",
        )
    finally:
        _kill(cluster, signal.SIGTERM)
    for run in (scan, waiting, after):
        run.refresh_from_db()
        assert (run.status, run.attempts) == ("succeeded", 1), (run, run.error)
    assert not AgentRun.objects.filter(status="failed").exists()
    _assert_one_score_per_account()


def test_a_database_connection_cut_mid_scan_is_reopened_and_the_scan_finishes(book):
    """PostgreSQL restarting (or a proxy dropping connections) in the middle of a scan: waited out."""
    scan = subprocess.Popen(
        [sys.executable, "manage.py", "run_agent", "csm", "health_scan"],
        cwd=ROOT, env=_env(CONN_MAX_AGE="0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _scores_today() >= 1000, 120, "the scan to get going")
        with connection.cursor() as cursor:
            # Every other session on this database: the scan's, cut as a server restart would.
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1
        partial = _scores_today()
        out, err = scan.communicate(timeout=180)
    finally:
        if scan.poll() is None:
            scan.kill()
    assert scan.returncode == 0, err[-3000:]
    assert "health_scan succeeded" in out
    assert "Database unavailable" in err and "trying again" in err  # the cut was hit, and retried
    assert partial < Account.objects.scannable().count()  # it was cut in the middle
    _assert_one_score_per_account()
