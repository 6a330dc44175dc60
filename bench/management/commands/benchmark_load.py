"""API reads under concurrent load: gunicorn with the production settings, wrk on loopback.

Starts gunicorn on this database (DEBUG off, as in production), gives a
manager an API token, and drives each endpoint with wrk for a while with
several connections, printing p50/p95/p99. `make bench-load` runs it on
var/bench.sqlite3 (BENCH_ACCOUNTS accounts, seeded if needed).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Max, Min

from agents_core.models import ApiToken
from bench.measure import vacuum_analyze
from csm.models import Account

SCRIPT = Path(settings.BASE_DIR) / "bench" / "wrk_report.lua"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = "API p50/p95/p99 under concurrent load (gunicorn + wrk on loopback)."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=100_000)
        parser.add_argument("--seconds", type=int, default=15)
        parser.add_argument(
            "--connections",
            default="2,8",
            help="Concurrent connections, one run per value (comma separated).",
        )
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (one per core)")

    def handle(self, *args, accounts, seconds, connections, workers, **options):
        wrk = shutil.which("wrk")
        if not wrk:
            raise CommandError(
                "wrk is not installed (Debian: apt-get install wrk; `make bench-load` does it)."
            )
        levels = [int(c) for c in str(connections).split(",")]
        if Account.objects.count() < accounts:
            self.stdout.write(f"Seeding {accounts - Account.objects.count():,} demo accounts…")
            call_command("seed_demo", accounts=accounts - Account.objects.count(), verbosity=0)
        if not Account.objects.exclude(scored_at=None).exists():
            call_command("run_agent", "csm", "health_scan", verbosity=0)
        manager, _ = get_user_model().objects.get_or_create(
            username="bench-manager", defaults={"is_staff": True, "is_superuser": True}
        )
        _token, token = ApiToken.objects.create(manager, name="benchmark_load")
        if done := vacuum_analyze():
            self.stdout.write(done)
        ids = Account.objects.aggregate(first=Min("pk"), last=Max("pk"))
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "benchmark-only-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "API_THROTTLE_RATE": "1000000/minute",
            "LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--access-logfile", "/dev/null"],
            cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            self._wait(base)
            self.stdout.write(
                f"Database: {connection.vendor}; {Account.objects.count():,} accounts; "
                f"gunicorn {workers} workers; {seconds}s per endpoint after a 3s warm-up"
            )
            for level in levels:
                self._level(wrk, base, ids, token, seconds, level)  # knox gives the key as a string
        finally:
            server.terminate()
            server.wait(timeout=30)

    def _level(self, wrk, base, ids, token, seconds, connections) -> None:
        # wrk corrects its latency record for coordinated omission: a request that stalled for
        # a second stands for the requests it held up, so one stall can lift p95 and p99. The
        # max says whether a tail is one stall or many slow requests.
        self.stdout.write(f"\n{connections} concurrent connection(s)")
        self.stdout.write(
            f"  {'endpoint':<34} {'req/s':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'errors':>7}"
        )
        for name, path in (
            ("account list", "/api/v1/accounts/"),
            ("account list, RED by score", "/api/v1/accounts/?rag=RED&ordering=health_score"),
            ("account detail", "/api/v1/accounts/{id}/"),
            ("health history", "/api/v1/accounts/{id}/health/"),
        ):
            result = self._wrk(wrk, base, path, ids, token, seconds, connections)
            rate = result["requests"] / result["seconds"]
            errors = result["errors"] + result["non2xx"]
            self.stdout.write(
                f"  {name:<34} {rate:>8.0f} {result['p50_ms']:>6.1f}ms {result['p95_ms']:>6.1f}ms "
                f"{result['p99_ms']:>6.1f}ms {result['max_ms']:>6.0f}ms {errors:>7}"
            )

    def _wait(self, base: str) -> None:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise CommandError("gunicorn did not start")

    def _wrk(self, wrk, base, path, ids, token, seconds, connections) -> dict:
        # Warm up (connections, caches), then measure.
        template = path
        args = [
            wrk,
            "-t",
            str(min(2, connections)),  # wrk needs at least one connection per thread
            "-c",
            str(connections),
            "-H",
            f"Authorization: Token {token}",
            "-s",
            str(SCRIPT),
        ]
        target = base + path.replace("{id}", str(ids["first"]))
        tail = ["--", template, str(ids["first"]), str(ids["last"])]
        subprocess.run([*args, "-d", "3s", target, *tail], capture_output=True, text=True, check=True)
        done = subprocess.run(
            [*args, "-d", f"{seconds}s", target, *tail], capture_output=True, text=True, check=True
        )
        line = [ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1]
        return json.loads(line)
