"""The single writer: one thread commits what concurrent requests decoded, in groups.

A request hands its decoded batch to `Writer.submit` and waits on the returned future, which
resolves only after the batch is committed; that is what makes a 200 mean "stored". The
thread takes every batch that queued up while it was committing the last group and commits
them together, so under load many requests share one transaction and one fsync (group commit).

On SQLite the writer's commits do not checkpoint the WAL into the database file themselves
(SQLite's default, every 1,000 pages, put that copy on the path of every few commits): a
checkpointer thread does it after them, on its own connection, while the writer goes on with
the next group. SQLite does the copying without the GIL, so it runs on another core.

Maintenance (retention's deletes, `app.retention`) runs on the same thread, so that it never
races a write: an injected `maintenance` step, called once at start, every
`maintenance_interval_s` after, and on `maintain()`, runs between groups, one bounded step
at a time, until it says it is done; under load, groups and steps take turns.

The queue is bounded by the number of records waiting. Past the bound `submit` raises
`Overloaded` at once, and the receiver answers 503 with Retry-After, which OTLP exporters retry,
instead of letting memory grow.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from app import store
from app.otlp import Batch
from app.stored_chunks import StoredChunks

log = logging.getLogger("spyglass.writer")

# Records in one transaction: large enough to amortise the commit, small enough to keep
# the latency of the first request in a group low.
MAX_GROUP_RECORDS = 20_000
# The checkpointer copies the WAL back at most this often. Pages that several commits in a row
# change (the indexes' and the search index's) are then copied once rather than after each;
# on the ingest bench that took 9% off the collector's CPU a span (bench/README.md). The WAL
# between two checkpoints stays a few MB under full load.
CHECKPOINT_INTERVAL_S = 0.5
# Past this many WAL pages (of 4 KiB) not yet copied back, the checkpointer waits for readers
# to let it copy everything and start the WAL afresh, so that it cannot grow without bound.
WAL_RESTART_PAGES = 64_000


def _transient(exc: OperationalError) -> bool:
    """Whether the same write may succeed later: a locked, busy, full or unreachable database
    (every SQLite OperationalError), not data past one of PostgreSQL's limits (SQLSTATE
    class 54) or data it cannot take (class 22), which would fail the same way for ever."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return sqlstate[:2] not in ("22", "54")


class Overloaded(Exception):
    """The write queue is full; the caller should retry later."""


