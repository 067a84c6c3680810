"""Copying a whole store from one database to another: `spyglass db copy`.

Both ends are opened the usual way (`open_database`), so both are at this version's schema,
and any pair of dialects works: the rows are read with Core selects and written with Core
inserts, so JSON travels as Python values (text on SQLite, JSONB on PostgreSQL).

The copy goes in chunks, each committed in one destination transaction together with a row
of `copy_progress` that says how far it got; run again after an interruption, the copy goes
on after the last committed chunk. The phases, in order:

- "spans": a chunk of traces in the order of their id: the resources and scopes their spans
  and logs refer to, the chunks of long values their spans refer to, the spans, their logs
  and search text, then the trace summaries, recomputed on the destination from what it now
  holds.
- "logs": the logs of traces that have no span (the store keeps a log for its trace and span
  ids whether or not the span ever arrives), in the order of their id.
- "resources", "scopes": any the spans and logs do not refer to (an export whose records
  were all left out still stores its resource), so that nothing is left behind.
- "check": every trace has at least as many spans in the destination as in the source.
- "done".

Every write is an upsert or an insert of what is missing, so a chunk copied twice (the
process died between the commit and the progress bar) changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from app import long_values, queries, search_rows, store
from app.database import DatabaseError, open_database, sqlite_path
from app.schema import (
    chunks,
    copy_progress,
    resources,
    scopes,
    search_pieces,
    span_logs,
    span_search,
    spans,
)

# A chunk is at most this many traces, and stops growing once its traces hold this many
# spans: a commit every few thousand spans keeps an interruption cheap to resume.
TRACES_PER_CHUNK = 200
SPANS_PER_CHUNK = 5_000
# Rows read from the source and written at a time: what bounds memory, even when one trace
# alone holds more spans than a chunk should.
ROWS_PER_BATCH = 1_000
# Logs, resources and scopes per chunk in the phases that copy them by their own key.
KEYED_ROWS_PER_CHUNK = 1_000

SPANS, LOGS, RESOURCES, SCOPES, CHECK, DONE = (
    "spans",
    "logs",
    "resources",
    "scopes",
    "check",
    "done",
)

ChunkDone = Callable[[int], None]


@dataclass(frozen=True)
class Progress:
    """A `copy_progress` row: the phase under way, and the last key copied in it."""

    phase: str
    last_key: bytes | None
    copied_spans: int

    @property
    def done(self) -> bool:
        return self.phase == DONE


@dataclass
class Summary:
    """What one run copied (a resumed run counts only its own part)."""

    traces: int = 0
    spans: int = 0
    logs: int = 0
    seconds: float = 0.0


# --- opening both ends -----------------------------------------------------------------------


def source_identity(url: str) -> str:
    """What names a database whatever URL reaches it: the file of a SQLite database, the
    server and database name of any other (no driver, user or password).

    It keys the copy's progress, so the same source reached with another driver or user
    resumes the same copy, and no password is stored in the destination.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise DatabaseError("cannot copy from or to an in-memory SQLite database")
        return f"sqlite:///{path.expanduser().resolve()}"
    return sa.engine.URL.create(
        backend, host=parsed.host, port=parsed.port, database=parsed.database
    ).render_as_string()


def open_copy(source_url: str, destination_url: str) -> DatabaseCopy:
    """Both databases, opened and migrated, or a DatabaseError saying why not.

    The source is migrated too when it is older than this version: the copy reads it with
    this version's schema, and these are the migrations `spyglass serve` would apply to it
    anyway. Refusing instead would only send the user to `spyglass db upgrade` first.
    """
    source_key = source_identity(source_url)
    if source_key == source_identity(destination_url):
        raise DatabaseError(f"the source and the destination are the same database: {source_key}")
    path = sqlite_path(source_url)
    # Opening a SQLite file that is not there would create an empty one, and copy nothing.
    if path is not None and not path.expanduser().is_file():
        raise DatabaseError(f"no database to copy at {path}")
    source = open_database(source_url)
    try:
        destination = open_database(destination_url)
    except DatabaseError:
        source.dispose()
        raise
    return DatabaseCopy(source, destination, source_key)


# --- reading the source and writing the destination ------------------------------------------

