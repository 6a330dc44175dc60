"""Benchmark the API: bulk signal ingestion (rows/s) and list-endpoint latency.

Runs requests in-process through Django's full request stack (middleware,
auth, DRF, the database), so the figures are the server's own cost without
a network. Use a database of its own: `make bench-api` seeds var/bench.sqlite3.
"""

from __future__ import annotations

import json
import statistics
import time

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import override_settings

from bench.measure import QueryCounter, vacuum_analyze
from csm.models import Account

LIST_QUERIES = {
    "accounts, first page": {},
    "accounts, RED by score": {"rag": "RED", "ordering": "-health_score"},
    "accounts, search": {"search": "Northwind"},
    "accounts, renewing soon": {"renewal_before": "2027-01-31", "ordering": "renewal_date"},
}


class Command(BaseCommand):
    help = "Benchmark bulk signal ingestion and list-endpoint latency."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--rows-per-request", type=int, default=10_000)
        parser.add_argument("--requests", type=int, default=5)
        parser.add_argument("--repeat", type=int, default=20, help="Requests per list query.")

    def handle(self, *args, **options):
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            self.run(**options)

    def run(self, *, accounts, rows_per_request, requests, repeat, **options):
        have = Account.objects.count()
        if have < accounts:
            self.stdout.write(f"Seeding {accounts - have:,} demo accounts…")
            call_command("seed_demo", accounts=accounts - have, verbosity=0)
        user, _ = get_user_model().objects.get_or_create(
            username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client()
        client.force_login(user)
        external_ids = list(Account.objects.order_by("pk").values_list("external_id", flat=True))
        if done := vacuum_analyze():
            self.stdout.write(done)
        self.stdout.write(f"Database: {connection.vendor}; {len(external_ids):,} accounts\n")

        # Bulk ingestion: consecutive slices of the book, each one request.
        timings, queries = [], []
        for i in range(requests):
            chunk = external_ids[i * rows_per_request : (i + 1) * rows_per_request]
            if not chunk:
                break
            body = json.dumps(
                [
                    {
                        "external_id": ext,
                        "usage_trend": "stable",
                        "open_ticket_count": n % 9,
                        "nps_score": n % 11,
                    }
                    for n, ext in enumerate(chunk)
                ]
            )
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                response = client.post("/api/v1/signals/bulk/", body, content_type="application/json")
                timings.append((time.perf_counter() - started, len(chunk)))
            queries.append(counter.count)
            if response.status_code != 200:
                self.stderr.write(f"bulk request failed: {response.status_code} {response.content[:300]!r}")
                return
        rows = sum(n for _t, n in timings)
        seconds = sum(t for t, _n in timings)
        self.stdout.write(
            f"Bulk signals: {rows:,} rows in {len(timings)} requests of {rows_per_request:,}: "
            f"{rows / seconds:,.0f} rows/s, {seconds / len(timings) * 1000:,.0f} ms per request, "
            f"{max(queries)} queries per request (body {len(body) / 1e6:.1f} MB)\n"
        )

        self.stdout.write(f"{'List endpoint (page of 50)':32}{'median ms':>11}{'p95 ms':>9}{'queries':>9}")
        middle = max(1, len(external_ids) // 50 // 2)
        for label, params in {**LIST_QUERIES, f"accounts, page {middle} (middle)": {"page": middle}}.items():
            samples, counts = [], []
            for _ in range(repeat):
                counter = QueryCounter()
                with connection.execute_wrapper(counter):
                    started = time.perf_counter()
                    response = client.get("/api/v1/accounts/", params)
                    samples.append((time.perf_counter() - started) * 1000)
                counts.append(counter.count)
                assert response.status_code == 200, response.content[:300]
            samples.sort()
            p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
            self.stdout.write(f"{label:32}{statistics.median(samples):>11.1f}{p95:>9.1f}{max(counts):>9}")
