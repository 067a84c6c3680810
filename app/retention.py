"""Retention: drop the oldest traces, whole, past an age or a size, and give the disk back.

`SPYGLASS_RETENTION_DAYS` and `SPYGLASS_MAX_DB_MB` set the policy; `Retention.step` carries it
out one bounded piece at a time on the writer's thread (`app.writer` calls it between groups
of writes, once at start and every `INTERVAL_S` after), so a delete never races a write of
the same trace and never holds the writer for long: each piece is one transaction of at most
`CHUNK_TRACES` traces, or one bounded `incremental_vacuum`.

A trace is its rows in every table of `TRACE_TABLES`, keyed by `trace_id`; SQLite's FTS5
index follows `span_search` (`app.search_rows`). A trace goes whole, in one transaction.

- **Age.** A trace's age is the end of its newest span (`traces.end_ns`), not its start: a
  long-running agent's trace keeps receiving spans, and dropping it by its start would leave
  the spans that come after as a partial trace. So `RETENTION_DAYS` drops the traces whose
  newest span ended before the cutoff, and the size limit never drops a trace with a span that
  ended in the last `ACTIVE_NS`. Candidates are walked oldest first by start, on the
  `(start_ns, trace_id)` index (a trace ended before a time also started before it).
- **Size on SQLite** is the database file's pages in use, `(page_count - freelist_count) *
  page_size`: what the file holds once the free pages are given back, as every pass does. The
  WAL beside it is not counted; it is emptied after every pass that dropped anything (and the
  writer's checkpointer keeps it small in between). Past `MAX_DB_MB`, the oldest traces go
  until the size is under `SHRINK_TO` of the limit, so that one new trace does not start
  another pass.
- **Giving disk back on SQLite** needs `auto_vacuum=INCREMENTAL`: then `PRAGMA
  incremental_vacuum` moves pages from the end of the file into the free ones and truncates
  it, at a cost in proportion to what was freed. A database created without it (every
  database before retention existed, and every one since that never turned retention on)
  switches once, by a full VACUUM, on the first pass: instant on a new database; on a large
  one it takes about as long as copying the file and needs free space of about twice its size
  (a temporary copy, then the WAL). This is not done in a migration, so that users who never
  enable retention never pay for it. A `wal_checkpoint(TRUNCATE)` then empties the WAL.
- **PostgreSQL** deletes the same way, but does not give space back to the system: autovacuum
  marks the space of deleted rows free for new rows, so the tables stop growing at about the
  limit and stay that size. Their size (`pg_total_relation_size` of Spyglass's tables, indexes
  and TOAST included) therefore does not fall after a delete, and `_PostgresSize` estimates
  the live part from the span count instead (see there).

It is no secure erase: the words of a dropped trace stay in freed pages (and, on SQLite, in
the search index until it is merged, `Retention`) until they are reused or given back.

Any new table that holds rows of a trace must be added to `TRACE_TABLES`: a test fails when a
migrated table has a `trace_id` column that is not in it. Rows shared between traces (a
content-addressed table) are not deleted with a trace; their garbage collection belongs in
`_after_traces_dropped`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import search_rows, store
from app.schema import metadata, search_pieces, span_logs, span_search, spans, traces

log = logging.getLogger("spyglass.retention")

MIB = 1024 * 1024
DAY_NS = 86_400 * 10**9
# Every table whose rows belong to one trace, by its `trace_id` column. Add new ones here.
TRACE_TABLES: tuple[sa.Table, ...] = (span_search, search_pieces, span_logs, spans, traces)
# Traces per transaction: a few hundred spans' worth of deletes, a fraction of a second.
CHUNK_TRACES = 200
# How often the writer runs a pass (and once at start).
INTERVAL_S = 60.0
# Past the size limit, drop down to this share of it.
SHRINK_TO = 0.9
# A trace with a span that ended this recently may still be receiving spans: never dropped
# for size (an expired one has, by definition, received nothing for days).
ACTIVE_NS = 10 * 60 * 10**9
# Merge the search index once the spans dropped since the last merge are this share of those
# stored, and by this many pages a step (about 4 MiB written).
MERGE_SHARE = 0.05
MERGE_PAGES = 1000
# Pages one step of `incremental_vacuum` gives back: 16 MiB of 4 KiB pages.
VACUUM_PAGES = 4096
SQLITE_INCREMENTAL = 2


def oldest_traces(connection: sa.Connection, ended_before_ns: int, limit: int) -> list[bytes]:
    """Up to `limit` traces whose newest span ended before `ended_before_ns`, oldest first."""
    t = traces.c
    query = (
        sa.select(t.trace_id)
        # start_ns <= end_ns, so the first condition is implied; it lets the index find them.
        .where(t.start_ns < ended_before_ns, t.end_ns < ended_before_ns)
        .order_by(t.start_ns, t.trace_id)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


def drop_traces(connection: sa.Connection, trace_ids: Sequence[bytes]) -> None:
    """Delete these traces, whole, from every table, in the caller's transaction.

    An API call recorded by spans of two traces (`app.call_links`) is shown by one of them;
    when that one goes, the call is linked again among the spans left, so the other trace
    shows and counts it.
    """
    if not trace_ids:
        return
    store.serialize_writers(connection)
    ids = list(trace_ids)
    s = spans.c
    calls = connection.execute(
        sa.select(s.llm_call_key, s.start_ns).where(
            s.trace_id.in_(ids), s.llm_call_key.is_not(None)
        )
    ).all()
    search_rows.delete_traces(connection, ids)
    for table in TRACE_TABLES:
        if table is not span_search:
            connection.execute(table.delete().where(table.c.trace_id.in_(ids)))
    if calls:
        rows = [{"llm_call_key": key, "start_ns": start} for key, start in calls]
        changed = store.link_calls(connection, rows) - set(ids)
        store.fold_call_parts(connection, changed)
        store.recompute_traces(connection, changed)
    _after_traces_dropped(connection)


def _after_traces_dropped(connection: sa.Connection) -> None:
    """Garbage-collect shared rows that no stored trace uses any more.

    Rows shared between traces are kept once, keyed by their content, so they cannot go with
    a trace. The chunks of long attribute values go here, in the same transaction as the
    delete (`store.drop_unused_chunks`: by the minute each was last used, against the oldest
    span left). `resources` and `scopes` are left: one small row per distinct process and
    library, and finding the unused ones would scan every span.
    """
    store.drop_unused_chunks(connection)


def sqlite_used_bytes(connection: sa.Connection) -> int:
    """The bytes of the SQLite database file in use: its size once free pages are given back."""
    pragma = connection.exec_driver_sql
    page_size = pragma("PRAGMA page_size").scalar_one()
    pages = pragma("PRAGMA page_count").scalar_one()
    free = pragma("PRAGMA freelist_count").scalar_one()
    return (pages - free) * page_size


def postgres_table_bytes(connection: sa.Connection) -> int:
    """The bytes of Spyglass's tables on PostgreSQL, with their indexes and TOAST."""
    names = sorted(metadata.tables)
    query = sa.text(
        "SELECT coalesce(sum(pg_total_relation_size(to_regclass(name))), 0)"
        " FROM unnest(CAST(:names AS text[])) AS name"
    )
    return int(connection.execute(query, {"names": names}).scalar_one())


