"""Writes: spans, their resources and scopes, span logs, and the trace summaries.

Every write is an upsert keyed by identity, so a retried export changes nothing and a later
export of a span (some SDKs send a span when it starts and again when it ends) replaces the
earlier one. Trace summaries are recomputed from the stored spans of each trace the write
touched, never incremented, so they stay right whatever order spans arrive in.

Records arrive as plain dicts from `app.ingest` and go to the database in batched
`executemany` statements: no ORM objects on this path. A span's search text (`search_text`,
computed at ingest) goes to `span_search` in the same transaction, replacing what an earlier
export of the span left there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.otlp import Batch
from app.schema import resources, scopes, span_logs, span_search, spans, traces

# Bound parameters per IN (...) list: well inside every backend's limit.
CHUNK = 500
STATUS_ERROR = 2


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _upsert(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, replacing any stored row with the same primary key."""
    if not rows:
        return
    statement = _insert(connection, table)
    keys = {column.name for column in table.primary_key.columns}
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    connection.execute(statement, list(rows))


def _insert_new(connection: sa.Connection, table: sa.Table, rows: Iterable[dict]) -> None:
    """Insert rows whose primary key is a content hash: a stored one is already identical."""
    rows = list(rows)
    if rows:
        connection.execute(_insert(connection, table).on_conflict_do_nothing(), rows)


def _by_key(batches: Iterable[Batch], *key: str) -> list[dict[str, Any]]:
    """The records of several batches, the last export of each identity winning."""
    unique: dict[tuple, dict[str, Any]] = {}
    for batch in batches:
        for record in batch.records:
            unique[tuple(record[k] for k in key)] = record
    return list(unique.values())


def write(
    connection: sa.Connection, span_batches: Sequence[Batch], log_batches: Sequence[Batch] = ()
) -> None:
    """Store several decoded requests in the caller's transaction."""
    all_batches = [*span_batches, *log_batches]
    _insert_new(
        connection, resources, {k: v for b in all_batches for k, v in b.resources.items()}.values()
    )
    _insert_new(
        connection, scopes, {k: v for b in all_batches for k, v in b.scopes.items()}.values()
    )
    span_rows = _by_key(span_batches, "trace_id", "span_id")
    # Keys that are not columns, such as "search_text", are left out of the insert.
    _upsert(connection, spans, span_rows)
    write_search_text(connection, span_rows)
    _insert_new(connection, span_logs, _by_key(log_batches, "log_id"))
    trace_ids = {row["trace_id"] for row in span_rows}
    fold_call_parts(connection, trace_ids)
    recompute_traces(connection, trace_ids)


def write_search_text(connection: sa.Connection, span_rows: Sequence[dict[str, Any]]) -> None:
    """Store the search text of each span, replacing an earlier export's; no text, no row.

    On SQLite triggers carry every change into the FTS5 index. An unchanged text (a retried
    export) is not written again, so the index is not churned for nothing.
    """
    rows = [
        {"trace_id": r["trace_id"], "span_id": r["span_id"], "body": r["search_text"]}
        for r in span_rows
        if r["search_text"]
    ]
    if rows:
        statement = _insert(connection, span_search)
        statement = statement.on_conflict_do_update(
            index_elements=["trace_id", "span_id"],
            set_={"body": statement.excluded.body},
            where=span_search.c.body.is_distinct_from(statement.excluded.body),
        )
        connection.execute(statement, rows)
    # Rare: a span exported again without the text it had, or with none at all.
    emptied = [(r["trace_id"], r["span_id"]) for r in span_rows if not r["search_text"]]
    key = sa.tuple_(span_search.c.trace_id, span_search.c.span_id)
    for start in range(0, len(emptied), CHUNK):
        connection.execute(span_search.delete().where(key.in_(emptied[start : start + CHUNK])))