# A JSON column that may be SQL NULL could also hold a JSON null; reading gives None for
# both. This flag, selected beside such a column, tells them apart.
_SQL_NULL = "sql_null_"
# Binds None as SQL NULL and `sa.JSON.NULL` as JSON null, so both are written as they were.
_NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _copied_columns(table: sa.Table) -> list[sa.Column]:
    # span_search.id is assigned by the destination: a sequence on PostgreSQL, a rowid on
    # SQLite that the FTS5 index refers to.
    return [c for c in table.columns if not (table is span_search and c.name == "id")]


def _nullable_json(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if c.nullable and isinstance(c.type, sa.JSON)]


@cache
def _writable(table: sa.Table) -> sa.Table:
    """`table` as the copy writes it: its copied columns, nullable JSON ones bound so that
    SQL NULL and JSON null each stay what they are."""
    nullable_json = _nullable_json(table)
    columns = [
        sa.Column(
            c.name,
            _NULLABLE_JSON if c.name in nullable_json else c.type,
            primary_key=c.primary_key,
            nullable=c.nullable,
        )
        for c in _copied_columns(table)
    ]
    return sa.Table(table.name, sa.MetaData(), *columns)


def _select(table: sa.Table) -> sa.Select:
    flags = [table.c[name].is_(None).label(_SQL_NULL + name) for name in _nullable_json(table)]
    return sa.select(*_copied_columns(table), *flags)


