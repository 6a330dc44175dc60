"""What every benchmark command measures with: query counts, a fair PostgreSQL start, busy CPU."""

from __future__ import annotations

import os
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


class BusyCPU:
    """The CPU time the whole machine spent busy while it was running: every process's, the database
    server's and Redis's as well as ours, read off /proc/stat (Linux; elsewhere `seconds` is None).

    What a benchmark on one machine cannot get past: work that keeps every core busy is done no
    sooner by more workers. `cores` is how many were busy on average, `bound` the least time
    `os.cpu_count()` cores could have taken for the same CPU time.

        with BusyCPU() as cpu:
            work()
        cpu.seconds, cpu.cores, cpu.bound
    """

    STAT = "/proc/stat"

    def __init__(self) -> None:
        self.seconds: float | None = None
        self.wall = 0.0
        self._busy = self._started = None

    @classmethod
    def _read(cls) -> float | None:
        """Busy seconds since boot: every kind of CPU time but idle and waiting for I/O."""
        try:
            with open(cls.STAT) as stat:
                ticks = [int(n) for n in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        if len(ticks) < 5:
            return None
        # user nice system idle iowait irq softirq steal (guest and guest_nice are in user already)
        busy = sum(ticks[:8]) - ticks[3] - ticks[4]
        return busy / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> BusyCPU:
        self._busy, self._started = self._read(), time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall = time.perf_counter() - self._started
        now = self._read()
        self.seconds = None if now is None or self._busy is None else now - self._busy

    @property
    def cores(self) -> float | None:
        return None if self.seconds is None or not self.wall else self.seconds / self.wall

    @property
    def bound(self) -> float | None:
        return None if self.seconds is None else self.seconds / (os.cpu_count() or 1)

    def words(self) -> str:
        """'8.3 CPU-seconds, 1.7 of 2 cores busy', or '' where it cannot be read."""
        if self.seconds is None:
            return ""
        return f"{self.seconds:.1f} CPU-seconds, {self.cores:.2f} of {os.cpu_count()} cores busy"


class SessionCPU:
    """The CPU time one session's processes spent over a stretch: a process started in a session of
    its own (`start_new_session=True`, its pid the session's id) and every process it starts, read
    off /proc/<pid>/stat (Linux; elsewhere `seconds` is None).

    What a benchmark's workers cost apart from the database and Redis that share their machine
    (BusyCPU counts all three). A child that exits meanwhile is counted once: its time moves to its
    parent's count of waited-for children, which is summed too.

        with SessionCPU(cluster.pid) as workers:
            run()
        workers.seconds
    """

    PROC = "/proc"

    def __init__(self, session: int) -> None:
        self.session = session
        self.seconds: float | None = None
        self._start: float | None = None

    def _read(self) -> float | None:
        """The session's processes' CPU seconds so far, their waited-for children's included; None
        where /proc cannot be read or holds none of the session's processes."""
        ticks, found = 0, False
        try:
            entries = [entry.name for entry in os.scandir(self.PROC) if entry.name.isdigit()]
        except OSError:
            return None
        for pid in entries:
            try:
                with open(os.path.join(self.PROC, pid, "stat")) as stat:
                    text = stat.read()
                # The command name, in parentheses, may hold spaces and parentheses of its own.
                fields = text[text.rindex(")") + 2 :].split()
                if int(fields[3]) != self.session:
                    continue
                # utime stime cutime cstime
                ticks += sum(int(n) for n in fields[11:15])
                found = True
            except (OSError, ValueError, IndexError):
                continue  # gone since the listing, or not a stat file this reads
        return ticks / os.sysconf("SC_CLK_TCK") if found else None

    def __enter__(self) -> SessionCPU:
        self._start = self._read()
        return self

    def __exit__(self, *exc_info) -> None:
        now = self._read()
        self.seconds = None if now is None or self._start is None else now - self._start
