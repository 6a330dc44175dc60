"""Benchmark the admin: time and queries of the pages a CSM and a manager open each morning.

Requests run in-process through Django's whole stack (middleware, sessions,
the admin, templates, the database), so the figures are the server's own
cost without a network. Use a database of its own: `make bench-admin` seeds
var/bench.sqlite3 with BENCH_ACCOUNTS accounts and a few days of scores.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from bench.measure import QueryCounter, vacuum_analyze
from csm.accounts import figures
from csm.models import Account, HealthScore
from csm.scoring.scan import last_daily_scan_start, scan_health


def pages(account_id: int) -> dict[str, str]:
    accounts = reverse("admin:csm_account_changelist")
    return {
        "index (my book today)": reverse("admin:index"),
        "accounts, first page": accounts,
        "accounts, RED worst first": accounts + "?rag__exact=RED&o=4",
        "accounts, weak renewals in 60 days": accounts + "?health=weak&renewal_within=60",
        "accounts, search": accounts + "?q=Northwind",
        "account page (chart, history)": reverse("admin:csm_account_change", args=[account_id]),
        "churn alerts, open": reverse("admin:csm_churnalert_changelist"),
        "health scores": reverse("admin:csm_healthscore_changelist"),
        "outreach drafts, waiting": reverse("admin:sales_outreachdraft_changelist") + "?review=waiting",
        "agent runs": reverse("admin:agents_core_agentrun_changelist"),
    }


class Command(BaseCommand):
    help = "Time the admin's main pages at a given book size, as a CSM and as a manager."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--history-days", type=int, default=7, help="Days of scores to lay down first.")
        parser.add_argument("--repeat", type=int, default=15, help="Requests per page.")

    def handle(self, *args, **options):
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            self.run(**options)

    def prepare(self, accounts: int, history_days: int) -> None:
        have = Account.objects.count()
        if have < accounts:
            self.stdout.write(f"Seeding {accounts - have:,} demo accounts…")
            call_command("seed_demo", accounts=accounts - have, verbosity=0)
        today = timezone.localdate()
        for back in range(history_days - 1, -1, -1):
            day = today - timedelta(days=back)
            if not HealthScore.objects.filter(scored_on=day).exists():
                started = time.perf_counter()
                scan_health(today=day)
                self.stdout.write(f"Scored {day} in {time.perf_counter() - started:.1f}s")
        # As the daily scan does when it has scored the whole book (csm.agent.health_scan).
        started = time.perf_counter()
        figures.keep(today=today, last_scan=last_daily_scan_start())
        self.stdout.write(f"Kept the book's figures in {time.perf_counter() - started:.2f}s")

    def run(self, *, accounts, history_days, repeat, **options):
        self.prepare(accounts, history_days)
        users = get_user_model().objects
        manager, _ = users.get_or_create(
            username="bench-manager", defaults={"is_staff": True, "is_superuser": True}
        )
        busiest = (
            Account.objects.exclude(owner=None).values("owner").annotate(n=Count("id")).order_by("-n").first()
        )
        csm = users.get(pk=busiest["owner"])
        if done := vacuum_analyze():
            self.stdout.write(done)
        self.stdout.write(
            f"Database: {connection.vendor}; {Account.objects.count():,} accounts; "
            f"CSM {csm.username} owns {busiest['n']:,}\n"
        )
        for who, user in (("CSM", csm), ("manager", manager)):
            client = Client()
            client.force_login(user)
            account_id = (
                Account.objects.visible_to(user)
                .order_by("rag", "health_score")
                .values_list("pk", flat=True)[0]
            )
            self.stdout.write(f"{who} ({user.username})")
            self.stdout.write(f"  {'page':<38} {'median':>8} {'p95':>8} {'queries':>8}")
            for name, url in pages(account_id).items():
                timings, counts = [], set()
                for _ in range(repeat):
                    counter = QueryCounter()
                    with connection.execute_wrapper(counter):
                        started = time.perf_counter()
                        response = client.get(url)
                        timings.append(time.perf_counter() - started)
                    counts.add(counter.count)
                    if response.status_code != 200:
                        raise SystemExit(f"{url} answered {response.status_code}")
                timings.sort()
                p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
                self.stdout.write(
                    f"  {name:<38} {statistics.median(timings) * 1000:>6.0f}ms {p95 * 1000:>6.0f}ms "
                    f"{'/'.join(map(str, sorted(counts))):>8}"
                )
