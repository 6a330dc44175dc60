"""Time the daily scan through a real q-cluster with 1, 2, 4... workers (PostgreSQL + Redis).

For each worker count it starts `manage.py qcluster` with that many workers
(and TEND_PARALLELISM to match), queues the scan as the 07:00 schedule would,
and times the run from its start to its end, as recorded on the AgentRun.
The expansion check the scan queues when it is done is timed as well. Every
pass scores the same book for the same day, so each does the same work.

Each pass also reads the machine's busy CPU time (bench.measure.BusyCPU: the
database's and Redis's as well as the workers'): with every core busy, more
workers cannot go faster, and the "CPU bound" column is the least time this
machine's cores could take for the pass's CPU time. The q-cluster's own share of it
(bench.measure.SessionCPU: its workers, pusher and monitor) is read apart, and
"own cores s" is the least time that share could take with each worker on a
core of its own, the database and Redis elsewhere: whether the workers
themselves scale, where this machine's cores are shared and cannot show it.

Run it on a database of its own: `make bench-fanout` creates `tend_bench`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf

from agents_core import fanout
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from bench.measure import BusyCPU, SessionCPU, vacuum_analyze
from csm.models import Account, HealthScore

ROOT = Path(settings.BASE_DIR)


def _parse_workers(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--workers takes counts separated by commas, e.g. 1,2,4; got {value!r}") from None
    if not counts or min(counts) < 1:
        raise CommandError("--workers needs at least one count, each 1 or more")
    return counts


class Command(BaseCommand):
    help = "Benchmark the scan through a real q-cluster with 1, 2, 4 workers (PostgreSQL + Redis)."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--workers", default="1,2,4", help="Worker counts to time, e.g. 1,2,4.")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--timeout", type=int, default=1800, help="Seconds to wait for one pass.")

    def handle(self, *args, accounts, workers, batch_size, timeout, **options):
        counts = _parse_workers(workers)
        if connection.vendor != "postgresql" or not settings.REDIS_URL:
            raise CommandError(
                "This benchmark runs real workers in parallel: it needs PostgreSQL (DATABASE_URL) and "
                "Redis (REDIS_URL). On SQLite the scan runs in one process: see `make bench`."
            )
        have = Account.objects.count()
        if have < accounts:
            self.stdout.write(f"Seeding {accounts - have:,} demo accounts…")
            call_command("seed_demo", accounts=accounts - have, verbosity=0)
        total = Account.objects.scannable().count()
        self.stdout.write(
            f"PostgreSQL + Redis; {total:,} scannable accounts; batch size {batch_size}; "
            f"{os.cpu_count()} CPU cores on this machine (database, Redis and workers share them)"
        )
        Conf.SYNC = False  # to the broker, whatever the settings say
        if HealthScore.objects.filter(scored_on=timezone.localdate()).count() < total:
            # A day's first scan inserts its rows, later ones update them: every timed pass updates.
            self.stdout.write("Warm-up pass (today's scores not written yet; not compared):")
            self.one_pass(max(counts), batch_size, timeout)
        rows = []
        for n in counts:
            scan, expansion, cpu, cluster = self.one_pass(n, batch_size, timeout)
            rows.append((n, scan, expansion, cpu, cluster))
        base = rows[0][1].duration_seconds
        self.stdout.write(
            f"\n{'workers':>8}{'scan s':>10}{'accounts/s':>12}{'per worker':>12}{'vs ' + str(counts[0]):>8}"
            f"{'batches by worker':>40}{'expansion s':>13}{'CPU s':>8}{'cores busy':>12}{'CPU bound s':>13}"
            f"{'cluster CPU s':>15}{'own cores s':>13}"
        )
        for n, scan, expansion, cpu, cluster in rows:
            seconds = scan.duration_seconds
            rate = scan.result["scored"] / seconds
            split = "/".join(
                str(v) for v in sorted(fanout.summary(scan)["done_by_worker"].values(), reverse=True)
            )
            self.stdout.write(
                f"{n:>8}{seconds:>10.2f}{rate:>12,.0f}{rate / n:>12,.0f}{seconds / base:>7.2f}x"
                f"{split:>40}{expansion.duration_seconds if expansion else float('nan'):>13.2f}"
                + (
                    f"{cpu.seconds:>8.1f}{cpu.cores:>12.2f}{cpu.bound:>13.2f}"
                    if cpu.seconds is not None
                    else ""
                )
                + (
                    f"{cluster.seconds:>15.1f}{cluster.seconds / n:>13.2f}"
                    if cpu.seconds is not None and cluster.seconds is not None
                    else ""
                )
            )
        if any(cpu.seconds is not None for *_, cpu, _cluster in rows):
            self.stdout.write(
                "CPU: the whole machine's busy time from the scan's start to its end "
                f"({os.cpu_count()} cores). A pass at its CPU bound cannot be made faster by more "
                "workers on this machine. Cluster CPU: the q-cluster's own processes' share of it "
                "(the rest is the database's, Redis's and the machine's); own cores: the least time "
                "that share could take with each worker on a core of its own and the database elsewhere."
            )

    def one_pass(
        self, workers: int, batch_size: int, timeout: int
    ) -> tuple[AgentRun, AgentRun | None, BusyCPU, SessionCPU]:
        vacuum_analyze()  # every pass starts from the same table (the last one left 100,000 dead rows)
        env = {
            **os.environ,
            "Q_WORKERS": str(workers),
            "TEND_PARALLELISM": str(workers),
            "TEND_SCAN_BATCH_SIZE": str(batch_size),
            "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
        }
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(3 + workers)  # the cluster's workers up and listening
            with BusyCPU() as cpu, SessionCPU(cluster.pid) as cluster_cpu:
                run = enqueue("csm", "health_scan", {}, trigger=AgentRun.Trigger.COMMAND)
                scan = self.wait(run.pk, timeout)
            follow_up = (scan.result or {}).get("followed_by", {}).get("check_expansion")
            expansion = self.wait(follow_up, timeout) if follow_up else None
        finally:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
        if scan.status != AgentRun.Status.SUCCEEDED:
            raise CommandError(f"The scan with {workers} worker(s) failed: {scan.error}")
        self.stdout.write(
            f"  {workers} worker(s): scan {scan.duration_seconds:.2f} s; {cpu.words()}"
            + (f"; the cluster's own {cluster_cpu.seconds:.1f}" if cluster_cpu.seconds is not None else "")
        )
        return scan, expansion, cpu, cluster_cpu

    def wait(self, run_id: int, timeout: int) -> AgentRun:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = AgentRun.objects.get(pk=run_id)
            if run.status in (AgentRun.Status.SUCCEEDED, AgentRun.Status.FAILED):
                return run
            time.sleep(0.25)
        raise CommandError(f"Run {run_id} did not finish within {timeout} s")
