"""Benchmark the usage stream: events accepted per second by a web worker, and stored and rolled up
per second by a q-cluster worker, each against a raw-driver floor measured in the same run.

Ingest goes through Django's full request stack in-process (the tracking
view, write-key auth, JSON, every message checked, the batch written, the
rollup run queued as in production) in batches as the Segment libraries send
them; its floor is the driver inserting the same bodies, one row and one
commit per request (a request must be durable before it answers). The
worker is `rollup_pending` (what the q-cluster runs) until nothing waits:
storing the events (deduplicated, tied to accounts), the day rollups and the
derived signals; its floor is the driver inserting the same event rows with
`executemany` and one `INSERT ... SELECT ... GROUP BY` of the day totals.

The events are spread as a product sends them: `--events` over `--accounts`
accounts and `--days` days, five users an account, one call in fifty a
`group`. Bodies are built outside the timed part (that is the client's
work), a few hundred requests at a time, so memory does not grow with
`--events`. Use a database of its own (`make bench-usage` uses
var/bench.sqlite3).
"""

from __future__ import annotations

import base64
import io
import json
import resource
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from agents_core.models import AgentRun
from bench.measure import QueryCounter, analyze, vacuum_analyze
from csm.models import (
    Account,
    AccountSignals,
    EventMapping,
    Feature,
    FeatureUsage,
    IngestBatch,
    RollupRequest,
    TrackedUser,
    TrackingSource,
    UsageDay,
    UsageEvent,
)
from csm.usage.rollup import rollup_pending

REQUESTS_BUILT_AT_ONCE = 500


def _wsgi_post(auth: str):
    """POST a body to the tracking endpoint through Django's WSGI handler, as a WSGI server does.

    Not Django's test Client: it connects four signal receivers a request whose finalizers are
    never released (about 1.5 KB a request, measured with tracemalloc), which read as memory
    growing with the number of events.
    """
    app = WSGIHandler()

    def post(body: str) -> tuple[int, bytes]:
        data = body.encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/ingest/segment/v1/batch", "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(data)),
            "HTTP_AUTHORIZATION": auth, "REMOTE_ADDR": "127.0.0.1",
        }  # fmt: skip
        started: list[str] = []
        response = app(environ, lambda status, headers, exc_info=None: started.append(status))
        try:
            answer = b"".join(response)
        finally:
            response.close()
        return int(started[0].split()[0]), answer

    return post


