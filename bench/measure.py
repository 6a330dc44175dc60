"""What every benchmark command measures with: query counts and a fair PostgreSQL start."""

from __future__ import annotations

import threading
import time

from django.db import connection


def vacuum_analyze() -> str:
    """On PostgreSQL, VACUUM (ANALYZE) the database before timing reads; returns what was done.

    Each scan rewrites every account row and its score, leaving dead row
    versions behind. In production autovacuum clears them and refreshes the
    planner's statistics; where it is switched off (as on this machine's
    PostgreSQL) reads would be timed against a table several times its size
    with statistics from before the seed. SQLite, or inside a transaction (a
    test), where VACUUM cannot run: nothing to do.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return ""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return f"VACUUM (ANALYZE) first, as autovacuum would have: {time.perf_counter() - started:.1f} s"


def analyze(*tables: str) -> float:
    """On PostgreSQL, ANALYZE these tables as autoanalyze would as they grow (it is off on this
    machine, and a plan made for an empty table scans the whole grown one); returns the seconds."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0.0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")
    return time.perf_counter() - started


class QueryCounter:
    """An execute wrapper counting queries; safe to share with the write-behind thread, which runs
    the wrappers of the thread that handed it the writes (agents_core/write_behind.py)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)