def _span_count(connection: sa.Connection) -> int:
    return int(connection.execute(sa.select(sa.func.sum(traces.c.span_count))).scalar() or 0)


class _PostgresSize:
    """The live size of the tables on PostgreSQL, estimated from the span count.

    Deleting rows frees space inside the tables for new rows but leaves their size as it was,
    so the size alone cannot say when enough was dropped. When the tables grow, they hold no
    free space worth counting (new rows would have gone there first): the size then divided
    by the spans stored is the bytes a span takes. Between growths the live size is that
    many bytes for each span stored now. It remembers nothing across restarts: the first
    measure after a start counts any free space as live, which drops at most that much more.
    """

    def __init__(self) -> None:
        self._bytes = 0
        self._spans = 0

    def __call__(self, connection: sa.Connection) -> int:
        size, count = postgres_table_bytes(connection), _span_count(connection)
        if size > self._bytes or not self._spans:
            self._bytes, self._spans = size, count
            return size
        return self._bytes * count // self._spans


@dataclass
class PassReport:
    """What one pass did."""

    traces_dropped: int = 0
    pages_given_back: int = 0
    index_merged: bool = False


class Retention:
    """The policy of one database, carried out a step at a time (`step`) or at once (`run`).

    A pass goes: drop the expired traces, then as many of the oldest as hold the size over
    `SHRINK_TO` of the limit (estimated from the share of traces, measured at the start of
    the pass), a chunk a step; on SQLite merge the search index (below) and give the free
    pages back; measure again, and go round once more if still over the limit.

    FTS5 does not take a deleted row's words out of its index: it writes a marker that hides
    them, and both go only when the index's segments are merged. Left to FTS5's own merges,
    which seldom reach its oldest, largest segment, the index would keep the size of all it
    ever held. So after a pass that dropped much (`MERGE_SHARE` of the spans since the last
    merge, or any drop for size, which must be measured right), the index is merged, in
    steps of `MERGE_PAGES`: a rewrite of the live index, which the threshold keeps rare.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        retention_days: float | None = None,
        max_db_mb: float | None = None,
        chunk_traces: int = CHUNK_TRACES,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self.max_age_ns = int(retention_days * DAY_NS) if retention_days else None
        self.max_bytes = int(max_db_mb * MIB) if max_db_mb else None
        self._chunk = chunk_traces
        self._clock = clock
        self._size: Callable[[sa.Connection], int] = (
            sqlite_used_bytes if self._sqlite else _PostgresSize()
        )
        self._phase: str | None = None  # None between passes
        self._quota = 0  # traces still to drop for size in this round
        self._round_dropped = 0
        self._trimmed = False  # this pass dropped for size
        self._spans_since_merge = 0
        self._incremental = False  # the database is known to use incremental auto-vacuum
        self._current = PassReport()
        self.last_pass: PassReport | None = None

    def step(self) -> bool:
        """Do one bounded piece of a pass; True while there is more to do. A failure ends
        the pass (the next one starts afresh) and is raised."""
        try:
            return self._step()
        except BaseException:
            self._phase, self._trimmed, self._quota = None, False, 0
            self._current = PassReport()
            raise

    def _step(self) -> bool:
        if self._phase is None:
            self._phase = "drop"
            self._plan_round()
        if self._phase == "drop":
            with self._engine.begin() as connection:
                dropped = self._drop_some(connection)
            if dropped:
                return True
            self._phase = "merge" if self._sqlite else "check"
        if self._phase == "merge":
            if self._merge_index():
                return True
            self._phase = "vacuum"
        if self._phase == "vacuum":
            if self._give_back():
                return True
            self._phase = "check"
        if self._round_dropped and self._trimmed and self._plan_round():
            self._phase = "drop"  # still over the limit: the estimate fell short
            return True
        return self._finish()

    def run(self) -> PassReport:
        """A whole pass at once, for tests and tools (the collector runs it in steps)."""
        while self.step():
            pass
        assert self.last_pass is not None
        return self.last_pass

    def _finish(self) -> bool:
        if self._sqlite and (self._current.traces_dropped or self._current.pages_given_back):
            self._truncate_wal()
        self._phase, self._trimmed = None, False
        self.last_pass, self._current = self._current, PassReport()
        if self.last_pass.traces_dropped:
            log.info(
                "retention dropped %d traces and gave back %d pages",
                self.last_pass.traces_dropped,
                self.last_pass.pages_given_back,
            )
        return False

    def _plan_round(self) -> bool:
        """Measure the size and set how many of the oldest traces to drop for it; True when
        some must go."""
        self._quota = self._round_dropped = 0
        if self.max_bytes is None:
            return False
        target = self.max_bytes * SHRINK_TO
        with self._engine.connect() as connection:
            size = self._size(connection)
            # Past the limit, a pass goes on until under the target.
            if size <= (target if self._trimmed else self.max_bytes):
                return False
            count = connection.execute(sa.select(sa.func.count()).select_from(traces)).scalar()
        # The share of the traces that the excess is, if traces are of a size: a chunk at a
        # time would empty a small database, and the size is not right until the index is
        # merged. Measured again at the end of the round.
        self._quota = max(1, math.ceil(count * (size - target) / size)) if count else 0
        self._trimmed = self._trimmed or bool(self._quota)
        return bool(self._quota)

    def _drop_some(self, connection: sa.Connection) -> int:
        """Drop one chunk of the traces the policy wants gone; how many (0 when none)."""
        now = self._clock()
        found: list[bytes] = []
        if self.max_age_ns is not None:
            found = oldest_traces(connection, now - self.max_age_ns, self._chunk)
        if not found and self._quota:
            found = oldest_traces(connection, now - ACTIVE_NS, min(self._quota, self._chunk))
            if not found:
                log.warning("the database is over its size limit but holds only active traces")
                self._quota = 0
        if not found:
            return 0
        t = traces.c
        span_count = connection.execute(
            sa.select(sa.func.sum(t.span_count)).where(t.trace_id.in_(found))
        ).scalar()
        drop_traces(connection, found)
        self._quota = max(0, self._quota - len(found))
        self._round_dropped += len(found)
        self._spans_since_merge += span_count or 0
        self._current.traces_dropped += len(found)
        return len(found)

    def _merge_index(self) -> bool:
        """One step of merging SQLite's search index, when worth it; True while more is left."""
        if not self._spans_since_merge:
            return False
        with self._engine.begin() as connection:
            if not self._trimmed:
                stored = _span_count(connection)
                if self._spans_since_merge < MERGE_SHARE * stored:
                    return False
            before = connection.connection.driver_connection.total_changes
            # A negative page count merges even the last segments (FTS5's 'merge' command).
            connection.execute(
                sa.text("INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('merge', :n)"),
                {"n": -MERGE_PAGES},
            )
            worked = connection.connection.driver_connection.total_changes - before >= 2
        if not worked:
            self._spans_since_merge = 0
            self._current.index_merged = True
        return worked

    def _give_back(self) -> bool:
        """Give one bounded piece of the free pages back to the system; True while more are
        left. The first time on a database without incremental auto-vacuum, switch it on."""
        if not self._incremental:
            # Read once: a pooled connection answers this pragma from the header it last read,
            # which may predate the switch.
            with self._engine.connect() as connection:
                mode = connection.exec_driver_sql("PRAGMA auto_vacuum").scalar_one()
            self._incremental = True
            if mode != SQLITE_INCREMENTAL:
                self._switch_to_incremental_vacuum()
                return False
        with self._engine.connect() as connection:
            free = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            connection.rollback()
            if free:
                # The statement gives back one page each time it is stepped, and the driver's
                # `execute` steps a statement that returns no rows once; a script runs it out.
                sqlite_connection = connection.connection.driver_connection
                sqlite_connection.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
                self._current.pages_given_back += min(free, VACUUM_PAGES)
                if free > VACUUM_PAGES:
                    return True
        return False

    def _switch_to_incremental_vacuum(self) -> None:
        started = time.monotonic()
        path = self._engine.url.database
        log.warning("retention: switching %s to incremental auto-vacuum (one VACUUM)", path)
        with self._engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            # Our connections keep temporary data in memory; VACUUM's copy of the whole
            # database goes to a temporary file instead.
            connection.exec_driver_sql("PRAGMA temp_store=FILE")
            try:
                connection.exec_driver_sql("PRAGMA auto_vacuum=INCREMENTAL")
                connection.exec_driver_sql("VACUUM")
            finally:
                connection.exec_driver_sql("PRAGMA temp_store=MEMORY")
            after = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        self._current.pages_given_back += max(0, pages - after)
        log.warning("retention: the VACUUM took %.1fs", time.monotonic() - started)

    def _truncate_wal(self) -> None:
        """Copy the WAL into the database and empty it, so that it does not hold the space
        just given back. It waits for readers (the busy timeout); if they stay, the next
        pass tries again."""
        with self._engine.connect() as connection:
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if busy:
            log.info("retention: readers kept the WAL from being emptied; next pass")


def from_settings(
    engine: Engine, retention_days: float | None, max_db_mb: float | None
) -> Retention | None:
    """The collector's retention, or None when neither limit is set."""
    if retention_days is None and max_db_mb is None:
        return None
    return Retention(engine, retention_days=retention_days, max_db_mb=max_db_mb)
