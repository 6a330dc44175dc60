"""Write-behind: a batch's writes commit on a second connection while the worker goes on to the next.

On PostgreSQL a batch of the scan is about half the worker's own CPU (reading the rows, scoring
them) and half the server's (the `COPY`s, the upsert, the update, the commit), one after the other
on one connection. With the writes handed to a thread of their own, which has its own connection
(Django's connections are per thread), the server writes batch N while the worker reads and scores
batch N+1: one worker keeps the database's core busy as well as its own. At most one batch's writes
are in flight; handing over the next waits for them, so a slow database holds the worker back
rather than piling batches up in memory.

Batches never depend on each other's writes (they are disjoint ranges of keys, and the fan-out
already runs them on many workers at once), so writing one behind the next changes nothing they
see. What each write does on failure is the caller's: `submit` takes the whole step (the writes,
the batch marked done, a failure recorded), and an exception it lets out is raised again by the
next `submit` or `wait`.

Used where one worker does a run's batches alone: a scan in the process (`fanout.run_locally`)
and a run's coordinator that has no helpers (`TEND_PARALLELISM` 1). With helpers, the workers
already overlap one another's reads and writes, and a second thread each only added contention
(measured on 2 cores, docs/performance.md).

Off (the writes run in place, in the caller's thread) on SQLite, which has one writer at a time and
where the thread only adds the GIL's hand-offs (measured slower, docs/performance.md); inside a
transaction, whose writes belong to it (a second connection would not see its rows); and when
`TEND_WRITE_BEHIND` is off.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack

from django.conf import settings
from django.db import connection, connections


class WriteBehind:
    """Use as a context manager: leaving it waits for the last writes and closes the thread's connection."""

    def __init__(self, *, wanted: bool = True) -> None:
        """`wanted=False` where it cannot help (a single batch, or helpers sharing the run): no
        thread, no second connection, the writes in place."""
        self.enabled = bool(
            wanted
            and settings.TEND_WRITE_BEHIND
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        )
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="tend-write-behind") if self.enabled else None
        self._pending: Future | None = None

    def submit(self, write: Callable[[], None]) -> None:
        """Run `write`: behind, once the previous one is done; or here and now when off."""
        if self._pool is None:
            write()
            return
        self.wait()
        self._pending = self._pool.submit(_wrapped, write, list(connection.execute_wrappers))

    def wait(self) -> None:
        """Until the writes handed over are done; raises what they raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.submit(connections.close_all).result()  # the writer thread's own connection
                self._pool.shutdown()


def _wrapped(write: Callable[[], None], wrappers: list) -> None:
    """`write` on this thread's connection, under the execute wrappers of the thread that handed it
    over (a query counter, a tracer): its queries are seen as they would be were it run in place."""
    with ExitStack() as stack:
        for wrapper in wrappers:
            stack.enter_context(connection.execute_wrapper(wrapper))
        write()