def _as_written(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    values = {c.name: row[c.name] for c in _copied_columns(table)}
    for name in _nullable_json(table):
        if values[name] is None and not row[_SQL_NULL + name]:
            values[name] = sa.JSON.NULL
    return values


def _batches(read: sa.Connection, query: sa.Select) -> Iterator[Sequence[Any]]:
    """The rows of `query`, ROWS_PER_BATCH at a time, streamed rather than all fetched."""
    result = read.execution_options(yield_per=ROWS_PER_BATCH).execute(query)
    yield from result.mappings().partitions()


Writer = Callable[[sa.Connection, sa.Table, Sequence[dict[str, Any]]], None]


def _copy_rows(
    read: sa.Connection, write: sa.Connection, table: sa.Table, where: Any, writer: Writer
) -> int:
    """Copy the rows of `table` that match `where`; return how many were read."""
    copied = 0
    for batch in _batches(read, _select(table).where(where)):
        writer(write, _writable(table), [_as_written(table, row) for row in batch])
        copied += len(batch)
    return copied


def _spans_with_chunks(read: sa.Connection) -> Writer:
    """A writer of span rows that first copies the chunks of long values they refer to, so
    that no committed span refers to a chunk the destination lacks."""

    def write_spans(write: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        digests = sorted(long_values.digests_of(row["long_attributes"] for row in rows))
        for start in range(0, len(digests), queries.CHUNK):
            query = sa.select(chunks).where(
                chunks.c.digest.in_(digests[start : start + queries.CHUNK])
            )
            store.upsert_chunks(write, [dict(row) for row in read.execute(query).mappings()])
        store._upsert(write, table, rows)

    return write_spans


def _upsert_search_text(
    connection: sa.Connection, _table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """As `store.write_search_text`: keyed by span, the destination assigning the id, and an
    unchanged text not written again. A text read from SQLite may be compressed; the
    destination stores it its own way."""
    texts = [{**row, "body": search_rows.stored_text(row["body"])} for row in rows]
    search_rows.replace(connection, texts)


def _copy_described(
    read: sa.Connection, write: sa.Connection, referrers: Sequence[tuple[sa.Table, Any]]
) -> None:
    """Copy the resources and scopes that the rows of `referrers` (table, where) refer to,
    so that no committed span or log refers to one the destination lacks."""
    for table, key in ((resources, "resource_hash"), (scopes, "scope_hash")):
        used = sa.union(*(sa.select(t.c[key]).where(where) for t, where in referrers))
        _copy_rows(read, write, table, table.c[key].in_(used), store._insert_new)


def _save(write: sa.Connection, source_key: str, progress: Progress) -> None:
    row = {
        "source": source_key,
        "phase": progress.phase,
        "last_key": progress.last_key,
        "copied_spans": progress.copied_spans,
        "updated_ns": time.time_ns(),
    }
    store._upsert(write, copy_progress, [row])


def _after(column: sa.Column, last_key: bytes | None) -> Any:
    return sa.true() if last_key is None else column > last_key


def _next_traces(read: sa.Connection, last_key: bytes | None, limit: int) -> list[tuple]:
    """The next traces after `last_key`, in the order of their id, with their span counts.

    Walked in the spans themselves rather than in `traces`: the spans are what is copied,
    and a trace summary that is missing or stale must not leave its spans behind.
    """
    return [
        tuple(row)
        for row in read.execute(
            sa.select(spans.c.trace_id, sa.func.count())
            .where(_after(spans.c.trace_id, last_key))
            .group_by(spans.c.trace_id)
            .order_by(spans.c.trace_id)
            .limit(limit)
        )
    ]


def _trace_chunk(read: sa.Connection, last_key: bytes | None) -> list[bytes]:
    """The traces of the next chunk: up to TRACES_PER_CHUNK, fewer once they hold
    SPANS_PER_CHUNK spans, and always at least one, however large."""
    chunk: list[bytes] = []
    held = 0
    for trace_id, span_count in _next_traces(read, last_key, TRACES_PER_CHUNK):
        if chunk and held + span_count > SPANS_PER_CHUNK:
            break
        chunk.append(trace_id)
        held += span_count
    return chunk


def _has_no_span() -> Any:
    return ~sa.exists().where(spans.c.trace_id == span_logs.c.trace_id)


# --- the copy --------------------------------------------------------------------------------


@dataclass
class DatabaseCopy:
    """A copy from one open database to another; `run` goes on where the last run stopped."""

    source: Engine
    destination: Engine
    source_key: str

    def progress(self) -> Progress | None:
        """How far an earlier run got, or None if none ever committed a chunk."""
        with self.destination.connect() as connection:
            row = connection.execute(
                sa.select(copy_progress).where(copy_progress.c.source == self.source_key)
            ).one_or_none()
        return None if row is None else Progress(row.phase, row.last_key, row.copied_spans)

    def restart(self) -> None:
        """Forget an earlier run, so that the next copies everything again."""
        with self.destination.begin() as connection:
            connection.execute(
                copy_progress.delete().where(copy_progress.c.source == self.source_key)
            )

    def total_spans(self) -> int:
        with self.source.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one()

    def run(self, on_chunk: ChunkDone | None = None) -> Summary:
        """Copy what is left, calling `on_chunk` with the number of spans of each chunk once
        it is committed. A database failure is a DatabaseError: run again to go on."""
        started = time.monotonic()
        summary = Summary()
        progress = self.progress() or Progress(SPANS, None, 0)
        steps = {
            SPANS: self._copy_trace_chunk,
            LOGS: self._copy_log_chunk,
            RESOURCES: self._copy_resource_chunk,
            SCOPES: self._copy_scope_chunk,
            CHECK: self._check,
        }
        try:
            while not progress.done:
                progress = steps[progress.phase](progress, summary, on_chunk or _ignore)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise DatabaseError(f"the copy stopped: {reason}; run it again to go on") from None
        summary.seconds = time.monotonic() - started
        return summary

    def close(self) -> None:
        self.source.dispose()
        self.destination.dispose()

    def _advance(self, progress: Progress, phase: str) -> Progress:
        advanced = Progress(phase, None, progress.copied_spans)
        with self.destination.begin() as write:
            _save(write, self.source_key, advanced)
        return advanced

    def _copy_trace_chunk(
        self, progress: Progress, summary: Summary, on_chunk: ChunkDone
    ) -> Progress:
        with self.source.connect() as read:
            trace_ids = _trace_chunk(read, progress.last_key)
            if not trace_ids:
                return self._advance(progress, LOGS)
            with self.destination.begin() as write:
                # The summaries are derived from the stored spans: a collector writing to
                # the destination meanwhile waits for this chunk, as collectors do for each
                # other (on PostgreSQL; SQLite has one writer at a time anyway).
                store.serialize_writers(write)
                in_spans = spans.c.trace_id.in_(trace_ids)
                in_logs = span_logs.c.trace_id.in_(trace_ids)
                _copy_described(read, write, [(spans, in_spans), (span_logs, in_logs)])
                copied = _copy_rows(read, write, spans, in_spans, _spans_with_chunks(read))
                summary.logs += _copy_rows(read, write, span_logs, in_logs, store._insert_new)
                in_search = span_search.c.trace_id.in_(trace_ids)
                _copy_rows(read, write, span_search, in_search, _upsert_search_text)
                # Which span indexes each shared piece, so that later spans of these traces
                # leave the pieces out on the destination too.
                in_pieces = search_pieces.c.trace_id.in_(trace_ids)
                _copy_rows(read, write, search_pieces, in_pieces, store._insert_new)
                # Recomputed rather than copied: the destination may hold spans of these
                # traces already, and its summaries must count them too.
                store.recompute_traces(write, trace_ids)
                progress = Progress(SPANS, trace_ids[-1], progress.copied_spans + copied)
                _save(write, self.source_key, progress)
        summary.traces += len(trace_ids)
        summary.spans += copied
        on_chunk(copied)
        return progress

    def _copy_log_chunk(
        self, progress: Progress, summary: Summary, on_chunk: ChunkDone
    ) -> Progress:
        with self.source.connect() as read:
            last = self._last_in_chunk(read, span_logs.c.log_id, progress, _has_no_span())
            if last is None:
                return self._advance(progress, RESOURCES)
            in_chunk = sa.and_(
                _after(span_logs.c.log_id, progress.last_key),
                span_logs.c.log_id <= last,
                _has_no_span(),
            )
            with self.destination.begin() as write:
                _copy_described(read, write, [(span_logs, in_chunk)])
                summary.logs += _copy_rows(read, write, span_logs, in_chunk, store._insert_new)
                progress = replace(progress, last_key=last)
                _save(write, self.source_key, progress)
        on_chunk(0)
        return progress

    def _copy_resource_chunk(
        self, progress: Progress, summary: Summary, on_chunk: ChunkDone
    ) -> Progress:
        return self._copy_keyed_chunk(resources.c.resource_hash, SCOPES, progress, on_chunk)

    def _copy_scope_chunk(
        self, progress: Progress, summary: Summary, on_chunk: ChunkDone
    ) -> Progress:
        return self._copy_keyed_chunk(scopes.c.scope_hash, CHECK, progress, on_chunk)

    def _copy_keyed_chunk(
        self, key: sa.Column, next_phase: str, progress: Progress, on_chunk: ChunkDone
    ) -> Progress:
        """Copy the next chunk of a content-hashed table (those already there are identical)."""
        table = key.table
        with self.source.connect() as read:
            last = self._last_in_chunk(read, key, progress)
            if last is None:
                return self._advance(progress, next_phase)
            with self.destination.begin() as write:
                in_chunk = sa.and_(_after(key, progress.last_key), key <= last)
                _copy_rows(read, write, table, in_chunk, store._insert_new)
                progress = replace(progress, last_key=last)
                _save(write, self.source_key, progress)
        on_chunk(0)
        return progress

    @staticmethod
    def _last_in_chunk(
        read: sa.Connection, key: sa.Column, progress: Progress, *where: Any
    ) -> bytes | None:
        """The last key of the next KEYED_ROWS_PER_CHUNK rows after the progress, if any."""
        keys = (
            sa.select(key)
            .where(_after(key, progress.last_key), *where)
            .order_by(key)
            .limit(KEYED_ROWS_PER_CHUNK)
            .subquery()
        )
        # No max() of bytea on PostgreSQL: the last of them, by order.
        return read.execute(sa.select(keys.c[0]).order_by(keys.c[0].desc()).limit(1)).scalar()

    def _check(self, progress: Progress, summary: Summary, on_chunk: ChunkDone) -> Progress:
        """Every trace of the source has at least its spans in the destination (more when the
        destination held spans of it before); if not, the copy stays unfinished."""
        short: list[bytes] = []
        last_key = None
        with self.source.connect() as read, self.destination.connect() as written:
            while counts := _next_traces(read, last_key, store.CHUNK):
                trace_ids = [trace_id for trace_id, _ in counts]
                found = {
                    trace_id: span_count
                    for trace_id, span_count in written.execute(
                        sa.select(spans.c.trace_id, sa.func.count())
                        .where(spans.c.trace_id.in_(trace_ids))
                        .group_by(spans.c.trace_id)
                    )
                }
                short += [t for t, count in counts if found.get(t, 0) < count]
                last_key = trace_ids[-1]
        if short:
            raise DatabaseError(
                f"the copy is incomplete: {len(short)} traces have fewer spans in the "
                f"destination than in the source (trace {short[0].hex()} first); copy again "
                "with --restart"
            )
        return self._advance(progress, DONE)


def _ignore(_spans: int) -> None:
    pass
