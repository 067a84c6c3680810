"""Writes: spans, their resources and scopes, span logs, and the trace summaries.

Every write is an upsert keyed by identity, so a retried export changes nothing and a later
export of a span (some SDKs send a span when it starts and again when it ends) replaces the
earlier one. Trace summaries are recomputed from the stored spans of each trace the write
touched, never incremented, so they stay right whatever order spans arrive in.

Records arrive as plain dicts from `app.ingest` and go to the database in batched
`executemany` statements: no ORM objects on this path. A span's search text (`search_pieces`,
computed at ingest) goes to `span_search` in the same transaction, replacing what an earlier
export of the span left there. The chunks of its long attribute values (`app.long_values`)
go to `chunks`, each stored once however many spans send it.

When several spans record one API call (a stream's parts, an instrumentor's span and the
Anthropic SDK's own, in one trace or two), one of them is marked the call and the others
folded into it (`llm_is_call` false), and the call's span gets the facts they know
(`app.call_links`). That too is decided afresh from the stored spans on every write.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from app import call_links, long_values, queries, search, search_rows
from app.otlp import Batch
from app.schema import (
    chunks,
    resources,
    scopes,
    search_pieces,
    span_logs,
    spans,
    traces,
)
from app.stored_chunks import StoredChunks

CHUNK = queries.CHUNK
STATUS_ERROR = 2
MINUTE_NS = 60 * 10**9
# A PostgreSQL advisory lock key: "Spyglass" in ASCII (app.database has the migrations' key).
WRITE_LOCK = 0x5370_7967_6C61_7373


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _upsert(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, replacing the values they have of any stored row with the same key."""

    def statement(columns: tuple[str, ...]) -> Any:
        insert = _insert(connection, table)
        keys = {column.name for column in table.primary_key.columns}
        return insert.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: insert.excluded[name] for name in columns if name not in keys},
        )

    _executemany(connection, "upsert", statement, table, rows)


def _insert_new(connection: sa.Connection, table: sa.Table, rows: Iterable[dict]) -> None:
    """Insert rows whose primary key is a content hash: a stored one is already identical."""
    _executemany(
        connection,
        "insert new",
        lambda _columns: _insert(connection, table).on_conflict_do_nothing(),
        table,
        list(rows),
    )


