"""The read side on real SQLite: query plans, text search, typed attribute filters, cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.engine import Engine

from app import ingest, queries, store
from tests.otlp_builders import BASE_NS, request, span, span_id, trace_id

LIMIT = 16 * 1024 * 1024


def write(engine: Engine, *messages: ExportTraceServiceRequest) -> None:
    batches = [
        ingest.decode("traces", message.SerializeToString(), "protobuf", None, LIMIT)
        for message in messages
    ]
    with engine.begin() as connection:
        store.write(connection, batches)


def trace_names(engine: Engine, **filters: Any) -> list[str]:
    with engine.connect() as connection:
        page, _ = queries.list_traces(connection, queries.TraceFilter(**filters), 100)
    return [trace["name"] for trace in page]


def span_names(engine: Engine, *attributes: tuple[str, str]) -> list[str]:
    with engine.connect() as connection:
        page, _ = queries.list_spans(connection, queries.SpanFilter(attributes=attributes), 100)
    return sorted(item["name"] for item in page)


def cursor_of(*position: Any) -> str:
    """A cursor built by hand; json, unlike orjson, writes integers of any size."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


# --- query plans -------------------------------------------------------------------------------


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements and parameters sent to SQLite while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def plan(engine: Engine, read: Callable[[sa.Connection], Any]) -> list[str]:
    """EXPLAIN QUERY PLAN of the statement that reads the page, exactly as `read` ran it: the
    last one. Before it, a search counts each term's matches on the index (capped), and the
    walk of the newest traces finds where it would stop (`queries._search_page`)."""
    with statements(engine) as seen, engine.connect() as connection:
        read(connection)
    before = [s for s, _ in seen[:-1]]
    assert all(s.startswith("SELECT count(*) FROM (SELECT 1 FROM") or "OFFSET" in s for s in before)
    statement, parameters = seen[-1]
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return [row[-1] for row in rows]


def assert_walks_index(details: list[str], table: str, index: str) -> None:
    assert any(f"{table} USING INDEX {index}" in detail for detail in details), details
    assert not any(d.startswith(f"SCAN {table}") and "INDEX" not in d for d in details), details
    # Reading the index backwards gives the order; a sort would read every row first.
    assert not any("TEMP B-TREE" in detail for detail in details), details


@pytest.fixture
def stored(engine: Engine) -> Engine:
    write(engine, request(*(span(f"s{i}", start_ns=BASE_NS + i) for i in range(20))))
    return engine


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_trace_list_walks_the_start_index(stored: Engine) -> None:
    details = plan(stored, lambda c: queries.list_traces(c, queries.TraceFilter(), 50))
    assert_walks_index(details, "traces", "ix_traces_start")


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_trace_list_next_page_seeks_in_the_start_index(stored: Engine) -> None:
    with stored.connect() as connection:
        _, cursor = queries.list_traces(connection, queries.TraceFilter(), 5)
    details = plan(stored, lambda c: queries.list_traces(c, queries.TraceFilter(), 5, cursor))
    assert_walks_index(details, "traces", "ix_traces_start")


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_span_list_walks_the_start_index(stored: Engine) -> None:
    details = plan(stored, lambda c: queries.list_spans(c, queries.SpanFilter(), 50))
    assert_walks_index(details, "spans", "ix_spans_start")


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_span_list_next_page_seeks_in_the_start_index(stored: Engine) -> None:
    with stored.connect() as connection:
        _, cursor = queries.list_spans(connection, queries.SpanFilter(), 5)
    details = plan(stored, lambda c: queries.list_spans(c, queries.SpanFilter(), 5, cursor))
    assert_walks_index(details, "spans", "ix_spans_start")


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_trace_search_looks_words_up_in_the_full_text_index(stored: Engine) -> None:
    filters = queries.TraceFilter(q="s1 quick", status="ok")
    details = plan(stored, lambda c: queries.list_traces(c, filters, 50))
    assert any(d.startswith("SCAN span_search_fts VIRTUAL TABLE INDEX") for d in details), details
    assert "SEARCH span_search USING INTEGER PRIMARY KEY (rowid=?)" in details, details
    # Neither the spans, their attributes nor the stored texts are read one by one.
    # One lookup in the index per term: a trace must have each term in some span.
    scans = [d.split()[:2] for d in details if d.startswith("SCAN")]
    assert scans == [["SCAN", "span_search_fts"]] * 2, details
    assert not any("json" in d for d in details), details


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN
def test_a_search_for_common_words_walks_the_start_index(
    stored: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "COMMON_TERM_SPANS", 1)
    filters = queries.TraceFilter(q="s1 s1")
    details = plan(stored, lambda c: queries.list_traces(c, filters, 50))
    assert_walks_index(details, "traces", "ix_traces_start")
    # Each term's matches read once, not once per trace walked.
    assert sum(d.startswith("LIST SUBQUERY") for d in details) == 2, details


