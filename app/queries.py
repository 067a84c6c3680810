"""Reads: the trace list, one trace, the span list, one span, and a span's LLM details.

Functions take a connection and return plain dicts in the REST API's shapes, which the pages
use too. Lists page by keyset (newest first, ties broken by id), never by OFFSET or COUNT(*),
so a page costs the same however many rows are stored.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from app import call_links, long_values, search
from app.conventions import conversation_of
from app.schema import chunks, resources, scopes, span_logs, span_search, spans, traces

SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")
# Times and integers are stored as signed 64-bit integers; the driver refuses to bind wider ones.
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
# Bound parameters per IN (...) list: well inside every backend's limit.
CHUNK = 500


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


def _term_conditions(dialect: str, q: str) -> list[Any]:
    """One condition on `span_search` rows for each term of `q`, which is true of the rows
    whose text has it: through FTS5 on SQLite, through the tsvector column and its GIN index
    (migration 0005) on PostgreSQL."""
    try:
        expressions = search.fts_terms(q)
    except ValueError as exc:
        raise BadQuery(f"q: {exc}") from None
    if dialect == "postgresql":
        # Not in app.schema: the column exists on PostgreSQL only.
        vector = sa.literal_column("span_search.search_vector", TSVECTOR)
        return [vector.op("@@")(_tsquery([term])) for term in search.terms(q)]
    fts = sa.table("span_search_fts", sa.column("rowid"))
    match = sa.literal_column("span_search_fts").op("MATCH")
    return [
        span_search.c.id.in_(
            sa.select(fts.c.rowid).where(match(sa.bindparam("match", term, unique=True)))
        )
        for term in expressions
    ]


# The configuration migration 0005 indexes with: words lower-cased, unaccented, kept whole.
_SEARCH_CONFIG = sa.text("'spyglass_search'::regconfig")


def _tsquery(terms: list[tuple[str, bool]]) -> Any:
    """A PostgreSQL tsquery requiring every term, bare words as prefixes (as `fts_query`).

    PostgreSQL's own parser splits each term, exactly as it split the indexed text, into a
    phrase (`get_weather` is 'get' <-> 'weather'; a host name stays one word); a bare word
    then gets `:*` on its last word. The terms are bound parameters, never query syntax.

    The prefix is added to the phrase's text, which is read back with a plain cast: its words
    are lexemes already. `to_tsquery` would parse them again, and split a hyphenated word a
    second time ('foo-bar' <-> 'foo' <-> 'bar' becoming five words), which matches nothing.
    """
    queries = []
    for text, is_phrase in terms:
        phrase = sa.func.phraseto_tsquery(_SEARCH_CONFIG, text.replace("\x00", ""))
        if not is_phrase:
            # An empty phrase (a word too long to index) becomes NULL, which matches nothing.
            prefix = sa.func.nullif(sa.cast(phrase, sa.Text), "").concat(":*")
            phrase = sa.cast(prefix, TSQUERY)
        queries.append(phrase)
    return functools.reduce(lambda a, b: a.op("&&")(b), queries)


def _matching_traces(dialect: str, q: str) -> Any:
    """The ids of the traces that have each term of `q` in the search text of some span.

    A trace, not a span, must have them all: a long message is indexed only with the first
    span of its trace that has it (`store.write_search_text`), so a later call that repeats
    it, and adds a word of its own, still has both words in its trace.
    """
    found = [
        sa.select(span_search.c.trace_id).where(condition)
        for condition in _term_conditions(dialect, q)
    ]
    return found[0] if len(found) == 1 else sa.intersect(*found)


# A term in this many spans is common (see `_search_page`).
COMMON_TERM_SPANS = 2_000
# The newest traces that `_search_page` walks before it falls back to collecting the matches.
WALKED_TRACES = 5_000


def _search_page(connection: sa.Connection, query: sa.Select, q: str, wanted: int) -> list[Any]:
    """The rows of `query` (traces, newest first, at most `wanted`) with every term of `q`.

    Two plans, chosen by how common the terms are. A rare term is best found through its
    matches: collect the traces they belong to (`_matching_traces`), then sort those. A
    common one (a word in a tenth of a million spans) is not: mapping each of its matches to
    its trace costs in proportion to the matches, tens of milliseconds, before the newest 50
    are kept. Then the newest traces are walked in order instead, each checked for each term
    against the term's matches (read once from the index), and a page is found after a few
    hundred. Common terms can still be rare together, so the walk stops after the newest
    WALKED_TRACES; if they hold less than the page, the matches are collected after all.
    """
    t = traces.c
    dialect = connection.dialect.name
    if dialect == "sqlite" and _all_common(connection, q):
        walked = query.where(
            *(
                sa.exists().where(span_search.c.trace_id == t.trace_id, condition)
                for condition in _term_conditions(dialect, q)
            )
        )
        window = query.with_only_columns(t.start_ns, t.trace_id).limit(1).offset(WALKED_TRACES)
        boundary = connection.execute(window).first()
        if boundary is not None:  # more traces than the walk may go through: stop there
            walked = walked.where(sa.tuple_(t.start_ns, t.trace_id) > sa.tuple_(*boundary))
        rows = connection.execute(walked).all()
        if boundary is None or len(rows) == wanted:
            return rows
    found = query.where(t.trace_id.in_(_matching_traces(dialect, q)))
    return connection.execute(found).all()


def _all_common(connection: sa.Connection, q: str) -> bool:
    """Whether every term of `q` is in COMMON_TERM_SPANS spans or more, counted on the FTS5
    index up to that many and no further."""
    count = sa.text(
        "SELECT count(*) FROM (SELECT 1 FROM span_search_fts"
        " WHERE span_search_fts MATCH :term LIMIT :enough)"
    )
    try:
        expressions = search.fts_terms(q)
    except ValueError as exc:
        raise BadQuery(f"q: {exc}") from None
    return all(
        connection.execute(count, {"term": term, "enough": COMMON_TERM_SPANS}).scalar_one()
        >= COMMON_TERM_SPANS
        for term in expressions
    )


def matching_spans(connection: sa.Connection, trace_id: bytes, q: str) -> set[str]:
    """The ids (hex) of the spans of one trace whose search text has a term of `q`: where the
    words were said, since repeated history is indexed with the span it first appeared in."""
    conditions = _term_conditions(connection.dialect.name, q)
    query = sa.select(span_search.c.span_id).where(
        span_search.c.trace_id == trace_id, sa.or_(*conditions)
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
    if cursor:
        start_ns, trace_id = _decode_cursor(cursor, "t", 3)
        query = query.where(sa.tuple_(t.start_ns, t.trace_id) < sa.tuple_(start_ns, trace_id))
    query = query.order_by(t.start_ns.desc(), t.trace_id.desc()).limit(limit + 1)
    if filters.q:
        rows = _search_page(connection, query, filters.q, limit + 1)
    else:
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
    return {"trace": trace_summary(row), "spans": span_views(connection, span_rows)}


# Logfire names a span by its message template ("Message with {request_data[model]!r}") and
# records the message a person reads, formatted, in this attribute.
FORMATTED_MESSAGE = "logfire.msg"


def formatted_messages(connection: sa.Connection, trace_id: bytes) -> dict[str, str]:
    """The formatted message of each span of a trace whose name is a template, by span id.

    Only a name with a placeholder can differ from its message. The one short attribute is
    read in SQL, so a waterfall still decodes no span's attributes; a message long enough to
    be stored apart (`app.long_values`) is not read, and the span keeps its name.
    """
    s = spans.c
    # As JSON, not as text: a number there is not a message.
    message = s.attributes[FORMATTED_MESSAGE]
    rows = connection.execute(
        sa.select(s.span_id, s.name, message.label("message")).where(
            s.trace_id == trace_id, s.name.contains("{", autoescape=True)
        )
    )
    found = {row.span_id.hex(): formatted_message(row.name, row.message) for row in rows}
    return {ident: message for ident, message in found.items() if message is not None}


def formatted_message(name: str, message: Any) -> str | None:
    """`message` (a span's `FORMATTED_MESSAGE`) when it is text that says more than `name`."""
    if isinstance(message, str) and message.strip() and message != name:
        return message
    return None


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


def span_views(connection: sa.Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The REST view of spans, from rows of `_span_select`."""
    return [
        span_view(row, attributes)
        for row, attributes in zip(rows, _attributes(connection, rows), strict=True)
    ]


def span_view(row: Any, attributes: dict[str, Any]) -> dict[str, Any]:
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
        "attributes": attributes,
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


def _call_role(row: Any) -> str:
    """What an LLM span is to the calls of its trace: `call`; `part` of one (a streamed
    response, a stream's request record); a `duplicate`, another source's record of a call
    shown by another span; or `context` (a tool run, a token count)."""
    if row.llm_is_call is not False:
        return "call"
    if row.llm_call_rank == call_links.PART:
        return "part"
    return "duplicate" if row.llm_call_rank is not None else "context"


def llm_view(row: Any) -> dict[str, Any] | None:
    if row.llm_convention is None:
        return None
    return {
        "convention": row.llm_convention,
        # False for a span that records part of a call another span counts (a stream).
        "is_call": row.llm_is_call is not False,
        "role": _call_role(row),
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
        if number is not None and math.isfinite(number):  # no JSON number is inf or NaN
            # numeric, not float: 10**17 + 1 and 10**17 are different numbers.
            as_number = sa.cast(value.as_string(), sa.Numeric)
            exact = sa.cast(sa.literal(str(number)), sa.Numeric)
            pg_matches.append(sa.and_(kind == "number", as_number == exact))
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
    return span_views(connection, page), next_cursor


def get_span(connection: sa.Connection, trace_id: bytes, span_id: bytes) -> dict[str, Any] | None:
    row = connection.execute(
        _span_select().where(spans.c.trace_id == trace_id, spans.c.span_id == span_id)
    ).first()
    if row is None:
        return None
    [view] = span_views(connection, [row])
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


class LinkedSpan(NamedTuple):
    """Another span that records the same call, folded into the one that shows it."""

    trace_id: str
    span_id: str
    convention: str | None


@dataclass
class StoredCall:
    """An LLM call as stored: its span's attributes, events and logs, and its parts' attributes.

    `parts` holds the attributes of the spans that record part of the call (a streamed
    response), then those of the spans folded into it: the same call recorded by another
    source, in any trace, best first. `linked` names the latter, and `folded` holds what the
    conversation takes from them (`call_links.merge_linked`).
    """

    convention: str | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    parts: list[dict[str, Any]]
    trace_id: str = ""
    span_id: str = ""
    linked: list[LinkedSpan] = field(default_factory=list)
    folded: list[call_links.Folded] = field(default_factory=list, repr=False)
    # The call span's own duration: for the sources whose span ends with the stream, the
    # stream's duration, which their attributes do not say.
    duration_ms: float | None = None
    # The status message of a part that failed (a stream broken off mid-way): the call's error
    # message, which the part's attributes do not hold.
    part_error: str | None = None

    def conversation(self) -> dict[str, Any] | None:
        """The call, normalised; None when no known convention recorded it. The SDK's token
        counts and time to first token, when it recorded the call too, come from its span."""
        conversation = conversation_of(
            self.convention, self.attributes, self.parts, events=self.events, logs=self.logs
        )
        if conversation is not None:
            call_links.merge_linked(conversation, self.folded, self.convention)
            streaming = conversation.get("streaming")
            known = self.duration_ms is not None and self.duration_ms > 0
            if known and isinstance(streaming, dict) and streaming.get("duration_ms") is None:
                streaming["duration_ms"] = self.duration_ms
            error = conversation.get("error")
            if self.part_error and isinstance(error, dict) and not error.get("message"):
                error["message"] = self.part_error
        return conversation

    def links_of(self, trace_id: str, span_id: str) -> dict[str, Any] | None:
        """For the page of one of the call's spans: the span it is folded into, if it is, and
        the other spans that record the call too. None when only one span records it."""
        if not self.linked:
            return None
        asked = (trace_id, span_id)
        folded = any((link.trace_id, link.span_id) == asked for link in self.linked)
        return {
            "folded_into": (
                LinkedSpan(self.trace_id, self.span_id, self.convention) if folded else None
            ),
            "also": [link for link in self.linked if (link.trace_id, link.span_id) != asked],
        }


# What finding a call and its other spans needs of each: no attributes, which may be large.
_CALL_COLUMNS = (
    spans.c.trace_id,
    spans.c.span_id,
    spans.c.parent_span_id,
    spans.c.start_ns,
    spans.c.end_ns,
    spans.c.scope_name,
    spans.c.llm_convention,
    spans.c.llm_is_call,
    spans.c.llm_call_key,
    spans.c.llm_call_rank,
)


def call_members(
    connection: sa.Connection, keys: Sequence[str], since_ns: int, until_ns: int, *extra: Any
) -> list[Any]:
    """The spans, in any trace, with one of `keys` that start between the two times: what
    `call_links.Member.of` reads (their parent's convention and scope among it), and `extra`
    columns of `spans`."""
    query = _call_members_query(tuple(extra))
    ordered = sorted(set(keys))
    found: list[Any] = []
    for start in range(0, len(ordered), CHUNK):
        bound = {"keys": ordered[start : start + CHUNK], "since": since_ns, "until": until_ns}
        found.extend(connection.execute(query, bound).all())
    return found


@functools.cache
def _call_members_query(extra: tuple[Any, ...]) -> Any:
    """`call_members`'s statement for these extra columns, built once: the writer runs it on
    every write."""
    s, parent = spans.c, spans.alias("parent")
    return (
        sa.select(
            *_CALL_COLUMNS,
            parent.c.llm_convention.label("parent_convention"),
            parent.c.scope_name.label("parent_scope"),
            *extra,
        )
        .select_from(
            spans.outerjoin(
                parent,
                sa.and_(parent.c.trace_id == s.trace_id, parent.c.span_id == s.parent_span_id),
            )
        )
        .where(
            s.start_ns >= sa.bindparam("since"),
            s.start_ns <= sa.bindparam("until"),
            s.llm_call_key.in_(sa.bindparam("keys", expanding=True)),
        )
    )


def _calls_around(
    connection: sa.Connection, keys: set[str], row: Any
) -> tuple[dict[tuple[bytes, bytes], Any], list[list[call_links.Member]]]:
    """The stored spans with `keys` near `row` in time, by id, and the calls they record."""
    if not keys:
        return {}, []
    found = call_members(
        connection,
        sorted(keys),
        row.start_ns - call_links.WINDOW_NS,
        row.start_ns + call_links.WINDOW_NS,
    )
    rows = {(r.trace_id, r.span_id): r for r in found}
    return rows, call_links.split(call_links.Member.of(r) for r in found)


# A span's attributes are in two columns: the short values, and the long ones as digests of
# their chunks (or, stored before chunks, compressed inline).
ATTRIBUTES = (spans.c.attributes, spans.c.long_attributes)


def _attributes(connection: sa.Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The attributes of spans as they were sent, from rows with both `ATTRIBUTES` columns;
    the chunks they refer to are read in one query for all of them."""
    digests = sorted(long_values.digests_of(row.long_attributes for row in rows))
    texts: dict[bytes, str] = {}
    for start in range(0, len(digests), CHUNK):
        query = sa.select(chunks.c.digest, chunks.c.data).where(
            chunks.c.digest.in_(digests[start : start + CHUNK])
        )
        for digest, data in connection.execute(query):
            texts[digest] = long_values.chunk_text(data)
    return [long_values.merge(row.attributes, row.long_attributes, texts) for row in rows]


def _one(connection: sa.Connection, trace_id: bytes, span_id: bytes, *columns: Any) -> Any:
    s = spans.c
    query = sa.select(*(columns or _CALL_COLUMNS))
    return connection.execute(query.where(s.trace_id == trace_id, s.span_id == span_id)).first()


def _attributes_of(
    connection: sa.Connection, idents: Sequence[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """The attributes of spans, in the order asked."""
    if not idents:
        return []
    key = sa.tuple_(spans.c.trace_id, spans.c.span_id)
    rows = connection.execute(
        sa.select(spans.c.trace_id, spans.c.span_id, *ATTRIBUTES).where(key.in_(list(idents)))
    ).all()
    found = {
        (row.trace_id, row.span_id): attributes
        for row, attributes in zip(rows, _attributes(connection, rows), strict=True)
    }
    return [found.get(ident, {}) for ident in idents]


def _shown_by(connection: sa.Connection, row: Any) -> Any:
    """The span that shows the call `row` records: the primary of the spans sharing its key,
    and for a part (a streamed response) the call it is under."""
    call = row
    if row.llm_call_key is not None:
        rows, groups = _calls_around(connection, {row.llm_call_key}, row)
        ident = (row.trace_id, row.span_id)
        group = next((g for g in groups if any(m.ident == ident for m in g)), None)
        if group:
            call = rows[call_links.primary(group).ident]
    if call.llm_convention is not None and call.llm_is_call is False and call.parent_span_id:
        parent = _one(connection, call.trace_id, call.parent_span_id)
        if parent is not None and parent.llm_convention is not None:
            call = parent
    return call


def llm_call(connection: sa.Connection, trace_id: bytes, span_id: bytes) -> StoredCall | None:
    """The LLM call a span records, with what its convention may need to read it.

    A call may be recorded by more than one span. Spyglass's client records a streamed response
    in a child span that is not a call of its own (`llm_is_call` false). An instrumentor and
    the Anthropic SDK both record the call, in one trace or in two, and so do Logfire's two
    records of a stream (`app.call_links`). Asked about any of them, this returns the call as
    the span that shows it, its parts and then the other spans among `parts`, and those others
    in `linked`. None for an unknown span.
    """
    row = _one(connection, trace_id, span_id)
    if row is None:
        return None
    call = _shown_by(connection, row)
    s = spans.c
    under = connection.execute(
        sa.select(*_CALL_COLUMNS, *ATTRIBUTES, s.status_code, s.status_message)
        .where(
            s.trace_id == call.trace_id,
            s.parent_span_id == call.span_id,
            s.llm_convention.is_not(None),
            s.llm_is_call.is_(False),
        )
        .order_by(s.start_ns, s.span_id)
    ).all()
    # A part of the call (its stream) is one by its convention's word; any other span under it
    # that is no call is another source's record of the same call (the SDK's).
    parts = [r for r in under if r.llm_call_rank in (None, call_links.PART)]
    recorded_under = [r for r in under if r.llm_call_rank not in (None, call_links.PART)]

    # The same call recorded elsewhere, in any trace, under the call's key or its parts'.
    keys = {r.llm_call_key for r in (call, *parts) if r.llm_call_key is not None}
    rows, groups = _calls_around(connection, keys, call)
    own = {(r.trace_id, r.span_id) for r in (call, *under)}
    elsewhere = [
        member.ident
        for group in groups
        if any(m.ident in own for m in group)
        for member in call_links.ordered(group)
        if member.ident not in own
    ]
    linked = [*recorded_under, *(rows[ident] for ident in elsewhere)]
    linked_attributes = _attributes(connection, recorded_under)
    linked_attributes += _attributes_of(connection, elsewhere)
    folded = [
        call_links.Folded(attributes, call_links.is_sdk(r.llm_convention, r.scope_name))
        for r, attributes in zip(linked, linked_attributes, strict=True)
    ]

    shown = _one(connection, call.trace_id, call.span_id, *ATTRIBUTES, s.events)
    events = [
        {
            "name": event["name"],
            "time": format_time(event["time_ns"]),
            "offset_ms": (event["time_ns"] - call.start_ns) / 1e6,
            "attributes": event["attributes"],
        }
        for event in shown.events or []
    ]
    return StoredCall(
        convention=call.llm_convention,
        attributes=_attributes(connection, [shown])[0],
        events=events,
        logs=span_log_views(connection, call.trace_id, call.span_id),
        parts=_attributes(connection, parts) + linked_attributes,
        trace_id=call.trace_id.hex(),
        span_id=call.span_id.hex(),
        linked=[LinkedSpan(r.trace_id.hex(), r.span_id.hex(), r.llm_convention) for r in linked],
        folded=folded,
        duration_ms=_duration_ms(call.start_ns, call.end_ns),
        part_error=next(
            (
                r.status_message
                for r in parts
                if STATUS_CODES[r.status_code] == "error" and r.status_message
            ),
            None,
        ),
    )
