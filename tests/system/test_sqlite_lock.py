"""A SQLite database locked by another process in the middle of a scan: waited for, not fatal.

The scan runs in a real process (`manage.py run_agent`) on a database file of
its own, with a 1-second busy timeout; the test takes the write lock for 4
seconds while it runs. The scan's batches hit "database is locked", back off,
and go on once the lock is released: the run succeeds with every account
scored once.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.paths import ROOT

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the embedded database's lock (runs in the SQLite half of CI)"
)


def _manage(db: Path, *args: str, **env: str) -> subprocess.Popen:
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{db}",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, timeout: float = 180) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out, err


def test_a_scan_waits_out_a_locked_database(tmp_path):
    db = tmp_path / "locked.sqlite3"
    _finish(_manage(db, "migrate", "--noinput", "-v", "0"))
    _finish(_manage(db, "seed_demo", "--accounts", "4000"))
    scan = _manage(
        db,
        "run_agent",
        "csm",
        "health_scan",
        SQLITE_BUSY_TIMEOUT="1",
        TEND_SCAN_BATCH_SIZE="50",
        TEND_DB_RETRY_SECONDS="30",
    )
    other = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        deadline = time.monotonic() + 120
        while other.execute("SELECT count(*) FROM csm_healthscore").fetchone()[0] == 0:
            assert scan.poll() is None, "the scan ended before the database could be locked"
            assert time.monotonic() < deadline, "the scan never started scoring"
            time.sleep(0.02)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the database ...
        held_at = other.execute("SELECT count(*) FROM csm_healthscore").fetchone()[0]
        time.sleep(4)  # ... for four times the busy timeout
        other.execute("COMMIT")
        out, err = _finish(scan)
        scannable, scored, doubled = other.execute(
            "SELECT (SELECT count(*) FROM csm_account WHERE status <> 'churned'),"
            " (SELECT count(*) FROM csm_healthscore),"
            " (SELECT count(*) FROM (SELECT account_id FROM csm_healthscore"
            "   GROUP BY account_id, scored_on HAVING count(*) > 1))"
        ).fetchone()
    finally:
        other.close()
        if scan.poll() is None:
            scan.kill()
    assert "health_scan succeeded" in out
    assert "database is locked" in err  # the lock was hit, and waited out
    assert 0 < held_at < scannable  # it was locked in the middle of the scan
    assert scored == scannable and doubled == 0