# What a part of a call (a streamed response) knows better than the call's own span.
FOLDED = (
    "llm_response_model",
    "llm_input_tokens",
    "llm_output_tokens",
    "llm_cache_read_tokens",
    "llm_cache_creation_tokens",
    "llm_finish_reasons",
    "llm_ttft_ms",
)


def fold_call_parts(connection: sa.Connection, trace_ids: Iterable[bytes]) -> None:
    """Give each call span the response facts of its parts, so one span summarises the call.

    A streamed call is recorded as a request span (the call) and a child span with the
    response, which is not a call of its own. Recomputed on every write of the trace, in either
    order of arrival, so a re-exported request span gets its parts' facts back.
    """
    part = spans.alias("part")
    belongs = sa.and_(
        part.c.trace_id == spans.c.trace_id,
        part.c.parent_span_id == spans.c.span_id,
        part.c.llm_convention.is_not(None),
        part.c.llm_is_call.is_(False),
    )

    def from_part(name: str) -> Any:
        found = sa.select(part.c[name]).where(belongs, part.c[name].is_not(None))
        return found.order_by(part.c.start_ns).limit(1).scalar_subquery()

    ordered = sorted(trace_ids)
    for start in range(0, len(ordered), CHUNK):
        # Most traces have no parts at all: find the few that do before updating anything.
        with_parts = (
            connection.execute(
                sa.select(spans.c.trace_id)
                .distinct()
                .where(
                    spans.c.trace_id.in_(ordered[start : start + CHUNK]),
                    spans.c.llm_is_call.is_(False),
                )
            )
            .scalars()
            .all()
        )
        if not with_parts:
            continue
        connection.execute(
            spans.update()
            .where(
                spans.c.trace_id.in_(with_parts),
                spans.c.llm_is_call.is_(True),
                sa.exists().where(belongs),
            )
            .values({name: sa.func.coalesce(from_part(name), spans.c[name]) for name in FOLDED})
        )


def recompute_traces(connection: sa.Connection, trace_ids: Iterable[bytes]) -> None:
    """Rebuild the summary row of each trace from its stored spans."""
    ordered = sorted(trace_ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        rows = _summaries(connection, chunk)
        _upsert(connection, traces, rows)


def _summaries(connection: sa.Connection, trace_ids: list[bytes]) -> list[dict[str, Any]]:
    s = spans.c
    is_llm = s.llm_convention.is_not(None)

    def of_calls(column: Any) -> Any:
        # A call's parts were folded into it: counting them too would count twice.
        return sa.case((s.llm_is_call.is_(True), column))

    totals = connection.execute(
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
        .where(s.trace_id.in_(trace_ids))
        .group_by(s.trace_id)
    ).mappings()
    summaries = {row["trace_id"]: {**row, "models": []} for row in totals}

    model = sa.func.coalesce(s.llm_response_model, s.llm_request_model)
    for trace_id, name in connection.execute(
        sa.select(s.trace_id, model)
        .distinct()
        .where(s.trace_id.in_(trace_ids), is_llm, model.is_not(None))
    ):
        summaries[trace_id]["models"].append(name)

    # The root names the trace. Children often arrive before their root (they end first),
    # so until it comes the earliest span stands in: one pass ranks each trace's spans, roots
    # first, then by start.
    is_child = sa.case((s.parent_span_id.is_(None), 0), else_=1)
    rank = sa.func.row_number().over(
        partition_by=s.trace_id, order_by=(is_child, s.start_ns, s.span_id)
    )
    ranked = (
        sa.select(s.trace_id, s.span_id, s.parent_span_id, s.name, s.service_name, rank.label("n"))
        .where(s.trace_id.in_(trace_ids))
        .subquery()
    )
    for row in connection.execute(sa.select(ranked).where(ranked.c.n == 1)):
        summary = summaries[row.trace_id]
        summary["root_span_id"] = row.span_id if row.parent_span_id is None else None
        summary["name"], summary["service_name"] = row.name, row.service_name
        summary["models"].sort()
    return list(summaries.values())
