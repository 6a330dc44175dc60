"""Benchmark the usage stream: events accepted per second, and rolled up per second, against raw floors.

Ingest goes through Django's full request stack in-process (the tracking
view, write-key auth, JSON, the ingest service, the database) in batches as
the Segment libraries send them; the floor is the same rows inserted with
the database driver's `executemany` and nothing else. The rollup is
`rollup_pending` (what the q-cluster runs) until nothing waits; its floor is
one `INSERT ... SELECT ... GROUP BY` of the day totals. Both print
events/s, queries, the peak memory of this process, and the ratio to the
floor measured in the same run. Use a database of its own (`make
bench-usage` uses var/bench.sqlite3).
"""

from __future__ import annotations

import base64
import json
import resource
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from bench.measure import QueryCounter, vacuum_analyze
from csm.models import Account, RollupRequest, TrackingSource, UsageDay, UsageEvent
from csm.usage.rollup import rollup_pending


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Benchmark usage-event ingest and rollup against raw-driver floors."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=200_000)
        parser.add_argument("--accounts", type=int, default=10_000)
        parser.add_argument(
            "--batch", type=int, default=100, help="Messages per request (Segment's default)."
        )
        parser.add_argument("--days", type=int, default=30, help="Spread the events over this many days.")

    def handle(self, *args, **options):
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"], TEND_USAGE_ROLLUP_ON_INGEST=False):
            self.run(**options)

    def run(self, *, events, accounts, batch, days, **options):
        external_ids = self._accounts(accounts)
        source = TrackingSource.objects.filter(name="bench").first() or TrackingSource(name="bench")
        key = source.new_key()
        source.save()
        UsageEvent.objects.filter(source=source).delete()
        UsageDay.objects.all().delete()
        RollupRequest.objects.all().delete()
        if done := vacuum_analyze():
            self.stdout.write(done)
        self.stdout.write(f"Database: {connection.vendor}; {len(external_ids):,} accounts, {events:,} events")
        now = timezone.now()
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()

        def message(i: int) -> dict:
            return {
                "type": "track", "messageId": f"b-{i}", "userId": f"u-{i % (len(external_ids) * 5)}",
                "event": ("Report Exported", "Dashboard Viewed", "Alert Created")[i % 3],
                "timestamp": (now - timedelta(minutes=(i * 7) % (days * 1440))).isoformat(),
                "context": {"groupId": external_ids[i % len(external_ids)]},
            }  # fmt: skip

        client, counter = Client(), QueryCounter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            for start in range(0, events, batch):
                body = json.dumps({"batch": [message(i) for i in range(start, min(events, start + batch))]})
                response = client.post("/ingest/segment/v1/batch", body, content_type="application/json",
                                       HTTP_AUTHORIZATION=auth)  # fmt: skip
                if response.status_code != 200:
                    raise RuntimeError(f"ingest answered {response.status_code}: {response.content[:300]!r}")
        ingest = time.perf_counter() - started
        requests = -(-events // batch)
        ingest_queries = counter.count
        ingest_peak = _peak_mb()

        # The floor: the same rows, inserted by the driver and nothing else.
        floor_rows = [
            (source.pk, f"f-{i}", "track", m["event"], m["userId"], "", m["context"]["groupId"], None,
             m["timestamp"], now.isoformat(), "{}")
            for i, m in ((i, message(i)) for i in range(events))
        ]  # fmt: skip
        table = UsageEvent._meta.db_table
        columns = "source_id, message_id, type, event, user_id, anonymous_id, group_id, account_id, " \
                  "happened_at, received_at, properties"  # fmt: skip
        placeholders = ", ".join(["%s"] * 11)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for start in range(0, events, batch):
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
                                   floor_rows[start : start + batch])  # fmt: skip
        ingest_floor = time.perf_counter() - started
        UsageEvent.objects.filter(message_id__startswith="f-").delete()
        del floor_rows

        counter = QueryCounter()
        started = time.perf_counter()
        runs = 0
        with connection.execute_wrapper(counter):
            while RollupRequest.objects.exists():
                rollup_pending()
                runs += 1
        rollup = time.perf_counter() - started
        rolled_days = UsageDay.objects.count()

        started = time.perf_counter()
        day = (
            "date(happened_at)" if connection.vendor == "sqlite" else "(happened_at AT TIME ZONE 'UTC')::date"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE floor_days (account_id bigint, day date, users int, events int)"
            )
            cursor.execute(
                f"INSERT INTO floor_days SELECT account_id, {day}, COUNT(DISTINCT user_id), COUNT(*) "
                f"FROM {table} WHERE source_id = %s GROUP BY account_id, {day}",
                [source.pk],
            )
            cursor.execute("DROP TABLE floor_days")
        rollup_floor = time.perf_counter() - started

        self.stdout.write(
            f"Ingest: {events / ingest:,.0f} events/s through the tracking view ({requests:,} requests of "
            f"{batch}, {ingest_queries / requests:.1f} queries each); "
            f"floor {events / ingest_floor:,.0f} events/s (driver executemany): "
            f"{ingest / ingest_floor:.2f}x the floor. Peak memory {ingest_peak:.0f} MB."
        )
        self.stdout.write(
            f"Rollup: {events / rollup:,.0f} events/s into {rolled_days:,} account-days "
            f"({rolled_days / rollup:,.0f} account-days/s, {runs} runs, "
            f"{counter.count:,} queries); floor {events / rollup_floor:,.0f} events/s (one GROUP BY): "
            f"{rollup / rollup_floor:.2f}x the floor. Peak memory {_peak_mb():.0f} MB."
        )

    def _accounts(self, n: int) -> list[str]:
        have = list(Account.objects.order_by("pk").values_list("external_id", flat=True)[:n])
        if len(have) < n:
            Account.objects.bulk_create(
                [Account(name=f"Usage {i}", external_id=f"USG-{i:07d}") for i in range(len(have), n)],
                batch_size=2000,
                ignore_conflicts=True,
            )
            have = list(Account.objects.order_by("pk").values_list("external_id", flat=True)[:n])
        return have