class _Prepared(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the row keys bound, in the order of the SQL's parameters
    values: Callable[[dict[str, Any]], tuple]  # a row's values in that order
    json: tuple[tuple[int, bool], ...]  # positions of JSON values, and whether None is NULL
    positional: bool


_prepared: dict[tuple, _Prepared] = {}


def _executemany(
    connection: sa.Connection,
    kind: str,
    statement: Callable[[tuple[str, ...]], Any],
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
) -> None:
    """Run an insert of `table` once for each row, as one DBAPI `executemany`; `statement`
    makes it for the columns the rows have.

    Through `connection.execute` SQLAlchemy would send every value of every row through its
    column's type, which on the writer's hot path cost a fifth of its time. Here the statement
    is compiled once per shape, the JSON values are serialised with the engine's own serializer
    (which on PostgreSQL also replaces NUL), and all others go to the driver as they are:
    bytes, ints, floats, text, booleans and None need no conversion.
    """
    if not rows:
        return
    columns = tuple(key for key in rows[0] if key in table.c)
    dialect = connection.dialect
    key = (dialect.name, kind, table, columns)
    prepared = _prepared.get(key) or _prepare(dialect, statement, table, columns)
    _prepared[key] = prepared
    dumps = dialect._json_serializer or json.dumps  # type: ignore[attr-defined]
    parameters: list[Any] = []
    for row in rows:
        values = prepared.values(row)
        if prepared.json:
            values = list(values)
        for position, none_is_null in prepared.json:
            found = values[position]
            # As the column's type binds them: None is JSON null unless it says SQL NULL.
            if found is None or found is sa.JSON.NULL:
                values[position] = None if none_is_null and found is None else "null"
            else:
                values[position] = dumps(found)
        if prepared.positional:
            parameters.append(tuple(values))
        else:
            parameters.append(dict(zip(prepared.names, values, strict=True)))
    connection.exec_driver_sql(prepared.sql, parameters)


def _prepare(
    dialect: sa.Dialect,
    statement: Callable[[tuple[str, ...]], Any],
    table: sa.Table,
    columns: tuple[str, ...],
) -> _Prepared:
    compiled = statement(columns).compile(dialect=dialect, column_keys=list(columns))
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if positional else columns
    getter = operator.itemgetter(*names)
    values = getter if len(names) > 1 else lambda row: (getter(row),)
    json_columns = {
        c.name: c.type.none_as_null for c in table.columns if isinstance(c.type, sa.JSON)
    }
    json = tuple((i, json_columns[n]) for i, n in enumerate(names) if n in json_columns)
    return _Prepared(str(compiled), names, values, json, positional)


def _by_key(batches: Iterable[Batch], *key: str) -> list[dict[str, Any]]:
    """The records of several batches, the last export of each identity winning."""
    unique: dict[tuple, dict[str, Any]] = {}
    for batch in batches:
        for record in batch.records:
            unique[tuple(record[k] for k in key)] = record
    return list(unique.values())


def write(
    connection: sa.Connection,
    span_batches: Sequence[Batch],
    log_batches: Sequence[Batch] = (),
    *,
    stored_chunks: StoredChunks | None = None,
) -> None:
    """Store several decoded requests in the caller's transaction; `stored_chunks` is the
    writer's memory of the chunks it committed (`app.stored_chunks`), if it keeps one."""
    serialize_writers(connection)
    all_batches = [*span_batches, *log_batches]
    _insert_new(
        connection, resources, {k: v for b in all_batches for k, v in b.resources.items()}.values()
    )
    _insert_new(
        connection, scopes, {k: v for b in all_batches for k, v in b.scopes.items()}.values()
    )
    span_rows = _by_key(span_batches, "trace_id", "span_id")
    write_chunks(connection, span_rows, stored_chunks)
    # Keys that are not columns, such as "search_pieces", are left out of the insert.
    _upsert(connection, spans, span_rows)
    write_search_text(connection, span_rows)
    _insert_new(connection, span_logs, _by_key(log_batches, "log_id"))
    trace_ids = {row["trace_id"] for row in span_rows}
    # Spans that record one call: one of them shows it, the others fold into it, even from
    # other traces, whose summaries change too.
    trace_ids |= link_calls(connection, span_rows)
    fold_sdk_spans(connection, {r["trace_id"] for r in span_rows if r.get("llm_convention")})
    fold_call_parts(connection, trace_ids)
    recompute_traces(connection, trace_ids)


def serialize_writers(connection: sa.Connection) -> None:
    """On PostgreSQL, wait until no other collector is writing, for the rest of the transaction.

    Several collectors may share one PostgreSQL. What a write derives from the stored spans
    (trace summaries, which span shows a call) reads spans other collectors may be writing at
    that moment; under READ COMMITTED neither would see the other's, and the later commit
    would keep a summary that misses spans. Taking turns is simple and cannot deadlock; what
    costs most, decoding and extracting, still runs in parallel in each collector. SQLite has
    one writer at a time anyway.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(WRITE_LOCK)))


def write_chunks(
    connection: sa.Connection,
    span_rows: Sequence[dict[str, Any]],
    stored: StoredChunks | None = None,
) -> None:
    """Store the chunks of the spans' long values that are new, and move forward the minute
    of those already stored when a later span uses them (see `schema.chunks`); none that
    `stored` knows are stored with their minute already."""
    newest: dict[bytes, tuple[int, bytes]] = {}
    for row in span_rows:
        minute = row["start_ns"] // MINUTE_NS
        for digest, data in (row.get("chunks") or {}).items():
            found = newest.get(digest)
            if found is None or found[0] < minute:
                newest[digest] = (minute, data)
    if stored is not None:
        newest = {d: found for d, found in newest.items() if stored.needs_writing(d, found[0])}
        for digest, (minute, _) in newest.items():
            stored.written(digest, minute)
    upsert_chunks(
        connection,
        [
            {"digest": digest, "newest_minute": minute, "data": data}
            for digest, (minute, data) in sorted(newest.items())
        ],
    )


def upsert_chunks(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert chunk rows (digest, newest_minute, data) that are new; for those stored, move
    `newest_minute` forward if the row's is later."""

    def insert_or_touch(_columns: tuple[str, ...]) -> Any:
        insert = _insert(connection, chunks)
        return insert.on_conflict_do_update(
            index_elements=["digest"],
            set_={"newest_minute": insert.excluded.newest_minute},
            # At most once a minute per chunk, however many calls re-send it.
            where=insert.excluded.newest_minute > chunks.c.newest_minute,
        )

    _executemany(connection, "insert or touch", insert_or_touch, chunks, rows)


# The oldest spans with long values, whose chunks are kept by digest rather than by minute.
PINNED_SPANS = 1_000


def drop_unused_chunks(connection: sa.Connection) -> int:
    """Delete the chunks no stored span can use, after spans were deleted; the count.

    Every span uses only chunks whose `newest_minute` is at least the minute it started. With
    the oldest `PINNED_SPANS` spans that have long values set apart, a chunk last used before
    the minute of the next such span is used by none but those few, whose digests are read: it
    goes unless one of them uses it. So one old span left (a trace that has lived for weeks)
    keeps its own chunks, not every chunk stored since it started. A chunk of a deleted span
    from the boundary's own minute stays until a later pass: the cost of not keeping a
    reference count that every write would have to update.
    """
    serialize_writers(connection)
    s = spans.c
    oldest = connection.execute(
        sa.select(s.start_ns, s.long_attributes)
        .where(s.long_attributes.is_not(None))
        .order_by(s.start_ns)
        .limit(PINNED_SPANS + 1)
    ).all()
    candidates = sa.select(chunks.c.digest)
    if len(oldest) > PINNED_SPANS:
        candidates = candidates.where(chunks.c.newest_minute < oldest[-1].start_ns // MINUTE_NS)
        oldest = oldest[:-1]
    pinned = long_values.digests_of(row.long_attributes for row in oldest)
    unused = [d for d in connection.execute(candidates).scalars() if d not in pinned]
    for start in range(0, len(unused), CHUNK):
        connection.execute(
            chunks.delete().where(chunks.c.digest.in_(unused[start : start + CHUNK]))
        )
    return len(unused)


def write_search_text(connection: sa.Connection, span_rows: Sequence[dict[str, Any]]) -> None:
    """Store the search text of each span, replacing an earlier export's; no text, no row.

    An agent's calls each re-send the conversation so far, so most of a call's text is in the
    calls before it. A long piece of text (`search.SHARED_PIECE_CHARS`) is indexed once per
    trace, with the span that first had it, which `search_pieces` remembers; the index then
    grows with what is new in each call, not with the whole history again. Search matches a
    trace when each of its terms is in some span of it (`queries._matching_traces`).

    `app.search_rows` stores the texts and keeps SQLite's FTS5 index in step with them.
    """
    owners = _piece_owners(connection, span_rows)
    claims: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    emptied: list[tuple[bytes, bytes]] = []
    # The earliest call of a conversation is where its history's pieces first appeared.
    for row in sorted(span_rows, key=lambda r: r["start_ns"]):
        trace, span = row["trace_id"], row["span_id"]
        kept = []
        for digest, text in row["search_pieces"]:
            if digest is not None:
                owner = owners.setdefault((trace, digest), span)
                if owner == span:
                    claims.append({"trace_id": trace, "piece_hash": digest, "span_id": span})
                else:
                    continue
            kept.append((digest, text))
        body = search.join(kept)
        if body:
            rows.append({"trace_id": trace, "span_id": span, "body": body})
        else:
            emptied.append((trace, span))
    _insert_new(connection, search_pieces, claims)

    search_rows.replace(connection, rows, emptied)


def _piece_owners(
    connection: sa.Connection, span_rows: Sequence[dict[str, Any]]
) -> dict[tuple[bytes, bytes], bytes]:
    """Which span of its trace indexes each shared piece already stored, for these spans."""
    traces_ = sorted(
        {row["trace_id"] for row in span_rows if any(d for d, _ in row["search_pieces"])}
    )
    owners: dict[tuple[bytes, bytes], bytes] = {}
    for start in range(0, len(traces_), CHUNK):
        found = connection.execute(_PIECE_OWNERS, {"ids": traces_[start : start + CHUNK]})
        owners.update({(trace, digest): span for trace, digest, span in found})
    return owners


def _ids() -> Any:
    """The bound list of ids of a statement built once (below), expanded when it runs.

    The writer's statements are built once, at import: building and compiling one afresh on
    every write cost it more than running some of them.
    """
    return sa.bindparam("ids", expanding=True)


_PIECE_OWNERS = sa.select(
    search_pieces.c.trace_id, search_pieces.c.piece_hash, search_pieces.c.span_id
).where(search_pieces.c.trace_id.in_(_ids()))


# The response facts of a call, which the span that shows it may lack and another span of the
# call (its stream, or another source's record of it) may know.
FOLDED = (
    "llm_response_model",
    "llm_input_tokens",
    "llm_output_tokens",
    "llm_cache_read_tokens",
    "llm_cache_creation_tokens",
    "llm_finish_reasons",
    "llm_ttft_ms",
)
# Of those, what the Anthropic SDK's span reads off the API's own response: when the SDK
# recorded a call too, its values win (`call_links.exact_from_sdk`).
EXACT = (
    "llm_input_tokens",
    "llm_output_tokens",
    "llm_cache_read_tokens",
    "llm_cache_creation_tokens",
    "llm_ttft_ms",
)
# Bound as SQL NULL, not as the JSON null the column's own type would write.
_NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def link_calls(connection: sa.Connection, span_rows: Sequence[dict[str, Any]]) -> set[bytes]:
    """Mark, of the spans that record one API call, the one that shows it as the call and the
    others as folded into it, and complete its facts from theirs; return the traces changed.

    The spans come from one lookup by the keys (`llm_call_key`) of the written spans, in any
    trace; `app.call_links` cuts them into calls and picks each call's span. Decided afresh on
    every write from what is stored, so the order spans arrive in does not matter, and a span
    exported again is folded again.
    """
    keyed = [row for row in span_rows if row.get("llm_call_key") is not None]
    if not keyed:
        return set()
    found = queries.call_members(
        connection,
        [row["llm_call_key"] for row in keyed],
        min(row["start_ns"] for row in keyed) - call_links.WINDOW_NS,
        max(row["start_ns"] for row in keyed) + call_links.WINDOW_NS,
        *(spans.c[name] for name in (*FOLDED, "llm_streaming")),
    )
    rows = {(row.trace_id, row.span_id): row for row in found}
    marks: list[dict[str, Any]] = []
    fills: list[dict[str, Any]] = []
    for group in call_links.split(call_links.Member.of(row) for row in found):
        ordered = call_links.ordered(group)
        lead = ordered[0]
        for member in ordered:
            counted = call_links.counts(member, lead)
            if rows[member.ident].llm_is_call is not counted:
                marks.append({"t": member.trace_id, "s": member.span_id, "v": counted})
        if len(ordered) > 1:
            others = [(rows[m.ident], m.sdk) for m in ordered[1:]]
            filled = _filled(rows[lead.ident], others)
            if filled is not None:
                fills.append({"t": lead.trace_id, "s": lead.span_id, **filled})
    if marks:
        connection.execute(_MARK_CALL, marks)
    if fills:
        connection.execute(_FILL_CALL, fills)
    return {mark["t"] for mark in marks} | {fill["t"] for fill in fills}


_ONE_SPAN = sa.and_(spans.c.trace_id == sa.bindparam("t"), spans.c.span_id == sa.bindparam("s"))
_MARK_CALL = spans.update().where(_ONE_SPAN).values(llm_is_call=sa.bindparam("v"))
_FILL_CALL = (
    spans.update()
    .where(_ONE_SPAN)
    .values(
        {
            **{name: sa.bindparam(f"f_{name}") for name in (*FOLDED, "llm_streaming")},
            "llm_finish_reasons": sa.bindparam("f_llm_finish_reasons", type_=_NULLABLE_JSON),
        }
    )
)


def _filled(lead: Any, others: Sequence[tuple[Any, bool]]) -> dict[str, Any] | None:
    """The response facts of the span that shows a call, completed from the call's other spans
    (each with whether it is the SDK's), best first; None when nothing changes.

    The SDK's usage and time to first token win (`call_links.exact_from_sdk`); any other fact
    is taken only where the span lacks it.
    """
    facts = {f"f_{name}": getattr(lead, name) for name in (*FOLDED, "llm_streaming")}
    exact = [row for row, sdk in others if sdk and call_links.exact_from_sdk(lead.llm_convention)]
    for name in FOLDED:
        value = getattr(lead, name)
        found = None
        if name in EXACT:
            found = next((v for row in exact if _known(v := getattr(row, name))), None)
        if found is None and not _known(value):
            found = next((v for row, _ in others if _known(v := getattr(row, name))), None)
        if found is not None:
            facts[f"f_{name}"] = found
    # A call the SDK saw stream did stream, whether or not the span's source says so.
    if any(row.llm_streaming for row, _ in others):
        facts["f_llm_streaming"] = True
    unchanged = all(
        facts[f"f_{name}"] == getattr(lead, name) for name in (*FOLDED, "llm_streaming")
    )
    return None if unchanged else facts


def _known(value: Any) -> bool:
    return value is not None and value != []


def fold_sdk_spans(connection: sa.Connection, trace_ids: Iterable[bytes]) -> None:
    """An Anthropic SDK span under an LLM span of another source is no call of its own: it is
    the SDK's record of the call its parent records (an OpenInference span wraps it).

    This holds whether or not the two share a key (a failed call has no response id), so it is
    decided by parentage, for each trace a write touched, whichever of the two came first.
    """
    ordered = sorted(trace_ids)
    for start in range(0, len(ordered), CHUNK):
        connection.execute(_FOLD_SDK, {"ids": ordered[start : start + CHUNK]})


def _fold_sdk() -> Any:
    s, parent = spans.c, spans.alias("parent")
    sdk = sa.or_(
        s.llm_convention == call_links.SDK_CONVENTION, s.scope_name == call_links.SDK_SCOPE
    )
    wrapped = sa.exists().where(
        parent.c.trace_id == s.trace_id,
        parent.c.span_id == s.parent_span_id,
        parent.c.llm_convention.is_not(None),
        parent.c.llm_convention != call_links.SDK_CONVENTION,
        parent.c.scope_name != call_links.SDK_SCOPE,
    )
    return (
        spans.update()
        .where(
            s.trace_id.in_(_ids()),
            s.llm_is_call.is_(True),
            s.parent_span_id.is_not(None),
            sdk,
            wrapped,
        )
        .values(llm_is_call=False)
    )


_FOLD_SDK = _fold_sdk()


def fold_call_parts(connection: sa.Connection, trace_ids: Iterable[bytes]) -> None:
    """Give each call span the response facts of the spans under it that are no calls of their
    own, so that one span summarises the call.

    Those are of two kinds. A part of the call (a streamed response, a child span its own
    convention marks as no call) knows the response better than the request span, which ended
    before the output began: its facts win. Another source's record of the call (the SDK's
    span inside an instrumentor's) fills in what the call span lacks, and its usage and time
    to first token win (`EXACT`). Recomputed on every write of the trace, in either order of
    arrival, so a re-exported call span gets them back.
    """
    ordered = sorted(trace_ids)
    for start in range(0, len(ordered), CHUNK):
        # Most traces have no parts at all: find the few that do before updating anything.
        found = connection.execute(_WITH_PARTS, {"ids": ordered[start : start + CHUNK]})
        with_parts = found.scalars().all()
        if with_parts:
            connection.execute(_FOLD_PARTS, {"ids": with_parts})


def _fold_parts() -> Any:
    under = spans.alias("under")
    belongs = sa.and_(
        under.c.trace_id == spans.c.trace_id,
        under.c.parent_span_id == spans.c.span_id,
        under.c.llm_convention.is_not(None),
        under.c.llm_is_call.is_(False),
    )
    # Spans stored before call links have no rank; the only spans under a call then were parts.
    is_part = sa.or_(under.c.llm_call_rank.is_(None), under.c.llm_call_rank == call_links.PART)
    exact_sdk = sa.and_(
        ~is_part,
        sa.or_(
            under.c.llm_convention == call_links.SDK_CONVENTION,
            under.c.scope_name == call_links.SDK_SCOPE,
        ),
        # As call_links.exact_from_sdk: our own client's span keeps its own.
        spans.c.llm_convention != "spyglass",
    )

    def from_under(name: str, kind: Any) -> Any:
        found = sa.select(under.c[name]).where(belongs, kind, under.c[name].is_not(None))
        return found.order_by(under.c.start_ns).limit(1).scalar_subquery()

    return (
        spans.update()
        .where(
            spans.c.trace_id.in_(_ids()),
            spans.c.llm_is_call.is_(True),
            sa.exists().where(belongs),
        )
        .values(
            {
                name: sa.func.coalesce(
                    from_under(name, is_part),
                    *([from_under(name, exact_sdk)] if name in EXACT else []),
                    spans.c[name],
                    from_under(name, ~is_part),
                )
                for name in FOLDED
            }
        )
    )


_WITH_PARTS = (
    sa.select(spans.c.trace_id)
    .distinct()
    .where(spans.c.trace_id.in_(_ids()), spans.c.llm_is_call.is_(False))
)
_FOLD_PARTS = _fold_parts()


def recompute_traces(connection: sa.Connection, trace_ids: Iterable[bytes]) -> None:
    """Rebuild the summary row of each trace from its stored spans."""
    ordered = sorted(trace_ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = _summaries(connection, chunk)
        _upsert(connection, traces, rows)


def _summaries(connection: sa.Connection, trace_ids: list[bytes]) -> list[dict[str, Any]]:
    ids = {"ids": trace_ids}
    summaries = {
        row["trace_id"]: {**row, "models": []}
        for row in connection.execute(_TOTALS, ids).mappings()
    }
    for trace_id, name in connection.execute(_MODELS, ids):
        summaries[trace_id]["models"].append(name)
    for row in connection.execute(_FIRST_SPANS, ids):
        summary = summaries[row.trace_id]
        summary["root_span_id"] = row.span_id if row.parent_span_id is None else None
        summary["name"], summary["service_name"] = row.name, row.service_name
        summary["models"].sort()
    return list(summaries.values())


def _summary_statements() -> tuple[Any, Any, Any]:
    """The totals of each trace, the models its calls used, and the span that names it."""
    s = spans.c
    is_llm = s.llm_convention.is_not(None)

    def of_calls(column: Any) -> Any:
        # A call's parts were folded into it: counting them too would count twice.
        return sa.case((s.llm_is_call.is_(True), column))

    totals = (
        sa.select(
            s.trace_id,
            sa.func.count().label("span_count"),
            sa.func.min(s.start_ns).label("start_ns"),
            sa.func.max(s.end_ns).label("end_ns"),
            sa.func.sum(sa.case((s.status_code == STATUS_ERROR, 1), else_=0)).label("error_count"),
            sa.func.sum(sa.case((s.llm_is_call.is_(True), 1), else_=0)).label("llm_call_count"),
            sa.func.coalesce(sa.func.sum(of_calls(s.llm_input_tokens)), 0).label("input_tokens"),
            sa.func.coalesce(sa.func.sum(of_calls(s.llm_output_tokens)), 0).label("output_tokens"),
            sa.func.coalesce(sa.func.sum(of_calls(s.llm_cache_read_tokens)), 0).label(
                "cache_read_input_tokens"
            ),
            sa.func.coalesce(sa.func.sum(of_calls(s.llm_cache_creation_tokens)), 0).label(
                "cache_creation_input_tokens"
            ),
        )
        .where(s.trace_id.in_(_ids()))
        .group_by(s.trace_id)
    )
    model = sa.func.coalesce(s.llm_response_model, s.llm_request_model)
    models = (
        sa.select(s.trace_id, model)
        .distinct()
        .where(s.trace_id.in_(_ids()), is_llm, model.is_not(None))
    )
    # The root names the trace. Children often arrive before their root (they end first),
    # so until it comes the earliest span stands in: one pass ranks each trace's spans, roots
    # first, then by start.
    is_child = sa.case((s.parent_span_id.is_(None), 0), else_=1)
    rank = sa.func.row_number().over(
        partition_by=s.trace_id, order_by=(is_child, s.start_ns, s.span_id)
    )
    ranked = (
        sa.select(s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, rank.label("n"))
        .where(s.trace_id.in_(_ids()))
        .subquery()
    )
    return totals, models, sa.select(ranked).where(ranked.c.n == 1)


_TOTALS, _MODELS, _FIRST_SPANS = _summary_statements()
