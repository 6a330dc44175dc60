"""Write-behind: a batch's writes commit on connections of their own while the worker goes on to the next.

On PostgreSQL a batch of the scan is about half the worker's own CPU (reading the rows, scoring
them) and half the server's (the `COPY`s, the upsert, the update, the commit), one after the other
on one connection. With the writes handed to threads of their own, each with its own connection
(Django's connections are per thread), the server writes batch N while the worker reads and scores
batch N+1. Up to `IN_FLIGHT` batches' writes are in flight, one per writer: with one, the server's
side of a batch took longer than the worker's and the worker waited for it; with two, the server
works on two batches at once on a second core (docs/performance.md). Handing over one more waits for
the oldest, so a slow database holds the worker back rather than piling batches up in memory.

Batches never depend on each other's writes (they are disjoint ranges of keys, and the fan-out
already runs them on many workers at once), so writing them behind, and committing them in any
order, changes nothing they see. What each write does on failure is the caller's: `submit` takes
the whole step (the writes, the batch marked done, a failure recorded), and an exception it lets
out is raised again by a later `submit` or by `wait`.

**Commits do not wait for the disk.** A writer's connection commits with `synchronous_commit` off:
the commit returns before its WAL is flushed (the WAL writer flushes within a fraction of a second).
A crash of the database in that moment can lose the last batches committed, never part of one, and
never leaves the database inconsistent. Nothing lost goes unnoticed:

- a batch's writes commit with its mark as done, so a batch lost that way is still open and is
  done again (the fan-out's claims time out);
- a writer whose connection is opened again (its writes' retries drop a broken one) raises
  `WritesMayBeLost` at its next batch or on leaving, rather than carrying on;
- leaving `WriteBehind` flushes: each writer makes one last commit that waits for the disk, which
  waits for the WAL of every commit before it. Once leaving has returned, every batch written is on
  disk.

The commits waited for the disk 0.5-2.5 s per 100,000 accounts (docs/performance.md).

Used where one worker does a run's batches alone: a scan in the process (`fanout.run_locally`)
and a run's coordinator that has no helpers (`TEND_PARALLELISM` 1). With helpers, the workers
already overlap one another's reads and writes, and writer threads each only added contention
(measured on 2 cores, docs/performance.md).

Off (the writes run in place, in the caller's thread, committing as usual) on SQLite, which has one
writer at a time and where the thread only adds the GIL's hand-offs (measured slower,
docs/performance.md); inside a transaction, whose writes belong to it (a second connection would
not see its rows); and when `TEND_WRITE_BEHIND` is off.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

logger = logging.getLogger(__name__)

# Batches whose writes may be in flight at once, each on a writer of its own. Measured on 2 cores
# (docs/performance.md): two were 10-13% faster than one; each is one more connection.
IN_FLIGHT = 2


class _Session(threading.local):
    raw = None  # the writer thread's database session set to commit without waiting


_session = _Session()


class WriteBehind:
    """Use as a context manager: leaving it waits for the last writes, makes them durable and closes
    the writers' connections."""

    def __init__(self, *, wanted: bool = True) -> None:
        """`wanted=False` where it cannot help (a single batch, or helpers sharing the run): no
        threads, no more connections, the writes in place."""
        self.enabled = bool(
            wanted
            and settings.TEND_WRITE_BEHIND
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        )
        # One single-thread pool per writer, used in turn: a writer has one batch at most, and its
        # thread keeps its own connection from batch to batch.
        self._writers = (
            [ThreadPoolExecutor(1, thread_name_prefix=f"tend-write-behind-{n}") for n in range(IN_FLIGHT)]
            if self.enabled
            else []
        )
        self._turn = 0
        self._pending: deque[Future] = deque()

    def submit(self, write: Callable[[], None]) -> None:
        """Run `write`: behind, once a writer is free; or here and now when off."""
        if not self._writers:
            write()
            return
        if len(self._pending) == len(self._writers):
            self._pending.popleft().result()  # the oldest, on the writer whose turn it is
        writer = self._writers[self._turn]
        self._turn = (self._turn + 1) % len(self._writers)
        self._pending.append(writer.submit(_wrapped, write, list(connection.execute_wrappers)))

    def wait(self) -> None:
        """Until every write handed over is done; raises the first of what they raised."""
        first_error: BaseException | None = None
        while self._pending:
            try:
                self._pending.popleft().result()
            except BaseException as exc:  # every write is waited for before raising
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc_info) -> None:
        errors: list[BaseException] = []
        try:
            self.wait()
        finally:
            for writer in self._writers:
                flushed = writer.submit(_flush_and_close)
                writer.shutdown()
                if flushed.exception() is not None:
                    errors.append(flushed.exception())
        if errors and exc_info[0] is None:
            raise errors[0]


class WritesMayBeLost(RuntimeError):
    """A writer's connection was lost while its last commits may not have reached the disk."""

    def __init__(self) -> None:
        super().__init__(
            "The connection to the database was lost while the last batches' commits may not have "
            "reached its disk (a restart of the database loses them). Run the work again: it writes "
            "each batch once, whatever was kept."
        )


def _wrapped(write: Callable[[], None], wrappers: list) -> None:
    """`write` on this thread's connection, under the execute wrappers of the thread that handed it
    over (a query counter, a tracer): its queries are seen as they would be were it run in place."""
    _commit_without_waiting()  # the writer's own set-up, not one of the batch's queries
    with ExitStack() as stack:
        for wrapper in wrappers:
            stack.enter_context(connection.execute_wrapper(wrapper))
        write()


def _commit_without_waiting() -> None:
    """This thread's session commits without waiting for the WAL flush, set once per session.

    A session opened again (the write's retries drop a broken connection) after commits that did not
    wait may have lost them: that raises WritesMayBeLost rather than carrying on. Failing to set it
    costs only speed: the write goes on, and meets the outage, if it is one, under its own retries.
    """
    try:
        connection.ensure_connection()
    except DatabaseError:
        return
    if connection.connection is _session.raw:
        return
    if _session.raw is not None:
        _session.raw = None
        raise WritesMayBeLost
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
    except DatabaseError:
        logger.warning("Could not set the writer's commits not to wait; they will wait.", exc_info=True)
        return
    _session.raw = connection.connection


def _flush_and_close() -> None:
    """Make every commit of this writer durable, then close its connection.

    A commit that waits for the disk waits for all the WAL before it, the writer's earlier commits
    included; `txid_current()` gives the transaction an id so that it writes a commit record to wait
    for (a transaction that wrote nothing commits without one).
    """
    raw, _session.raw = _session.raw, None
    try:
        if raw is None:
            return
        if connection.connection is not raw:
            raise WritesMayBeLost
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = on")
            cursor.execute("SELECT txid_current()")
    finally:
        with contextlib.suppress(DatabaseError):
            connections.close_all()