# --- text search -------------------------------------------------------------------------------


def test_q_matches_attribute_values_not_keys_or_json_syntax(engine: Engine) -> None:
    attributes = {"weather.city": "Paris", "http.status_code": 404, "ratio": 0.25, "flag": True}
    write(engine, request(span("plain", attributes=attributes)))
    for present in ("paris", "404", "0.25"):
        assert trace_names(engine, q=present) == ["plain"], present
    for absent in ("weather", "city", "status", "true", "1"):
        assert trace_names(engine, q=absent) == [], absent
    # JSON syntax has no words at all: such a search is refused rather than matching nothing.
    for syntax in ('":"', "{"):
        with pytest.raises(queries.BadQuery, match="no words"):
            trace_names(engine, q=syntax)


def test_q_matches_whole_words_and_their_starts_not_any_substring(engine: Engine) -> None:
    write(engine, request(span("forecast", attributes={"note": "Sunny weather in Zürich"})))
    for present in ("weather", "WEATH", "sunny zur", "zurich", '"in zürich"', "in zürich"):
        assert trace_names(engine, q=present) == ["forecast"], present
    # Inside a word, a phrase out of order, a whole word that is only a start, a missing word.
    for absent in ("eather", '"zürich in"', '"weath"', "sunny rain"):
        assert trace_names(engine, q=absent) == [], absent


def test_q_finds_text_that_json_escapes(engine: Engine) -> None:
    write(engine, request(span("quoted", attributes={"note": 'she said "hi"\nthen C:\\left'})))
    assert trace_names(engine, q='said "hi"') == ["quoted"]
    assert trace_names(engine, q='hi"\nthen') == ["quoted"]
    assert trace_names(engine, q="c:\\LEFT") == ["quoted"]


def test_q_searches_messages_stored_as_json_strings_and_as_structured_values(
    engine: Engine,
) -> None:
    message = {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": 'The user wants "weather"'},
            {"type": "tool_call", "name": "get_weather", "arguments": {"city": "Zürich"}},
        ],
    }
    key = "gen_ai.output.messages"
    write(
        engine,
        request(
            span("as string", attributes={key: orjson.dumps([message]).decode()}),
            # Python's json writes \u00fc for ü: the search must read the JSON, not its text.
            span("as ascii string", attributes={key: json.dumps([message])}),
            span("as value", attributes={key: [message]}),
        ),
    )
    for text in ('wants "weather"', "zürich", "get_weather"):
        found = sorted(trace_names(engine, q=text))
        assert found == ["as ascii string", "as string", "as value"], text


def test_q_on_a_trace_matches_any_of_its_spans(engine: Engine) -> None:
    trace, root = trace_id(), span_id()
    write(
        engine,
        request(
            span("root", trace=trace, ident=root),
            span(
                "deep", trace=trace, parent=root, start_ns=BASE_NS + 5, attributes={"x": "needle"}
            ),
            span("other"),
        ),
    )
    assert trace_names(engine, q="NEEDLE") == ["root"]
    assert trace_names(engine, q="deep") == ["root"]


# --- attribute filters -------------------------------------------------------------------------


@pytest.fixture
def typed(engine: Engine) -> Engine:
    write(
        engine,
        request(
            span("int", attributes={"v": 3}),
            span("float", attributes={"v": 3.5}),
            span("whole float", attributes={"v": 3.0}),
            span("string", attributes={"v": "3"}),
            span("true", attributes={"v": True}),
            span("text true", attributes={"v": "true"}),
            span("big", attributes={"v": 2**62}),
        ),
    )
    return engine


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("3", ["int", "string", "whole float"]),
        ("3.0", ["int", "whole float"]),
        ("3.5", ["float"]),
        ("true", ["text true", "true"]),
        ("false", []),
        (str(2**62), ["big"]),
        # Too wide for SQLite's integers, or no number at all: compared, never an error.
        ("99999999999999999999", []),
        ("9" * 400, []),
        ("1e400", []),
        ("nan", []),
    ],
)
def test_attribute_filter_matches_by_type(typed: Engine, raw: str, names: list[str]) -> None:
    assert span_names(typed, ("v", raw)) == names