@contextmanager
def _connection_kept_if_in_a_test():
    """Inside a test's transaction (the benchmark's own test), keep the connection across requests
    as Django's test Client does: closing "old" connections at each request would close the one
    holding that transaction. Run as a command, requests close them as a server's do."""
    in_test = connection.in_atomic_block
    if in_test:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        if in_test:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def work_waits() -> bool:
    return IngestBatch.objects.filter(failed_at__isnull=True).exists() or RollupRequest.objects.exists()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Benchmark usage-event ingest, storing and rollup against raw-driver floors."

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=200_000)
        parser.add_argument("--accounts", type=int, default=10_000)
        parser.add_argument(
            "--batch", type=int, default=100, help="Messages per request (the Segment libraries' default)."
        )
        parser.add_argument("--days", type=int, default=30, help="Spread the events over this many days.")

    def handle(self, *args, **options):
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"], TEND_USAGE_ROLLUP_ON_INGEST=True):
            self.run(**options)

    def run(self, *, events, accounts, batch, days, **options):
        external_ids = self._accounts(accounts)
        source = TrackingSource.objects.filter(name="bench").first() or TrackingSource(name="bench")
        key = source.new_key()
        source.save()
        floor_source = TrackingSource.objects.filter(name="bench floor").first()
        if floor_source is None:
            floor_source = TrackingSource(name="bench floor")
            floor_source.new_key()
            floor_source.save()
        for model in (UsageEvent, IngestBatch, TrackedUser):
            model.objects.filter(source__in=[source, floor_source]).delete()
        for event, slug in (("Report Exported", "reports"), ("Dashboard Viewed", "dashboards")):
            feature = Feature.objects.get_or_create(key=slug, defaults={"name": slug.title()})[0]
            EventMapping.objects.get_or_create(event=event, defaults={"feature": feature})
        UsageDay.objects.all().delete()
        RollupRequest.objects.all().delete()
        AgentRun.objects.filter(task_type="rollup_usage", status=AgentRun.Status.QUEUED).delete()
        if done := vacuum_analyze():
            self.stdout.write(done)
        self.stdout.write(
            f"Database: {connection.vendor}; {len(external_ids):,} accounts, "
            f"{events:,} events over {days} days"
        )
        now = timezone.now()
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        n_accounts, span = len(external_ids), days * 1440

        def message(i: int, prefix: str = "b") -> dict:
            account = i % n_accounts
            user = f"u-{account}-{(i // n_accounts) % 5}"
            common = {"messageId": f"{prefix}-{i}", "userId": user,
                      "timestamp": (now - timedelta(minutes=(i * 7919) % span)).isoformat()}  # fmt: skip
            if i % 50 == 0:
                return {
                    **common,
                    "type": "group",
                    "groupId": external_ids[account],
                    "traits": {"plan": "pro"},
                }
            return {**common, "type": "track", "context": {"groupId": external_ids[account]},
                    "event": ("Report Exported", "Dashboard Viewed", "Alert Created")[i % 3],
                    "properties": {"format": "csv", "rows": i % 500}}  # fmt: skip

        def bodies():
            """(count, body) per request, built a few hundred requests at a time."""
            step = batch * REQUESTS_BUILT_AT_ONCE
            for chunk in range(0, events, step):
                ranges = [
                    range(s, min(events, s + batch)) for s in range(chunk, min(events, chunk + step), batch)
                ]
                yield [
                    (len(r), json.dumps({"batch": [message(i) for i in r], "sentAt": now.isoformat()}))
                    for r in ranges
                ]

        post, counter = _wsgi_post(auth), QueryCounter()
        ingest = 0.0
        requests, ingest_bytes = 0, 0
        with connection.execute_wrapper(counter), _connection_kept_if_in_a_test():
            for built in bodies():
                started = time.perf_counter()
                for _n, body in built:
                    status, answer = post(body)
                    if status != 200:
                        raise RuntimeError(f"ingest answered {status}: {answer[:300]!r}")
                ingest += time.perf_counter() - started
                requests += len(built)
                ingest_bytes += sum(len(body) for _n, body in built)
        ingest_queries = counter.count
        ingest_peak = _peak_mb()

        # The ingest floor: the same bodies, one row and one commit each, by the driver.
        table = IngestBatch._meta.db_table
        ingest_floor = 0.0
        with connection.cursor() as cursor:
            for built in bodies():
                started = time.perf_counter()
                for n, body in built:
                    with transaction.atomic():
                        cursor.execute(
                            f"INSERT INTO {table} (source_id, received_at, size, messages, error) "
                            "VALUES (%s, %s, %s, %s, '')",
                            [floor_source.pk, now.isoformat(), n, body],
                        )
                ingest_floor += time.perf_counter() - started
            cursor.execute(
                f"DELETE FROM {table} WHERE source_id = %s", [floor_source.pk]
            )  # not for the worker

        counter = QueryCounter()
        started = time.perf_counter()
        runs, analyzing = 0, 0.0
        tables = [m._meta.db_table for m in (UsageEvent, RollupRequest, UsageDay, IngestBatch)]
        with connection.execute_wrapper(counter):
            while work_waits():
                rollup_pending()
                runs += 1
                analyzing += analyze(*tables)  # not the worker's work: left out of its time
        worker = time.perf_counter() - started - analyzing
        worker_peak = _peak_mb()
        stored = UsageEvent.objects.filter(source=source).count()
        rolled_days = UsageDay.objects.count()
        if stored != events:
            raise RuntimeError(f"{stored:,} events stored of {events:,} sent")

        analyze(*tables)
        # The worker's floor: the same event rows inserted by the driver, then one GROUP BY.
        events_table = UsageEvent._meta.db_table
        columns = "source_id, message_id, type, event, user_id, anonymous_id, group_id, account_id, " \
                  "happened_at, day, hour, received_at, properties"  # fmt: skip
        account_pk = dict(
            Account.objects.filter(external_id__in=external_ids).values_list("external_id", "pk")
        )
        worker_floor = 0.0
        with connection.cursor() as cursor:
            for start in range(0, events, 5_000):
                rows = []
                for i in range(start, min(events, start + 5_000)):
                    m = message(i, "f")
                    group = m.get("groupId") or m["context"]["groupId"]
                    local = timezone.localtime(datetime.fromisoformat(m["timestamp"]))
                    rows.append((source.pk, m["messageId"], m["type"], m.get("event", ""), m["userId"], "",
                                 group, account_pk[group], m["timestamp"], local.date().isoformat(),
                                 local.hour, now.isoformat(),
                                 json.dumps(m.get("properties") or m.get("traits"))))  # fmt: skip
                begun = time.perf_counter()
                with transaction.atomic():
                    cursor.executemany(
                        f"INSERT INTO {events_table} ({columns}) VALUES ({', '.join(['%s'] * 13)})", rows
                    )
                worker_floor += time.perf_counter() - begun
            begun = time.perf_counter()
            with transaction.atomic():
                cursor.execute(
                    "CREATE TEMP TABLE floor_days (account_id bigint, day date, users int, events int)"
                )
                cursor.execute(
                    "INSERT INTO floor_days SELECT account_id, day, COUNT(DISTINCT user_id), COUNT(*) "
                    f"FROM {events_table} WHERE source_id = %s AND message_id LIKE 'f-%%' "
                    "GROUP BY account_id, day",
                    [source.pk],
                )
                cursor.execute("DROP TABLE floor_days")
            worker_floor += time.perf_counter() - begun
        UsageEvent.objects.filter(source=source, message_id__startswith="f-").delete()

        self.stdout.write(
            f"Ingest (one web worker): {events / ingest:,.0f} events/s through the tracking view "
            f"({requests:,} requests of {batch}, {requests / ingest:,.0f}/s, "
            f"{ingest_bytes / requests / 1024:.1f} KB each, {ingest_queries / requests:.1f} queries each); "
            f"floor {events / ingest_floor:,.0f} events/s (driver, one insert and commit a request): "
            f"{ingest / ingest_floor:.2f}x the floor. Peak memory {ingest_peak:.0f} MB."
        )
        self.stdout.write(
            f"Worker (one q-cluster worker): {events / worker:,.0f} events/s stored and rolled up into "
            f"{rolled_days:,} account-days ({runs} runs, {counter.count:,} queries); floor "
            f"{events / worker_floor:,.0f} events/s (driver executemany of the events, one GROUP BY): "
            f"{worker / worker_floor:.2f}x the floor. Peak memory {worker_peak:.0f} MB."
        )
        signals = AccountSignals.objects.filter(sources__usage_trend__source="usage").count()
        features = FeatureUsage.objects.filter(source="usage").count()
        self.stdout.write(f"Derived: usage trend for {signals:,} accounts, {features:,} feature usages.")

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
