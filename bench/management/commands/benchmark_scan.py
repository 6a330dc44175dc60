"""Time the daily scan against the raw-driver floor on the configured database.

Run it on a database of its own (`make bench` uses var/bench.sqlite3): it
seeds demo accounts up to --accounts and writes the day's scores.

The floor does the same job with no ORM: one SELECT of the same columns,
the same pure scoring code, the same upsert of the day's rows and update
of each account's current health, through the DB-API driver's
`executemany`, one transaction per batch. What the ORM path costs beyond
that is Tend's overhead. Floor and naive loop live in bench/baselines.py.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.test.utils import override_settings
from django.utils import timezone

from agents_core.bulk import update_rows
from bench.baselines import essential_floor, naive_cycle, raw_cycle
from bench.measure import BusyCPU, QueryCounter
from csm.accounts import figures as book_figures
from csm.expansion.opportunities import check_expansion
from csm.models import (
    Account,
    AccountSignals,
    ChurnAlert,
    ExpansionOpportunity,
    HealthScore,
    PlaybookRun,
    Task,
)
from csm.playbooks.runner import run_playbooks
from csm.scoring.scan import scan_health


class Command(BaseCommand):
    help = "Benchmark the daily health scan: accounts/s, queries per batch, peak memory, raw floor."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--skip-memory", action="store_true", help="Skip the traced pass.")
        parser.add_argument(
            "--naive",
            type=int,
            default=2000,
            help="Accounts to time the naive per-account ORM loop on (its rate is compared; 0 skips it).",
        )
        parser.add_argument(
            "--cycle",
            action="store_true",
            help="Also time the full daily cycle (scan, alerts, expansion) against its floor and naive loop.",
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=3,
            help="Rounds of the scan's and the cycle's comparisons; each way's best round is compared "
            "(this machine's speed drifts during a run).",
        )
        parser.add_argument(
            "--first-scan",
            action="store_true",
            help="Time the day's first scan (07:00: every score inserted) rather than a rescan of the "
            "same day (every score updated): the day's scores are removed, untimed, before each pass.",
        )
        parser.add_argument(
            "--alerts",
            action="store_true",
            help="Also time a scan raising alerts (10%% of the book worse) against the same scan without.",
        )

    def handle(self, *args, **options):
        # As in production: with DEBUG on, Django keeps every query's SQL in
        # memory (up to 9,000 of them), which would be measured as the scan's.
        with override_settings(DEBUG=False):
            self.run(**options)

    def run(self, *, accounts, batch_size, skip_memory, alerts, naive, cycle, repeat, first_scan, **options):
        have = Account.objects.count()
        if have < accounts:
            self.stdout.write(f"Seeding {accounts - have:,} demo accounts…")
            call_command("seed_demo", accounts=accounts - have, verbosity=0)
        total = Account.objects.scannable().count()
        today = timezone.localdate()
        self.stdout.write(
            f"Database: {connection.vendor}; {total:,} scannable accounts; batch size {batch_size}"
        )

        # The floor runs first, then the scan: both find today's rows in place
        # after the first pass, so both do the same upserts (with --first-scan, neither finds
        # any, so both insert: `_fresh`). In `repeat` rounds, each
        # round all three ways in turn; each way's best round counts (this machine's
        # speed drifts by a third within a run).
        rounds = {"tend": [], "raw": [], "essential": []}
        tend_cpu: list[BusyCPU] = []  # the machine's busy CPU time in each of Tend's rounds
        counter = None
        fresh = (lambda: _fresh(today)) if first_scan else _vacuumed
        for _ in range(max(1, repeat)):
            fresh()
            started = time.perf_counter()
            raw_scored = raw_cycle(today, batch_size, alerts_on=False, expansion=False)["scored"]
            rounds["raw"].append(time.perf_counter() - started)

            fresh()  # the scan starts from a table as clean as the floor did
            round_counter = QueryCounter()
            with connection.execute_wrapper(round_counter), BusyCPU() as cpu:
                started = time.perf_counter()
                result = scan_health(today=today, batch_size=batch_size)
                rounds["tend"].append(time.perf_counter() - started)
            tend_cpu.append(cpu)
            if counter is None:  # the first round's queries are reported
                counter = round_counter

            # On tables of its own, made afresh: nothing to vacuum.
            essential_scored, essential_s = essential_floor(today, batch_size)
            rounds["essential"].append(essential_s)
        orm_s, raw_s, essential_s = (min(rounds[way]) for way in ("tend", "raw", "essential"))
        best_cpu = tend_cpu[rounds["tend"].index(orm_s)].words()
        batches = result["batches"]

        peak_mb = None
        if not skip_memory:
            tracemalloc.start()
            scan_health(today=today, batch_size=batch_size)
            peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()

        rate = result["scored"] / orm_s
        raw_rate = raw_scored / raw_s
        # Per scan: the ids that make the batches and the active profiles (csm.scoring.scan).
        per_batch = (counter.count - 2) / batches if batches else 0
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "The day's first scan (every score inserted)"
                    if first_scan
                    else "A rescan of the day (every score updated)",
                    f"{'':24}{'seconds':>10}{'accounts/s':>14}",
                    f"{'Tend scan (ORM)':24}{orm_s:>10.2f}{rate:>14,.0f}",
                    f"{'Raw-driver floor':24}{raw_s:>10.2f}{raw_rate:>14,.0f}",
                    f"Ratio to floor:         {orm_s / raw_s:.2f}x",
                    f"{'Essential floor':24}{essential_s:>10.2f}{essential_scored / essential_s:>14,.0f}",
                    f"Ratio to essential:     {orm_s / essential_s:.2f}x (its own tables, unique keys only, "
                    "no derived inputs or explanation)",
                    f"Accounts scored:        {result['scored']:,} (floor {raw_scored:,}, "
                    f"essential {essential_scored:,}), "
                    f"failed {result['failed']}",
                    f"Rounds:                 Tend {_seconds(rounds['tend'])}; raw floor "
                    f"{_seconds(rounds['raw'])}; essential {_seconds(rounds['essential'])} (best counts)",
                    f"CPU, Tend's best round: {best_cpu} (the whole machine: the database's too)"
                    if best_cpu
                    else "",
                    f"Queries:                {counter.count} in {batches} batches "
                    f"= {per_batch:.1f} per batch + 2 per scan",
                    f"Peak traced memory:     {peak_mb:.1f} MB" if peak_mb is not None else "",
                ]
            )
        )
        if naive:
            started = time.perf_counter()
            naive_scored = naive_cycle(today, naive, alerts_on=False, expansion=False)
            naive_s = time.perf_counter() - started
            naive_rate = naive_scored / naive_s
            self.stdout.write(
                f"Naive per-account loop:  {naive_scored:,} accounts in {naive_s:.2f} s "
                f"({naive_rate:,.0f}/s); the scan is {rate / naive_rate:.1f}x faster"
            )
        if alerts:
            self.compare_alerts(today, batch_size)
        if cycle:
            self.compare_cycle(today, batch_size, naive or 2000, max(1, repeat))

    def day_two(self, today, batch_size):
        """Yesterday scored, then a tenth of the book worse. Returns (back_to_yesterday, put_back)."""
        yesterday = today - timedelta(days=1)
        scan_health(today=yesterday, batch_size=batch_size, raise_alerts=False)
        worsened = AccountSignals.objects.annotate(bucket=F("account_id") % 10).filter(bucket=0)
        changed = ["usage_trend", "avg_ticket_sentiment", "invoice_payment_status"]
        # Put the book back afterwards, so that every run measures the same day.
        originals = [(*values[1:], values[0]) for values in worsened.values_list("account_id", *changed)]
        worsened.update(
            usage_trend="inactive", avg_ticket_sentiment="critical", invoice_payment_status="overdue_90_plus"
        )

        def back_to_yesterday():
            # Every run starts from yesterday's current health and no alerts.
            day_one = HealthScore.objects.filter(account=OuterRef("pk"), scored_on=yesterday)
            Account.objects.update(
                health_score=Subquery(day_one.values("score")[:1]),
                rag=Coalesce(Subquery(day_one.values("rag")[:1]), Value("")),
                churn_risk=Coalesce(Subquery(day_one.values("churn_risk")[:1]), Value("")),
            )
            ChurnAlert.objects.filter(raised_on__gte=yesterday).delete()

        def put_back():
            update_rows(AccountSignals, changed, originals)
            back_to_yesterday()

        return back_to_yesterday, put_back

    def compare_alerts(self, today, batch_size):
        """Day 2 after a tenth of the book worsened: the scan with alerts, against the same scan without."""
        back_to_yesterday, put_back = self.day_two(today, batch_size)
        timings = {}
        for label, raise_alerts in (("without alerts", False), ("with alerts", True)):
            back_to_yesterday()
            started = time.perf_counter()
            result = scan_health(today=today, batch_size=batch_size, raise_alerts=raise_alerts)
            timings[label] = (time.perf_counter() - started, result)
        put_back()
        off, on = timings["without alerts"][0], timings["with alerts"][0]
        raised = timings["with alerts"][1]["alerts"]
        self.stdout.write(
            f"\nDay 2, a tenth of the book worse: scan without alerts {off:.2f} s, with alerts {on:.2f} s "
            f"({on / off:.2f}x); alerts raised {raised.get('raised', 0):,}, sent {raised.get('sent', 0)}, "
            f"held back {raised.get('held_back', 0):,}"
        )

    def compare_cycle(self, today, batch_size, naive, repeat):
        """The full daily cycle (scan with alerts, then expansion) three ways, on the same day 2.

        In `repeat` rounds, each round all three in turn; each way's best round counts.
        """
        back_to_yesterday, put_back = self.day_two(today, batch_size)
        best = {}
        # Yesterday's playbook run, on the book as it was: what a team switching playbooks on pays
        # once (every renewal in its window starts); today's run starts only what today brought.
        back_to_yesterday()
        counter = QueryCounter()
        switched_on = timezone.now()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            first = run_playbooks(today=today - timedelta(days=1))
        first_s = time.perf_counter() - started
        self.stdout.write(
            f"\nPlaybooks switched on (yesterday, the whole book): {first_s:.2f} s, {first['started']:,} "
            f"started, {first['tasks']:,} tasks, {counter.count:,} queries "
            f"({counter.count / max(1, first['started']) * 1000:.1f} per 1,000 runs started)"
        )
        self.stdout.write(
            "\nDaily cycle, day 2 with a tenth of the book worse: scan + alerts + expansion check"
        )
        try:
            for round_no in range(1, repeat + 1):
                times = {}
                back_to_yesterday()
                started = time.perf_counter()
                scan = scan_health(today=today, batch_size=batch_size)
                book_figures.keep(today=today)  # as the daily scan ends (csm.agent.health_scan)
                expansion = check_expansion()
                times["tend"] = (time.perf_counter() - started, scan["scored"], (scan, expansion))
                # Then the playbooks the day's alerts, renewals and opportunities start, on their own
                # clock and query count: the step must cost at most a fifth of the scan.
                counter = QueryCounter()
                started = time.perf_counter()
                with connection.execute_wrapper(counter):
                    played = run_playbooks(today=today)
                times["playbooks"] = (time.perf_counter() - started, counter.count, played)
                # Leave the book as it was: what was found and started is made again by the next run,
                # and yesterday's runs it closed are open again.
                PlaybookRun.objects.filter(started_on=today).delete()
                Task.objects.filter(origin=Task.Origin.PLAYBOOK, status=Task.Status.SKIPPED).update(
                    status=Task.Status.OPEN, skip_reason="", closed_at=None
                )
                PlaybookRun.objects.exclude(status=PlaybookRun.Status.OPEN).update(
                    status=PlaybookRun.Status.OPEN, closed_at=None, close_reason=""
                )
                ExpansionOpportunity.objects.filter(pk__in=expansion["created"]).delete()

                back_to_yesterday()
                started = time.perf_counter()
                raw = raw_cycle(today, batch_size)
                times["floor"] = (time.perf_counter() - started, raw["scored"], raw)

                back_to_yesterday()
                started = time.perf_counter()
                naive_done = naive_cycle(today, naive)
                times["naive"] = (time.perf_counter() - started, naive_done, None)
                for way, timing in times.items():
                    if way not in best or timing[0] < best[way][0]:
                        best[way] = timing
                tend_s, floor_s, naive_s = (times[w][0] for w in ("tend", "floor", "naive"))
                speedup = (times["tend"][1] / tend_s) / (naive_done / naive_s)
                self.stdout.write(
                    f"  round {round_no}: Tend {tend_s:.2f} s, floor {floor_s:.2f} s, naive {naive_s:.2f} s "
                    f"({naive_done:,} acc.): {speedup:.1f}x the naive loop"
                )
        finally:
            PlaybookRun.objects.filter(started_at__gte=switched_on).delete()  # and their tasks
            put_back()
        (tend_s, scored, (scan, expansion)), (raw_s, _, raw), (naive_s, naive_done, _) = (
            best[w] for w in ("tend", "floor", "naive")
        )
        play_s, play_queries, played = best["playbooks"]
        rate, raw_rate, naive_rate = scored / tend_s, raw["scored"] / raw_s, naive_done / naive_s
        self.stdout.write(
            "\n".join(
                [
                    f"Best of {repeat} round{'s' if repeat > 1 else ''}:",
                    f"{'':28}{'seconds':>10}{'accounts/s':>14}",
                    f"{'Tend':28}{tend_s:>10.2f}{rate:>14,.0f}",
                    f"{'Raw-driver floor':28}{raw_s:>10.2f}{raw_rate:>14,.0f}",
                    f"{f'Naive ORM loop ({naive_done:,} acc.)':28}{naive_s:>10.2f}{naive_rate:>14,.0f}",
                    f"Tend against the floor: {tend_s / raw_s:.2f}x the time (bar: within 3x); "
                    f"against the naive loop: {rate / naive_rate:.1f}x faster (bar: 20x)",
                    f"Alerts raised: Tend {scan['alerts']['raised']:,}, floor {raw['raised']:,}; "
                    f"expansion candidates: Tend {expansion['candidates']:,}, "
                    f"floor {raw['expansion_found']:,}",
                    f"Playbooks after the scan: {play_s:.2f} s, {play_s / tend_s:.0%} of the scan and "
                    f"expansion (bar: 20%); {played['started']:,} started, {played['tasks']:,} tasks, "
                    f"{played['closed']:,} closed, {play_queries:,} queries "
                    f"({play_queries / max(1, played['started']) * 1000:.1f} per 1,000 runs started)",
                ]
            )
        )


def _seconds(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times) + " s"


def _fresh(today) -> None:
    """The day as at 07:00, untimed: none of its scores written yet, the tables vacuumed.

    The accounts keep their current health, so the scan finds most of them unchanged, as on most
    days. Nothing refers to a score, so a plain DELETE removes them.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {HealthScore._meta.db_table} WHERE scored_on = %s", [today])
    _vacuumed()


def _vacuumed() -> None:
    """PostgreSQL: vacuum what the scans rewrite before the next one, untimed.

    Each pass here rewrites today's scores and stamps every account; in production a day passes
    between scans and autovacuum clears the old row versions. Without it (a server with
    autovacuum off, or a run faster than its thresholds) each pass would pay for the ones before:
    at 100,000 accounts, after a few dozen passes, the scores' table had grown to 2.7 GB for
    118 MB of rows.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {HealthScore._meta.db_table}, {Account._meta.db_table}")
