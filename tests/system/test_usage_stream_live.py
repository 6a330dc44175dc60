"""The usage stream as it runs: a web server and a q-cluster in their own processes, Segment's
library sending to the server. An accepted event reaches the account's signals, and its score,
within a minute, with nobody calling anything by hand.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from datetime import date

import pytest
from django.db import connection
from segment.analytics.client import Client

from tests.system.test_sqlite_lock import _finish, _manage

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="its own SQLite file and ORM broker (runs in the SQLite half of CI)"
)

SETUP = """
from csm.models import Account, EventMapping, Feature, TrackingSource
Account.objects.create(name="Acme", external_id="ACME-1", seats_purchased=20, seats_used=5)
feature = Feature.objects.get_or_create(key="reports", defaults={"name": "Reports"})[0]
EventMapping.objects.create(event="Report Exported", feature=feature)
source = TrackingSource(name="web")
print(source.new_key())
source.save()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_event_reaches_the_score_within_a_minute(tmp_path):
    db = tmp_path / "usage.sqlite3"
    _finish(_manage(db, "migrate", "--noinput", "-v", "0"))
    key = _finish(_manage(db, "shell", "-c", SETUP))[0].strip().splitlines()[-1]
    port = _free_port()
    web = _manage(db, "runserver", f"127.0.0.1:{port}", "--noreload", DEBUG="true")
    cluster = _manage(db, "qcluster", Q_WORKERS="1")
    try:
        deadline = time.monotonic() + 30
        while True:  # the server is up when it answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the web server did not start"
                time.sleep(0.2)
        client = Client(key, host=f"http://127.0.0.1:{port}/ingest/segment", sync_mode=True, gzip=True)
        client.group("u-1", "ACME-1")
        client.track("u-1", "Report Exported")
        sent = time.monotonic()
        reader = sqlite3.connect(db, timeout=30)
        while True:
            row = reader.execute(
                "SELECT s.last_login_on, s.sources, a.health_score, a.tracked_adoption_rate "
                "FROM csm_account a JOIN csm_accountsignals s ON s.account_id = a.id "
                "WHERE a.external_id = 'ACME-1'"
            ).fetchone()
            # The score is committed a moment before its run is marked done: wait for both.
            done = {
                task
                for (task,) in reader.execute(
                    "SELECT task_type FROM agents_core_agentrun WHERE status = 'succeeded'"
                ).fetchall()
            }
            if row and row[0] and row[2] is not None and {"rollup_usage", "rescore_changed"} <= done:
                break
            assert time.monotonic() - sent < 60, (
                "the event did not reach the signals and the score within a minute"
            )
            assert cluster.poll() is None and web.poll() is None, "the cluster or the server stopped"
            time.sleep(0.5)
        assert abs((date.today() - date.fromisoformat(row[0])).days) <= 1  # today, in the server's zone
        assert '"usage"' in row[1] and row[3] is not None
        failed = reader.execute(
            "SELECT count(*) FROM agents_core_agentrun WHERE status = 'failed'"
        ).fetchone()[0]
        assert failed == 0
    finally:
        for process in (web, cluster):
            process.terminate()
            try:
                process.wait(timeout=20)
            except Exception:
                process.kill()