class WriteFailed(Exception):
    """The database refused the write; the batch was not stored.

    `retryable` says whether the same batch may succeed later (a locked or unreachable
    database) or never will (data the database rejects), so that the receiver can ask the
    exporter to retry, or tell it why not, rather than have it retry forever.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class _Job:
    signal: str  # "traces" or "logs"
    batch: Batch
    future: Future = field(default_factory=Future)

    @property
    def size(self) -> int:
        return max(1, len(self.batch.records))


@dataclass
class _Maintain:
    """A request for a maintenance pass; its future resolves when the pass is done."""

    future: Future = field(default_factory=Future)


# One bounded step of maintenance; it returns True while there is more to do.
MaintenanceStep = Callable[[], bool]


class Writer:
    def __init__(
        self,
        engine: Engine,
        max_pending_records: int,
        *,
        maintenance: MaintenanceStep | None = None,
        maintenance_interval_s: float = 60.0,
    ) -> None:
        self._engine = engine
        self._max_pending = max_pending_records
        self._pending = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | _Maintain | None] = queue.SimpleQueue()
        self._maintenance = maintenance
        self._maintenance_interval = maintenance_interval_s
        # Only the writer's thread reads and changes these two: once at start, then on time.
        self._maintenance_due = time.monotonic()
        self._maintenance_waiters: list[Future] = []
        self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
        self._sqlite = engine.dialect.name == "sqlite"
        # Used only on the writer's thread (see app.stored_chunks for why SQLite only).
        self._stored_chunks = StoredChunks() if self._sqlite else None
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint, name="spyglass-checkpointer", daemon=True
        )

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        self._thread.start()
        if self._sqlite:
            self._checkpointer.start()

    def close(self) -> None:
        """Commit everything already submitted, then stop the threads."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._checkpointer.is_alive():
            self._stopping.set()
            self._committed.set()
            self._checkpointer.join()
            # Leave the database in its file and the WAL empty: a stopped collector's disk
            # is its data, not the high-water mark of its WAL.
            try:
                with self._engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception:
                log.exception("the last WAL checkpoint failed")

    def submit(self, signal: str, batch: Batch) -> Future:
        job = _Job(signal, batch)
        with self._lock:
            # An empty queue always takes a batch, so one request larger than the bound
            # still goes through rather than being refused forever.
            if self._pending and self._pending + job.size > self._max_pending:
                raise Overloaded(f"{self._pending} records are waiting to be written")
            self._pending += job.size
        self._queue.put(job)
        return job.future

    def maintain(self) -> Future:
        """Run a maintenance pass soon, between groups; the future resolves when it is done
        (at once without maintenance)."""
        request = _Maintain()
        if self._maintenance is None:
            request.future.set_result(None)
        else:
            self._queue.put(request)
        return request.future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                job = self._queue.get(timeout=self._idle_wait())
            except queue.Empty:  # idle, and maintenance is due
                self._maintain()
                continue
            if job is None:
                break
            group: list[_Job] = []
            records = 0
            while True:
                if isinstance(job, _Maintain):
                    self._maintenance_waiters.append(job.future)
                    self._maintenance_due = min(self._maintenance_due, time.monotonic())
                else:
                    group.append(job)
                    records += job.size
                if records >= MAX_GROUP_RECORDS:
                    break
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
            if group:
                try:
                    self._commit(group)
                except BaseException as exc:  # the thread must outlive any one group
                    log.exception("the writer failed on a group of %d batches", len(group))
                    self._finish(group, WriteFailed(f"the writer failed: {exc}", retryable=True))
            self._maintain()
        for waiter in self._maintenance_waiters:
            with contextlib.suppress(InvalidStateError):  # cancelled: nobody is waiting
                waiter.set_exception(RuntimeError("the writer stopped before maintenance ran"))

    def _idle_wait(self) -> float | None:
        """How long to wait for a batch before maintenance is due; None: for ever."""
        if self._maintenance is None:
            return None
        return max(0.0, self._maintenance_due - time.monotonic())

    def _maintain(self) -> None:
        """One step of maintenance, when it is due; between groups, never inside one."""
        if self._maintenance is None or time.monotonic() < self._maintenance_due:
            return
        error: BaseException | None = None
        try:
            more = self._maintenance()
        except BaseException as exc:  # the thread must outlive maintenance too
            log.exception("maintenance failed")
            more, error = False, exc
        if self._stored_chunks is not None:
            self._stored_chunks.forget()  # retention may have deleted chunks
        if more:
            return  # still due: the next step after the next group, or at once when idle
        self._maintenance_due = time.monotonic() + self._maintenance_interval
        waiters, self._maintenance_waiters = self._maintenance_waiters, []
        for waiter in waiters:
            with contextlib.suppress(InvalidStateError):  # cancelled: nobody is waiting
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    def _commit(self, group: list[_Job]) -> None:
        try:
            with self._engine.begin() as connection:
                if self._sqlite:
                    # The checkpointer copies the WAL back (see above), not this commit.
                    connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                store.write(
                    connection,
                    [job.batch for job in group if job.signal == "traces"],
                    [job.batch for job in group if job.signal == "logs"],
                    stored_chunks=self._stored_chunks,
                )
        except BaseException as exc:
            if self._stored_chunks is not None:
                self._stored_chunks.discard()  # rolled back: none of it is stored
            if not isinstance(exc, Exception):
                raise
            self._failed(group, exc)
            return
        if self._stored_chunks is not None:
            self._stored_chunks.committed()
        self._finish(group, None)

    def _failed(self, group: list[_Job], exc: Exception) -> None:
        if isinstance(exc, OperationalError) and _transient(exc):
            # Locked, full or unreachable: every batch of the group would fail the same way.
            log.warning(
                "could not store %d batches, asking exporters to retry: %s", len(group), exc
            )
            self._finish(group, WriteFailed(f"the database is unavailable: {exc}", retryable=True))
        else:
            self._refused(group, exc)

    def _refused(self, group: list[_Job], exc: Exception) -> None:
        """The database refused the group's data: find the batch it refuses, so that one bad
        request does not fail the others, and tell its sender not to retry it."""
        if len(group) > 1:
            for job in group:
                self._commit([job])
            return
        log.exception("could not store a batch of %d records", group[0].size)
        message = f"the database refused this batch: {exc}"
        self._finish(group, WriteFailed(message, retryable=False))

    def _checkpoint(self) -> None:
        """Copy committed WAL pages back into the database file after commits, at most every
        CHECKPOINT_INTERVAL_S, passively (never waiting for the writer or for readers), and in
        full when the WAL is large."""
        last = time.monotonic()
        while not self._stopping.is_set():
            self._committed.wait()
            self._stopping.wait(last + CHECKPOINT_INTERVAL_S - time.monotonic())
            self._committed.clear()
            last = time.monotonic()
            try:
                with self._engine.connect() as connection:
                    _, pages, copied = connection.exec_driver_sql(
                        "PRAGMA wal_checkpoint(PASSIVE)"
                    ).one()
                    if pages - copied > WAL_RESTART_PAGES:
                        connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
            except Exception:  # the next commit tries again
                log.exception("the WAL checkpoint failed")

    def _finish(self, group: list[_Job], error: Exception | None) -> None:
        if error is None:
            self._committed.set()
        with self._lock:
            self._pending -= sum(job.size for job in group)
        for job in group:
            if job.future.done():  # already finished, or nobody is waiting any more
                continue
            try:
                if error is None:
                    job.future.set_result(None)
                else:
                    job.future.set_exception(error)
            except InvalidStateError:  # cancelled between the check and now
                pass