# --- cursors and ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!", id="not base64"),
        pytest.param("e30", id="an object"),
        pytest.param(cursor_of("t", 1), id="too short"),
        pytest.param(cursor_of("t", "1", "00" * 16), id="time as text"),
        pytest.param(cursor_of("t", True, "00" * 16), id="time as bool"),
        pytest.param(cursor_of("t", 2**64 - 1, "00" * 16), id="time past int64"),
        pytest.param(cursor_of("t", -(2**63) - 1, "00" * 16), id="time before int64"),
        pytest.param(cursor_of("t", 1, "not hex"), id="id not hex"),
        pytest.param(cursor_of("s", 1, "00" * 16, "00" * 8), id="a span cursor"),
        pytest.param("é", id="not ascii"),
    ],
)
def test_a_bad_trace_cursor_is_a_bad_query(engine: Engine, cursor: str) -> None:
    with engine.connect() as connection, pytest.raises(queries.BadQuery, match="cursor"):
        queries.list_traces(connection, queries.TraceFilter(), 5, cursor)


def test_a_trace_cursor_is_a_bad_span_cursor(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(queries.BadQuery, match="cursor"):
        queries.list_spans(connection, queries.SpanFilter(), 5, cursor_of("t", 1, "00" * 16))


@pytest.mark.parametrize(
    "text",
    ["", "abc", "0" * 31, "0" * 33, "g" * 32, " ".join(["0a"] * 16), "0a" * 15 + " 0", "é" * 32],
)
def test_a_malformed_trace_id_is_a_bad_query(text: str) -> None:
    with pytest.raises(queries.BadQuery, match="trace id must be 32 hex characters"):
        queries.parse_trace_id(text)


def test_ids_parse_in_either_case() -> None:
    assert queries.parse_trace_id("0A" * 16) == b"\n" * 16
    assert queries.parse_span_id("ff" * 8) == b"\xff" * 8


def test_times_are_rfc3339_utc_with_microseconds() -> None:
    assert queries.format_time(BASE_NS + 123_456_789) == "2026-12-04T16:00:00.123456Z"
    assert queries.format_time(0) == "1970-01-01T00:00:00.000000Z"


# --- the waterfall's outline ---------------------------------------------------------------------


def test_a_trace_outline_is_its_spans_without_their_payload(engine: Engine) -> None:
    trace = trace_id()
    root = span("root", trace=trace, attributes={"big": "x" * 10_000})
    call = span(
        "chat",
        trace=trace,
        parent=root.span_id,
        start_ns=BASE_NS + 5,
        status=2,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-x"},
    )
    orphan = span("orphan", trace=trace, parent=span_id(), start_ns=BASE_NS + 9)
    write(engine, request(root, call, orphan))
    with engine.connect() as connection:
        full = queries.get_trace(connection, trace)
        outline = queries.trace_outline(connection, trace)
        assert queries.trace_outline(connection, trace_id()) is None
    assert full is not None and outline is not None
    assert outline["trace"] == full["trace"]
    keys = set(outline["spans"][0])
    assert "attributes" not in keys and "events" not in keys
    # The same spans in the same order, with the same values for every key an outline keeps.
    assert [{k: s[k] for k in keys} for s in full["spans"]] == outline["spans"]
    assert outline["spans"][1]["llm"]["request_model"] == "claude-x"
    assert outline["spans"][1]["status_code"] == "error"


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN; test_postgres_plans.py for PG
def test_service_names_step_through_the_index_one_name_at_a_time(engine: Engine) -> None:
    write(engine, request(span("a1"), service="billing"), request(span("a2"), service="billing"))
    write(engine, request(span("b"), service="api"), request(span("c"), service="<zeta>"))
    with engine.connect() as connection:
        assert queries.service_names(connection) == ["<zeta>", "api", "billing"]
        assert queries.service_names(connection, limit=2) == ["<zeta>", "api"]
        # Each step of the scan is one seek in the service index.
        plan = " ".join(
            str(row[-1])
            for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT min(service_name) FROM traces WHERE service_name > ?",
                ("api",),
            )
        )
    assert "ix_traces_service_start" in plan and "SCAN" not in plan
