"""Benchmark the what-if preview and the backtest: in the request's way and queued, as the admin runs it.

Seeds `--accounts` demo accounts with a year of daily history if the database holds fewer (use a
database of its own: `make bench-whatif`), then times, with the queries each takes:

- the floor: the driver reading today's stored inputs and the engine scoring each, nothing else;
- the preview (today's book re-scored with stricter settings) and the two backtests it shows;
- the same, queued: an evaluation asked for as a manager and worked out by the worker's entry point
  (`execute_run`), with its progress written; and whether its kept result equals the in-request one.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.models import Max

from agents_core.dispatch import execute_run
from bench.measure import QueryCounter
from csm.models import Account, HealthScore, ScoringProfile
from csm.scoring import engine as scoring
from csm.trust import evaluations
from csm.trust.backtest import backtest
from csm.trust.whatif import preview


@contextmanager
def timed(into: dict, name: str):
    counter = QueryCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        yield
    into[name] = (time.perf_counter() - started, counter.count)


class Command(BaseCommand):
    help = "Time the what-if preview and the backtests, in the request and queued, against a raw floor."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=10_000)
        parser.add_argument("--history-days", type=int, default=365)
        parser.add_argument(
            "--repeat", type=int, default=5, help="queued runs timed after the first (medians printed)"
        )

    def handle(self, *args, accounts, history_days, repeat, **options):
        have = Account.objects.count()
        if have < accounts:
            self.stdout.write(f"Seeding {accounts - have:,} accounts with {history_days} days of history...")
            call_command("seed_demo", accounts=accounts - have, history_days=history_days, verbosity=0)
        current = ScoringProfile.objects.get(segment="", is_active=True)
        candidate = ScoringProfile.objects.get(pk=current.pk)
        candidate.pk, candidate.green_threshold, candidate.amber_threshold = None, 85.0, 60.0
        engine = candidate.to_profile()
        manager, _ = get_user_model().objects.get_or_create(
            username="bench-manager", defaults={"is_staff": True}
        )
        manager.user_permissions.add(
            Permission.objects.get(content_type__app_label="csm", codename="view_all_accounts")
        )

        times: dict[str, tuple[float, int]] = {}
        with timed(times, "floor"):
            scored = self.floor(current.to_profile())
        with timed(times, "preview"):
            effect = preview(engine, "")
        with timed(times, "backtest, stored scores"):
            backtest()
        with timed(times, "backtest, current version re-scored"):
            now = backtest(profile=current)
        with timed(times, "backtest, new settings re-scored"):
            new = backtest(engine=engine, segment="", label="the new settings")
        evaluation = evaluations.ask_preview(candidate, user=manager, with_backtest=True)
        with timed(times, "queued: preview and both backtests"):
            execute_run(evaluation.run_id)
        # The same evaluation asked again `repeat` times: this machine's figures move by a third
        # between runs, so the medians are what compares across commits. CPU time too: it moves less.
        walls, cpus = [], []
        for _ in range(repeat):
            run_id = evaluations.queue(evaluation, user=manager).run_id
            wall, cpu = time.perf_counter(), time.process_time()
            execute_run(run_id)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        # Memory in a run of its own: tracing every allocation slows the work several times over.
        tracemalloc.start()
        execute_run(evaluations.queue(evaluation, user=manager).run_id)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        evaluation.refresh_from_db()
        reports = evaluations.reports_of(evaluation)
        equal = (
            evaluations.effect_of(evaluation) == effect and reports["now"] == now and reports["new"] == new
        )
        in_request = sum(
            times[k][0]
            for k in ("preview", "backtest, current version re-scored", "backtest, new settings re-scored")
        )

        out = self.stdout.write
        out(
            f"What-if and backtest on {connection.vendor}: {effect.accounts:,} accounts scored on the last "
            f"day, {HealthScore.objects.count():,} stored scores, {now.outcomes:,} renewal outcomes"
        )
        out(f"  {'':40} {'seconds':>8} {'queries':>8} {'x floor':>8}")
        floor = times["floor"][0]
        for name, (seconds, queries) in times.items():
            out(f"  {name:40} {seconds:8.2f} {queries:8d} {seconds / floor:8.2f}")
        out(f"  floor: {scored:,} stored inputs read by the driver and scored, nothing else")
        out(f"  queued / in the request: {times['queued: preview and both backtests'][0] / in_request:.2f}")
        out(f"  queued result equals the in-request one: {'yes' if equal else 'NO'}")
        if repeat:
            out(
                f"  queued, {repeat} more runs: median {statistics.median(walls):.2f} s wall, "
                f"{statistics.median(cpus):.2f} s CPU"
            )
        out(f"  peak traced memory of the queued run (run again, traced): {peak / 1e6:.0f} MB")
        out(f"  preview: {effect.accounts / times['preview'][0]:,.0f} accounts/s")

    def floor(self, profile: scoring.Profile) -> int:
        latest = HealthScore.objects.aggregate(day=Max("scored_on"))["day"]
        count = 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT inputs FROM csm_healthscore WHERE scored_on = %s", [latest])
            while rows := cursor.fetchmany(5_000):
                for (inputs,) in rows:
                    scoring.score(json.loads(inputs) if isinstance(inputs, str) else inputs, profile)
                    count += 1
        return count
