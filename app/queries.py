"""Reads: the trace list, one trace, the span list, one span, and a span's LLM details.

Functions take a connection and return plain dicts in the REST API's shapes, which the pages
use too. Lists page by keyset (newest first, ties broken by id), never by OFFSET or COUNT(*),
so a page costs the same however many rows are stored.
"""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from app import search
from app.conventions import conversation_of
from app.schema import resources, scopes, span_logs, span_search, spans, traces

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
# Times and integers are stored as signed 64-bit integers; the driver refuses to bind wider ones.
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1


class BadQuery(ValueError):
    """A parameter that cannot be used, with a message for the user (the API answers 422)."""


# --- formatting ------------------------------------------------------------------------------


def format_time(ns: int) -> str:
    """RFC 3339 in UTC with microseconds, as the contract fixes."""
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration_ms(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1_000_000


def parse_trace_id(text: str) -> bytes:
    return _parse_id(text, 16, "trace id")


def parse_span_id(text: str) -> bytes:
    return _parse_id(text, 8, "span id")


def _parse_id(text: str, size: int, what: str) -> bytes:
    # Checked by hand because bytes.fromhex would also take spaces between the digits.
    if len(text) != size * 2 or not all(char in string.hexdigits for char in text):
        raise BadQuery(f"{what} must be {size * 2} hex characters, got {text[:80]!r}")
    return bytes.fromhex(text)


# --- cursors ---------------------------------------------------------------------------------


def _encode_cursor(*position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str, arity: int) -> list[Any]:
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (
            isinstance(position, list)
            and len(position) == arity
            and position[0] == kind
            and type(position[1]) is int
            and MIN_INT64 <= position[1] <= MAX_INT64
            and all(isinstance(part, str) for part in position[2:])
        )
        if valid:
            return [position[1], *(bytes.fromhex(part) for part in position[2:])]
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        pass
    raise BadQuery("cursor is not valid: pass back the next_cursor of a previous reply unchanged")


# --- traces ----------------------------------------------------------------------------------


@dataclass
class TraceFilter:
    since_ns: int | None = None
    until_ns: int | None = None
    service: str | None = None
    model: str | None = None
    q: str | None = None
    status: str | None = None  # "error": traces with an error; "ok": traces without


def trace_summary(row: Any) -> dict[str, Any]:
    return {
        "trace_id": row.trace_id.hex(),
        "root_span_id": row.root_span_id.hex() if row.root_span_id else None,
        "name": row.name,
        "service_name": row.service_name,
        "start_time": format_time(row.start_ns),
        "end_time": format_time(row.end_ns),
        "duration_ms": _duration_ms(row.start_ns, row.end_ns),
        "span_count": row.span_count,
        "llm_call_count": row.llm_call_count,
        "models": list(row.models or []),
        "error_count": row.error_count,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cache_read_input_tokens": row.cache_read_input_tokens,
        "cache_creation_input_tokens": row.cache_creation_input_tokens,
    }


def _span_in_trace(*conditions: Any) -> Any:
    return sa.exists().where(spans.c.trace_id == traces.c.trace_id, *conditions)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching(dialect: str, q: str, *columns: Any) -> sa.Select:
    """`columns` of the `span_search` rows whose text matches `q`."""
    try:
        match = search.fts_query(q)
    except ValueError as exc:
        raise BadQuery(f"q: {exc}") from None
    found = sa.select(*columns)
    if dialect == "postgresql":
        # Until PostgreSQL gets its own index: every term as a case-blind substring.
        words = [text.replace("\x00", "") for text, _ in search.terms(q)]
        return found.where(*(span_search.c.body.ilike(_like(w), escape="\\") for w in words))
    fts = sa.table("span_search_fts", sa.column("rowid"))
    matching = (
        sa.select(fts.c.rowid)
        .where(sa.text("span_search_fts MATCH :match").bindparams(match=match))
        .scalar_subquery()
    )
    return found.where(span_search.c.id.in_(matching))


def _matching_traces(dialect: str, q: str) -> Any:
    """The ids of the traces with a span whose search text (`span_search`) matches `q`."""
    return _matching(dialect, q, span_search.c.trace_id)


def matching_spans(connection: sa.Connection, trace_id: bytes, q: str) -> set[str]:
    """The ids (hex) of the spans of one trace whose search text matches `q`."""
    query = _matching(connection.dialect.name, q, span_search.c.span_id).where(
        span_search.c.trace_id == trace_id
    )
    return {span_id.hex() for span_id in connection.execute(query).scalars()}


def list_traces(
    connection: sa.Connection, filters: TraceFilter, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    t = traces.c
    query = sa.select(traces)
    if filters.since_ns is not None:
        query = query.where(t.start_ns >= filters.since_ns)
    if filters.until_ns is not None:
        query = query.where(t.start_ns < filters.until_ns)
    if filters.status == "error":
        query = query.where(t.error_count > 0)
    elif filters.status == "ok":
        query = query.where(t.error_count == 0)
    if filters.service:
        # The traces any span of the service belongs to, found once through the service index
        # (a correlated EXISTS would scan the service's spans again for every trace).
        in_service = sa.select(spans.c.trace_id).where(spans.c.service_name == filters.service)
        query = query.where(t.trace_id.in_(in_service))
    if filters.model:
        query = query.where(
            _span_in_trace(
                sa.or_(
                    spans.c.llm_request_model == filters.model,
                    spans.c.llm_response_model == filters.model,
                )
            )
        )
    if filters.q:
        query = query.where(t.trace_id.in_(_matching_traces(connection.dialect.name, filters.q)))
    if cursor:
        start_ns, trace_id = _decode_cursor(cursor, "t", 3)
        query = query.where(sa.tuple_(t.start_ns, t.trace_id) < sa.tuple_(start_ns, trace_id))
    query = query.order_by(t.start_ns.desc(), t.trace_id.desc()).limit(limit + 1)
    rows = connection.execute(query).all()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor("t", page[-1].start_ns, page[-1].trace_id.hex()) if more else None
    return [trace_summary(row) for row in page], next_cursor


def service_names(connection: sa.Connection, limit: int = 200) -> list[str]:
    """The services that traces are named after, for the list's filter, in name order.

    A loose index scan: each step asks the (service_name, start_ns) index for the next name
    after the last one, so the cost grows with the number of services, not of traces.
    """
    t = traces.c
    names = sa.select(sa.func.min(t.service_name).label("name")).cte("names", recursive=True)
    following = (
        sa.select(sa.func.min(t.service_name)).where(t.service_name > names.c.name)
    ).scalar_subquery()
    names = names.union_all(sa.select(following).where(names.c.name.is_not(None)))
    query = sa.select(names.c.name).where(names.c.name.is_not(None)).limit(limit)
    return list(connection.execute(query).scalars())


def get_trace(connection: sa.Connection, trace_id: bytes) -> dict[str, Any] | None:
    row = connection.execute(sa.select(traces).where(traces.c.trace_id == trace_id)).first()
    if row is None:
        return None
    span_rows = connection.execute(
        _span_select()
        .where(spans.c.trace_id == trace_id)
        .order_by(spans.c.start_ns, spans.c.span_id)
    ).all()
    return {"trace": trace_summary(row), "spans": [span_view(r) for r in span_rows]}


def trace_outline(connection: sa.Connection, trace_id: bytes) -> dict[str, Any] | None:
    """A trace and the shape of its spans, for a waterfall: no attributes, events or links.

    Decoding every span's attributes is most of the cost of a big trace, and a waterfall shows
    none of them; the selected span's details are read on their own (`get_span`).
    """
    row = connection.execute(sa.select(traces).where(traces.c.trace_id == trace_id)).first()
    if row is None:
        return None
    s = spans.c
    llm_columns = [column for column in spans.columns if column.name.startswith("llm_")]
    span_rows = connection.execute(
        sa.select(
            s.span_id,
            s.parent_span_id,
            s.name,
            s.start_ns,
            s.end_ns,
            s.status_code,
            s.status_message,
            s.service_name,
            *llm_columns,
        )
        .where(s.trace_id == trace_id)
        .order_by(s.start_ns, s.span_id)
    ).all()
    outline = [
        {
            "span_id": r.span_id.hex(),
            "parent_span_id": r.parent_span_id.hex() if r.parent_span_id else None,
            "name": r.name,
            "start_time_unix_nano": r.start_ns,
            "duration_ms": _duration_ms(r.start_ns, r.end_ns),
            "status_code": STATUS_CODES[r.status_code],
            "status_message": r.status_message,
            "service_name": r.service_name,
            "llm": llm_view(r),
        }
        for r in span_rows
    ]
    return {"trace": trace_summary(row), "spans": outline}


# --- spans -----------------------------------------------------------------------------------


@dataclass
class SpanFilter:
    trace_id: bytes | None = None
    name: str | None = None
    service: str | None = None
    model: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    status: str | None = None
    min_duration_ns: int | None = None
    attributes: Sequence[tuple[str, str]] = field(default_factory=tuple)


def _span_select() -> sa.Select:
    return sa.select(
        spans,
        resources.c.attributes.label("resource_attributes"),
        scopes.c.version.label("scope_version"),
        scopes.c.attributes.label("scope_attributes"),
    ).select_from(
        spans.join(resources, resources.c.resource_hash == spans.c.resource_hash).join(
            scopes, scopes.c.scope_hash == spans.c.scope_hash
        )
    )


def span_view(row: Any) -> dict[str, Any]:
    return {
        "trace_id": row.trace_id.hex(),
        "span_id": row.span_id.hex(),
        "parent_span_id": row.parent_span_id.hex() if row.parent_span_id else None,
        "name": row.name,
        "kind": SPAN_KINDS[row.kind],
        "start_time": format_time(row.start_ns),
        "end_time": format_time(row.end_ns),
        "start_time_unix_nano": row.start_ns,
        "end_time_unix_nano": row.end_ns,
        "duration_ms": _duration_ms(row.start_ns, row.end_ns),
        "status_code": STATUS_CODES[row.status_code],
        "status_message": row.status_message,
        "service_name": row.service_name,
        "scope_name": row.scope_name,
        "scope_version": row.scope_version,
        "scope_attributes": row.scope_attributes,
        "trace_state": row.trace_state,
        "flags": row.flags,
        "attributes": row.attributes,
        "resource_attributes": row.resource_attributes,
        "events": [
            {
                "name": event["name"],
                "time": format_time(event["time_ns"]),
                "attributes": event["attributes"],
                "dropped_attributes_count": event["dropped_attributes_count"],
            }
            for event in row.events
        ],
        "links": row.links,
        "dropped_attributes_count": row.dropped_attributes_count,
        "dropped_events_count": row.dropped_events_count,
        "dropped_links_count": row.dropped_links_count,
        "llm": llm_view(row),
    }


def llm_view(row: Any) -> dict[str, Any] | None:
    if row.llm_convention is None:
        return None
    return {
        "convention": row.llm_convention,
        # False for a span that records part of a call another span counts (a stream).
        "is_call": row.llm_is_call is not False,
        "provider": row.llm_provider,
        "request_model": row.llm_request_model,
        "response_model": row.llm_response_model,
        "input_tokens": row.llm_input_tokens,
        "output_tokens": row.llm_output_tokens,
        "cache_read_input_tokens": row.llm_cache_read_tokens,
        "cache_creation_input_tokens": row.llm_cache_creation_tokens,
        "finish_reasons": list(row.llm_finish_reasons or []),
        "streaming": bool(row.llm_streaming),
        "time_to_first_token_ms": row.llm_ttft_ms,
    }


def _attribute_equals(dialect: str, key: str, raw: str) -> Any:
    """`attributes[key]` equals `raw`: as text for strings, as a number, or as true/false."""
    number = _number(raw)
    if dialect == "postgresql":
        value = spans.c.attributes[key]
        kind = sa.func.jsonb_typeof(value)
        pg_matches = [sa.and_(kind == "string", value.as_string() == raw)]
        if raw in ("true", "false"):
            pg_matches.append(sa.and_(kind == "boolean", value.as_string() == raw))
        if number is not None:
            as_number = sa.cast(value.as_string(), sa.Float)
            pg_matches.append(sa.and_(kind == "number", as_number == float(number)))
        return sa.or_(*pg_matches)
    entry = sa.func.json_each(spans.c.attributes).table_valued("key", "value", "type").alias("a")
    matches = [sa.and_(entry.c.type == "text", entry.c.value == raw)]
    if raw in ("true", "false"):
        matches.append(entry.c.type == raw)
    if number is not None:
        matches.append(sa.and_(entry.c.type.in_(("integer", "real")), entry.c.value == number))
    return sa.exists().select_from(entry).where(entry.c.key == key, sa.or_(*matches))


def _number(text: str) -> int | float | None:
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        # An integer too wide to bind can still be compared, as a float.
        return number if MIN_INT64 <= number <= MAX_INT64 else float(text)
    try:
        return float(text)
    except ValueError:
        return None


def list_spans(
    connection: sa.Connection, filters: SpanFilter, limit: int, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    s = spans.c
    query = _span_select()
    if filters.trace_id is not None:
        query = query.where(s.trace_id == filters.trace_id)
    if filters.name is not None:
        query = query.where(s.name == filters.name)
    if filters.service is not None:
        query = query.where(s.service_name == filters.service)
    if filters.model is not None:
        query = query.where(
            sa.or_(s.llm_request_model == filters.model, s.llm_response_model == filters.model)
        )
    if filters.since_ns is not None:
        query = query.where(s.start_ns >= filters.since_ns)
    if filters.until_ns is not None:
        query = query.where(s.start_ns < filters.until_ns)
    if filters.status is not None:
        query = query.where(s.status_code == STATUS_CODES.index(filters.status))
    if filters.min_duration_ns is not None:
        query = query.where(s.duration_ns >= filters.min_duration_ns)
    for key, raw in filters.attributes:
        query = query.where(_attribute_equals(connection.dialect.name, key, raw))
    if cursor:
        start_ns, trace_id, span_id = _decode_cursor(cursor, "s", 4)
        query = query.where(
            sa.tuple_(s.start_ns, s.trace_id, s.span_id) < sa.tuple_(start_ns, trace_id, span_id)
        )
    query = query.order_by(s.start_ns.desc(), s.trace_id.desc(), s.span_id.desc()).limit(limit + 1)
    rows = connection.execute(query).all()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = _encode_cursor("s", last.start_ns, last.trace_id.hex(), last.span_id.hex())
    return [span_view(row) for row in page], next_cursor


def get_span(connection: sa.Connection, trace_id: bytes, span_id: bytes) -> dict[str, Any] | None:
    row = connection.execute(
        _span_select().where(spans.c.trace_id == trace_id, spans.c.span_id == span_id)
    ).first()
    if row is None:
        return None
    view = span_view(row)
    view["logs"] = span_log_views(connection, trace_id, span_id)
    return view


def span_log_views(connection: sa.Connection, trace_id: bytes, span_id: bytes) -> list[dict]:
    l = span_logs.c  # noqa: E741
    rows = connection.execute(
        sa.select(span_logs)
        .where(l.trace_id == trace_id, l.span_id == span_id)
        .order_by(l.time_ns, l.observed_time_ns, l.log_id)
    ).all()
    return [
        {
            "time": format_time(row.time_ns or row.observed_time_ns),
            "severity_number": row.severity_number,
            "severity_text": row.severity_text,
            "event_name": row.event_name,
            "body": row.body,
            "attributes": row.attributes,
        }
        for row in rows
    ]


@dataclass
class StoredCall:
    """An LLM call as stored: its span's attributes, events and logs, and its parts' attributes."""

    convention: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    parts: list[dict[str, Any]]

    def conversation(self) -> dict[str, Any] | None:
        """The call, normalised; None when no known convention recorded it."""
        return conversation_of(
            self.convention, self.attributes, self.parts, events=self.events, logs=self.logs
        )


def llm_call(connection: sa.Connection, trace_id: bytes, span_id: bytes) -> StoredCall | None:
    """The LLM call a span records, with what its convention may need to read it.

    A call may be recorded by more than one span: Spyglass's client records a streamed
    response in a child span that is not a call of its own (`llm_is_call` false). Asked about
    either span, this returns the call, with its parts. None for an unknown span.
    """
    s = spans.c
    columns = (
        s.span_id,
        s.parent_span_id,
        s.attributes,
        s.events,
        s.llm_convention,
        s.llm_is_call,
    )
    row = connection.execute(
        sa.select(*columns).where(s.trace_id == trace_id, s.span_id == span_id)
    ).first()
    if row is None:
        return None
    call = row
    if row.llm_convention is not None and row.llm_is_call is False and row.parent_span_id:
        parent = connection.execute(
            sa.select(*columns).where(s.trace_id == trace_id, s.span_id == row.parent_span_id)
        ).first()
        if parent is not None and parent.llm_convention is not None:
            call = parent
    parts = connection.execute(
        sa.select(s.attributes)
        .where(
            s.trace_id == trace_id,
            s.parent_span_id == call.span_id,
            s.llm_convention.is_not(None),
            s.llm_is_call.is_(False),
        )
        .order_by(s.start_ns, s.span_id)
    ).scalars()
    events = [
        {
            "name": event["name"],
            "time": format_time(event["time_ns"]),
            "attributes": event["attributes"],
        }
        for event in call.events or []
    ]
    return StoredCall(
        convention=call.llm_convention,
        attributes=call.attributes,
        events=events,
        logs=span_log_views(connection, trace_id, call.span_id),
        parts=list(parts),
    )
