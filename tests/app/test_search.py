"""Full-text search: the text indexed per span, the query built from user input, and search
over real SQLite built by the migrations."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.engine import Engine

from app import ingest, queries, search, store
from app.conventions import CONVERSATION_KEYS, convention_for
from app.conventions.common import structured
from app.schema import span_search
from app.search_rows import stored_text
from tests import captures
from tests.otlp_builders import BASE_NS, request, span, span_id, trace_id

LIMIT = 16 * 1024 * 1024


def gen_ai(**extra: Any) -> dict[str, Any]:
    return {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-x", **extra}


def words(name: str, attributes: dict[str, Any]) -> list[str]:
    """The indexed text of a span, one string a line."""
    text = search.search_text(name, attributes)
    return text.split("\n") if text else []


def output(*parts: dict[str, Any]) -> dict[str, Any]:
    """gen_ai attributes of a call whose answer has `parts`."""
    message = {"role": "assistant", "parts": list(parts), "finish_reason": "end_turn"}
    return gen_ai(**{"gen_ai.output.messages": orjson.dumps([message]).decode()})


# --- search_text: LLM calls ----------------------------------------------------------------------


def test_text_and_reasoning_parts_are_indexed_not_their_labels() -> None:
    found = words(
        "chat",
        output(
            {"type": "reasoning", "content": "The user wants rain data"},
            {"type": "text", "content": "It will rain."},
        ),
    )
    assert found[0] == "chat"
    assert "The user wants rain data" in found
    assert "It will rain." in found
    for label in ("assistant", "reasoning", "text", "end_turn"):
        assert label not in found, label


def test_a_thinking_signature_and_redacted_thinking_are_not_words() -> None:
    found = words(
        "chat",
        output(
            {"type": "reasoning", "content": "Plan the trip", "signature": "EqQBCkgSIGNED"},
            {
                "type": "reasoning",
                "redacted": True,
                "data": "ZW5jcnlwdGVkQ0lQSEVS",
                "data_length": 20,
            },
        ),
    )
    assert "Plan the trip" in found
    assert not any("EqQBCkgSIGNED" in text or "ZW5jcnlwdGVk" in text for text in found), found


def test_a_tool_call_gives_its_name_and_every_value_of_its_arguments() -> None:
    found = words(
        "chat",
        output(
            {
                "type": "tool_call",
                "id": "toolu_01",
                "name": "get_weather",
                # A tool's own "id" and "type" are its data, not labels.
                "arguments": {"city": "Zürich", "when": {"days": [1, 2]}, "id": "ord-7"},
            },
            # Arguments as JSON text, as some SDKs send them, with \u escapes.
            {"type": "tool_call", "name": "lookup", "arguments": json.dumps({"q": "Genève"})},
        ),
    )
    for expected in ("get_weather", "Zürich", "1", "2", "ord-7", "lookup", "Genève"):
        assert expected in found, expected
    for absent in ("toolu_01", "city", "when", "days", "tool_call"):
        assert absent not in found, absent


def test_a_tool_result_is_indexed_as_text_or_as_parts() -> None:
    message = {
        "role": "user",
        "parts": [
            {"type": "tool_call_response", "id": "toolu_01", "response": "18 degrees, dry"},
            {
                "type": "tool_call_response",
                "id": "toolu_02",
                "response": [{"type": "text", "content": "Forecast: sunny"}],
                "is_error": False,
            },
        ],
    }
    found = words("chat", gen_ai(**{"gen_ai.input.messages": [message]}))
    assert "18 degrees, dry" in found
    assert "Forecast: sunny" in found
    for label in ("toolu_01", "text", "tool_call_response"):
        assert label not in found, label


def test_server_tool_calls_and_their_results_are_indexed() -> None:
    found = words(
        "chat",
        output(
            {
                "type": "server_tool_call",
                "id": "srvtoolu_1",
                "name": "web_search",
                "arguments": {"query": "pelican migration"},
                "anthropic_type": "server_tool_use",
            },
            {
                "type": "server_tool_call_response",
                "id": "srvtoolu_1",
                "anthropic_type": "web_search_tool_result",
                "response": [{"type": "web_search_result", "title": "Pelicans fly south"}],
            },
        ),
    )
    for expected in ("web_search", "pelican migration", "Pelicans fly south"):
        assert expected in found, expected
    assert "server_tool_use" not in found
    assert "web_search_tool_result" not in found


def test_raw_parts_of_unknown_shape_give_every_string_inside() -> None:
    unknown = {"type": "container_upload", "raw": {"type": "x", "file": {"name": "report.csv"}}}
    found = words("chat", output(unknown, {"type": "document", "title": "Q3", "content": "Sales"}))
    for expected in ("x", "report.csv", "Q3", "Sales"):
        assert expected in found, expected


def test_messages_of_an_unknown_shape_are_still_searched() -> None:
    # Not a list of messages with parts: the convention keeps each whole as a raw part.
    attributes = gen_ai(**{"gen_ai.input.messages": json.dumps([{"content": "bonjour"}, "hi"])})
    found = words("chat", attributes)
    assert "bonjour" in found
    assert "hi" in found


def test_system_instructions_as_text_and_as_parts() -> None:
    assert "Be brief." in words("chat", gen_ai(**{"gen_ai.system_instructions": "Be brief."}))
    parts = [{"type": "text", "content": "Answer in French."}]
    assert "Answer in French." in words(
        "chat", gen_ai(**{"gen_ai.system_instructions": orjson.dumps(parts).decode()})
    )


def test_media_is_not_indexed() -> None:
    found = words(
        "chat",
        output(
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0K"},
            {"type": "image", "raw": {"source": {"type": "base64", "data": "R0lGODlh"}}},
            {"type": "uri", "modality": "image", "uri": "data:image/png;base64,iVBORw0K"},
            {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            {"type": "text", "content": "data: two points"},
        ),
    )
    assert not any("iVBORw0K" in text or "R0lGODlh" in text for text in found), found
    assert "https://example.com/cat.png" in found
    assert "data: two points" in found
    assert "image/png" not in found


def test_a_call_also_indexes_its_plain_values_but_not_its_tool_definitions() -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "Weather by city"}]
    attributes = gen_ai(
        **{
            "gen_ai.response.id": "msg_0123",
            "app.user": "ada@example.com",
            "gen_ai.tool.definitions": orjson.dumps(tools).decode(),
        }
    )
    found = words("chat", attributes)
    for expected in ("claude-x", "msg_0123", "ada@example.com"):
        assert expected in found, expected
    # Offering a tool is not calling it: only calls should find a search for its name.
    assert not any("get_weather" in text or "Weather by city" in text for text in found)


def test_a_streamed_answer_is_indexed_on_the_span_that_carries_it() -> None:
    stream = {
        "spyglass.span.type": "llm.stream",
        "gen_ai.output.messages": [
            {"role": "assistant", "parts": [{"type": "text", "content": "streamed words"}]}
        ],
    }
    assert "streamed words" in words("anthropic.messages.stream", stream)


def test_the_same_text_is_indexed_once_per_span() -> None:
    attributes = gen_ai(
        **{
            "gen_ai.system_instructions": "Be brief.",
            "gen_ai.input.messages": [
                {"role": "user", "parts": [{"type": "text", "content": "Be brief."}]}
            ],
        }
    )
    assert words("chat", attributes).count("Be brief.") == 1


# --- search_text: other spans --------------------------------------------------------------------


def test_other_spans_index_their_name_and_attribute_values_not_keys() -> None:
    attributes = {
        "http.route": "/orders/{id}",
        "http.status_code": 404,
        "ratio": 0.25,
        "cached": True,
        "tags": ["red", "blue"],
        "payload": '{"customer": "Ada", "items": [3]}',
    }
    found = words("GET /orders", attributes)
    assert found[0] == "GET /orders"
    for expected in ("/orders/{id}", "404", "0.25", "red", "blue", "Ada", "3"):
        assert expected in found, expected
    for absent in ("http.route", "True", "true", "customer", "items"):
        assert absent not in found, absent


def test_a_long_value_is_indexed_by_its_start() -> None:
    found = words("work", {"log": "a" * (search.MAX_VALUE_CHARS + 1) + " tail"})
    assert found[1] == "a" * search.MAX_VALUE_CHARS


def test_one_giant_span_is_cut_at_the_bound() -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": f"{i} " + "word " * 2000}]}
        for i in range(200)
    ]
    text = search.search_text("chat", gen_ai(**{"gen_ai.input.messages": messages}))
    assert text is not None
    assert len(text) <= search.MAX_BODY_CHARS
    assert len(text) > search.MAX_BODY_CHARS - 20_000


def test_a_span_with_no_text_has_none() -> None:
    assert search.search_text("", {}) is None
    assert search.search_text(" ", {"flag": True, "empty": ""}) is None


@pytest.mark.parametrize("depth", [10, 1000, 100_000])
def test_values_nested_as_deep_as_json_goes_never_raise(depth: int) -> None:
    nested = "[" * depth + '"deep"' + "]" * depth
    parts = [{"type": "tool_call", "name": "t", "arguments": nested}]
    message = {"role": "assistant", "parts": parts}
    for attributes in ({"note": nested}, gen_ai(**{"gen_ai.output.messages": [message]})):
        text = search.search_text("span", attributes)
        assert text is not None
        # Past the parser's limit the value stays text, of which only the start is indexed.
        assert ("deep" in text) is (depth <= 1000 or "gen_ai.operation.name" in attributes)


def test_odd_part_types_never_raise() -> None:
    parts = [{"type": ["not", "a", "name"], "content": "odd"}, {"type": None, "content": "none"}]
    attributes = gen_ai(**{"gen_ai.input.messages": [{"role": "user", "parts": parts}]})
    found = words("chat", attributes)
    assert "odd" in found
    assert "none" in found
    assert search.search_text("x", {"a": {"type": ["x"], "v": "kept"}}) == "x\nkept"


def test_nul_never_reaches_the_index() -> None:
    text = search.search_text("a\x00b", {"note": "c\x00d"})
    assert text is not None
    assert "\x00" not in text


# --- fts_query -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("weather", '"weather"*'),
        ("  quick   BROWN ", '"quick"* AND "BROWN"*'),
        ("get_weather", '"get weather"*'),
        ("100%", '"100"*'),
        ('"big brown" fox', '"big brown" AND "fox"*'),
        ('say "hello', '"say"* AND "hello"'),  # an unclosed quote runs to the end
        ('he said "hi"there', '"he"* AND "said"* AND "hi" AND "there"*'),
        ("a OR b NOT c", '"a"* AND "OR"* AND "b"* AND "NOT"* AND "c"*'),
        ("body:secret", '"body secret"*'),
        ("NEAR(a b)", '"NEAR a"* AND "b"*'),
        ("Zürich", '"Zürich"*'),
        ("東京", '"東京"*'),
        ("x\x00y", '"x y"*'),
        ('%" _', None),
    ],
)
def test_fts_query_quotes_every_term(q: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(search.EmptyQuery):
            search.fts_query(q)
    else:
        assert search.fts_query(q) == expected


@pytest.mark.parametrize("q", ["", "   ", "%", "_", "\\", '""', '"', "\x00", "--", "* ( ) :"])
def test_a_search_without_words_is_refused(q: str) -> None:
    with pytest.raises(search.EmptyQuery):
        search.fts_query(q)


def test_a_search_of_too_many_terms_is_refused() -> None:
    search.fts_query(" ".join(["w"] * search.MAX_TERMS))
    with pytest.raises(ValueError, match="at most"):
        search.fts_query(" ".join(["w"] * (search.MAX_TERMS + 1)))


@pytest.fixture
def fts() -> Iterator[sqlite3.Connection]:
    """A bare FTS5 table made as the migration makes it."""
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 2')"
    )
    connection.executemany(
        "INSERT INTO t(body) VALUES (?)",
        [
            ("the quick brown fox",),
            ("get_weather for Zürich",),
            ('she said "hi" then 100% done',),
            ("x" * 5000,),
        ],
    )
    yield connection
    connection.close()


def matches(connection: sqlite3.Connection, q: str) -> list[str]:
    rows = connection.execute("SELECT body FROM t WHERE t MATCH ?", (search.fts_query(q),))
    return sorted(body for (body,) in rows)


def test_fts_query_matches_words_prefixes_and_phrases(fts: sqlite3.Connection) -> None:
    assert matches(fts, "QUICK bro") == ["the quick brown fox"]
    assert matches(fts, "zurich") == ["get_weather for Zürich"]
    assert matches(fts, "get_weather") == ["get_weather for Zürich"]
    assert matches(fts, '"said hi"') == ['she said "hi" then 100% done']
    assert matches(fts, "100%") == ['she said "hi" then 100% done']
    assert matches(fts, "x" * 5000) == ["x" * 5000]
    assert matches(fts, "quick zurich") == []  # every term must match
    assert matches(fts, '"bro"') == []  # a quoted word is whole, not a prefix
    assert matches(fts, "brown quick") == ["the quick brown fox"]
    assert matches(fts, '"brown quick"') == []  # a phrase keeps its order


def test_no_input_is_an_fts5_syntax_error(fts: sqlite3.Connection) -> None:
    alphabet = 'aZ9 "*()-:^+{}.,;_%\\\x00\t\nNEARANDORNOTéü東😀\u200b\ufeff'
    generator = random.Random(20261205)
    for _ in range(3000):
        q = "".join(generator.choice(alphabet) for _ in range(generator.randint(1, 24)))
        try:
            expression = search.fts_query(q)
        except ValueError:
            continue
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()


# --- search over the store -----------------------------------------------------------------------


def write(engine: Engine, *messages: ExportTraceServiceRequest) -> None:
    batches = [
        ingest.decode("traces", message.SerializeToString(), "protobuf", None, LIMIT)
        for message in messages
    ]
    with engine.begin() as connection:
        store.write(connection, batches)


def found(engine: Engine, q: str, **filters: Any) -> list[str]:
    with engine.connect() as connection:
        page, _ = queries.list_traces(connection, queries.TraceFilter(q=q, **filters), 100)
    return sorted(trace["name"] for trace in page)


def integrity_check(engine: Engine) -> None:
    """The index agrees with the texts it indexes: FTS5 compares the two and raises on any
    difference; on PostgreSQL every row's tsvector is what its text gives."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            stale = connection.exec_driver_sql(
                "SELECT count(*) FROM span_search"
                " WHERE search_vector IS DISTINCT FROM spyglass_search_vector(body)"
            ).scalar_one()
            assert stale == 0
            return
        connection.exec_driver_sql(
            "INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('integrity-check', 1)"
        )


AGENT_TURNS = [
    {"role": "user", "parts": [{"type": "text", "content": "Plan my trip to Lisbon"}]},
    {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": "Consider the tram timetable first"},
            {
                "type": "tool_call",
                "id": "toolu_9",
                "name": "book_hotel",
                "arguments": {"district": "Alfama", "nights": 3},
            },
        ],
    },
    {
        "role": "user",
        "parts": [
            {"type": "tool_call_response", "id": "toolu_9", "response": "Booked Casa Azulejo"}
        ],
    },
]


@pytest.fixture
def agent(engine: Engine) -> Engine:
    """One agent trace with a call among ordinary spans, and an unrelated trace."""
    trace, root = trace_id(), span_id()
    call = gen_ai(**{"gen_ai.input.messages": orjson.dumps(AGENT_TURNS).decode()})
    write(
        engine,
        request(
            span("agent run", trace=trace, ident=root),
            span("chat claude-x", trace=trace, parent=root, start_ns=BASE_NS + 1, attributes=call),
            span("db query", trace=trace, parent=root, start_ns=BASE_NS + 2),
            span("unrelated", start_ns=BASE_NS - 1, attributes={"note": "nothing to see"}),
        ),
    )
    return engine


@pytest.mark.parametrize(
    "q",
    [
        "lisbon",  # message text
        "tram timetable",  # thinking
        "alfama",  # tool arguments
        "book_hotel",  # the tool's name
        "casa azul",  # the tool's result, by a prefix
        "chat claude",  # a span name
    ],
)
def test_search_finds_a_trace_by_what_its_llm_call_said(agent: Engine, q: str) -> None:
    assert found(agent, q) == ["agent run"]


def test_search_does_not_find_labels_or_keys(agent: Engine) -> None:
    for q in ("toolu_9", "district", "tool_call_response", "assistant"):
        assert found(agent, q) == [], q


def test_a_search_without_words_is_a_bad_query(agent: Engine) -> None:
    with pytest.raises(queries.BadQuery, match="no words"):
        found(agent, "%_")


def test_a_re_exported_span_replaces_its_text(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    write(engine, request(span("call", trace=trace, ident=ident, attributes={"a": "draft one"})))
    assert found(engine, "draft") == ["call"]
    write(engine, request(span("call", trace=trace, ident=ident, attributes={"a": "final two"})))
    assert found(engine, "draft") == []
    assert found(engine, "final") == ["call"]
    integrity_check(engine)


def test_a_span_exported_again_without_text_loses_its_row(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    write(engine, request(span("named", trace=trace, ident=ident)))
    write(engine, request(span("", trace=trace, ident=ident)))
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(span_search)).scalar() == 0
    integrity_check(engine)


def test_the_same_export_twice_keeps_one_row_and_a_sound_index(engine: Engine) -> None:
    message = request(span("twice", attributes={"a": "repeat"}))
    write(engine, message)
    write(engine, message, message)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(span_search)).scalar() == 1
    assert found(engine, "repeat") == ["twice"]
    integrity_check(engine)


def test_a_trace_of_many_spans_is_found_once_by_any_of_them(engine: Engine) -> None:
    trace, root = trace_id(), span_id()
    children = [
        span(
            f"step {i}",
            trace=trace,
            parent=root,
            start_ns=BASE_NS + i,
            attributes={"note": "needle in a haystack"} if i == 418 else {"i": i},
        )
        for i in range(1, 600)
    ]
    write(engine, request(span("big", trace=trace, ident=root), *children))
    with engine.connect() as connection:
        page, _ = queries.list_traces(connection, queries.TraceFilter(q="needle haystack"), 10)
    assert [t["name"] for t in page] == ["big"]
    assert found(engine, "step") == ["big"]


def test_search_combines_with_filters_and_pages_by_cursor(engine: Engine) -> None:
    spans = [
        span(
            f"t{i}",
            start_ns=BASE_NS + i // 2,  # pairs share a start time: the cursor breaks ties by id
            attributes={"topic": "invoice" if i % 3 else "refund", "n": i},
            status=2 if i % 4 == 0 else 0,
        )
        for i in range(40)
    ]
    write(engine, request(*spans[:20], service="billing"), request(*spans[20:], service="shop"))
    invoices = {f"t{i}" for i in range(40) if i % 3}
    seen: list[str] = []
    cursor = None
    with engine.connect() as connection:
        while True:
            page, cursor = queries.list_traces(
                connection, queries.TraceFilter(q="invoice"), 4, cursor
            )
            seen.extend(trace["name"] for trace in page)
            if cursor is None:
                break
    assert sorted(seen) == sorted(invoices)
    assert len(seen) == len(invoices)
    assert found(engine, "invoice", service="billing") == sorted(
        f"t{i}" for i in range(20) if i % 3
    )
    assert found(engine, "refund", status="error") == sorted(
        f"t{i}" for i in range(40) if i % 3 == 0 and i % 4 == 0
    )
    assert found(engine, "refund", since_ns=BASE_NS + 15) == sorted(
        f"t{i}" for i in range(30, 40) if i % 3 == 0
    )


# --- an agent's history, indexed once per trace --------------------------------------------------

HISTORY = "The itinerary covers Sintra palaces and the Belem tower. " * 8  # a long piece


def agent_call(trace: bytes, number: int, turns: list[str]) -> Any:
    """Call `number` of an agent loop: it re-sends every turn so far."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in turns]
    attributes = gen_ai(**{"gen_ai.input.messages": orjson.dumps(messages).decode()})
    return span(f"call {number}", trace=trace, start_ns=BASE_NS + number, attributes=attributes)


def bodies(engine: Engine, trace: bytes) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(span_search.c.span_id, span_search.c.body).where(
                span_search.c.trace_id == trace
            )
        ).all()
    return {span_id.hex(): stored_text(body) for span_id, body in rows}


def test_a_long_message_repeated_by_later_calls_is_indexed_once_per_trace(engine: Engine) -> None:
    trace, other = trace_id(), trace_id()
    later = "Then book a table at a fado house in Alfama tonight. " * 6
    first = agent_call(trace, 1, [HISTORY])
    second = agent_call(trace, 2, [HISTORY, later])
    write(engine, request(first, second, agent_call(other, 1, [HISTORY])))

    indexed = bodies(engine, trace)
    assert HISTORY.strip() in indexed[first.span_id.hex()]
    # The second call repeats the history: only what it adds is indexed with it.
    assert HISTORY.strip() not in indexed[second.span_id.hex()]
    assert later.strip() in indexed[second.span_id.hex()]
    # Short pieces (the name, the model) stay with every span that has them.
    assert all("claude-x" in body for body in indexed.values())
    # Another trace indexes the same message for itself.
    assert HISTORY.strip() in next(iter(bodies(engine, other).values()))
    integrity_check(engine)


def test_a_trace_matches_when_each_term_is_in_one_of_its_spans(engine: Engine) -> None:
    trace = trace_id()
    later = "Then book a table at a fado house in Alfama tonight. " * 6
    first, second = agent_call(trace, 1, [HISTORY]), agent_call(trace, 2, [HISTORY, later])
    write(engine, request(first))
    write(engine, request(second))  # a later export, as an agent's next call is

    # "sintra" is indexed with the first call only, "fado" with the second: the trace has both.
    assert found(engine, "sintra fado") == ["call 1"]
    assert found(engine, "sintra nowhere") == []
    with engine.connect() as connection:
        # The span marked for a word is the one where it was said first.
        assert queries.matching_spans(connection, trace, "sintra") == {first.span_id.hex()}
        assert queries.matching_spans(connection, trace, "fado") == {second.span_id.hex()}


def test_a_span_exported_again_keeps_the_pieces_it_indexes(engine: Engine) -> None:
    trace = trace_id()
    first, second = agent_call(trace, 1, [HISTORY]), agent_call(trace, 2, [HISTORY])
    write(engine, request(first, second))
    before = bodies(engine, trace)
    write(engine, request(second))
    write(engine, request(first))
    assert bodies(engine, trace) == before
    assert HISTORY.strip() in before[first.span_id.hex()]
    integrity_check(engine)


# --- every instrumentor's words, read straight off its attributes --------------------------------

WORD = re.compile(r"\w+")


def _conversation_words(conversation: dict[str, Any]) -> set[str]:
    """The words of a normalised conversation's messages, labels (roles, ids, types) left out."""
    found: set[str] = set()
    stack: list[Any] = [conversation.get(key) for key in CONVERSATION_KEYS]
    while stack:
        item = structured(stack.pop())
        if isinstance(item, str):
            found.update(WORD.findall(item.lower()))
        elif isinstance(item, dict):
            stack.extend(v for k, v in item.items() if k not in search.NOT_TEXT)
        elif isinstance(item, list):
            stack.extend(item)
    return found


@pytest.mark.parametrize("name", captures.NAMES)
def test_search_has_every_word_of_the_conversation_the_viewer_shows(name: str) -> None:
    """However a convention's words are read for search (OpenInference's straight off its
    flattened attributes), none that the viewer shows as the conversation may be missing."""
    capture = captures.load(name)
    checked = 0
    for scenario in capture.scenarios:
        for recorded in capture.spans(scenario):
            attributes = recorded.attributes
            convention = convention_for(attributes, recorded.scope_name)
            if convention is None:
                continue
            shown = _conversation_words(convention.conversation(attributes))
            text = search.search_text(recorded.name, attributes, recorded.scope_name) or ""
            missing = shown - set(WORD.findall(text.lower()))
            assert not missing, (scenario, recorded.name, sorted(missing)[:10])
            checked += 1
    assert checked


def _all_pages(engine: Engine, q: str, size: int, **filters: Any) -> list[list[str]]:
    pages, cursor = [], None
    with engine.connect() as connection:
        while True:
            page, cursor = queries.list_traces(
                connection, queries.TraceFilter(q=q, **filters), size, cursor
            )
            pages.append([trace["name"] for trace in page])
            if cursor is None:
                return pages


@pytest.mark.sqlite_only  # the plans are chosen on SQLite's FTS5 index
@pytest.mark.parametrize(
    ("q", "filters"),
    [
        ("common", {}),
        ("common often", {}),
        ("common rare", {}),  # common apart, rare together: the walk falls back
        ("common", {"service": "b"}),
        ("common", {"status": "error"}),
        ('"common often"', {}),
    ],
)
def test_walking_the_newest_traces_finds_what_collecting_the_matches_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, q: str, filters: dict[str, Any]
) -> None:
    """A common term's traces are found by walking the newest traces (`_search_page`): the
    same pages, in the same order, as collecting every match, cursors and filters included."""
    spans = [
        span(
            f"t{i}",
            start_ns=BASE_NS + i // 3,  # ties on start time: the order breaks them by id
            attributes={
                "note": " ".join(
                    ["common"] + (["often"] if i % 2 else []) + (["rare"] if i % 37 == 5 else [])
                )
            },
            status=2 if i % 5 == 0 else 0,
        )
        for i in range(120)
    ]
    write(engine, request(*spans[:60], service="a"), request(*spans[60:], service="b"))
    monkeypatch.setattr(queries, "COMMON_TERM_SPANS", 10**9)
    collected = _all_pages(engine, q, 7, **filters)
    monkeypatch.setattr(queries, "COMMON_TERM_SPANS", 5)
    monkeypatch.setattr(queries, "WALKED_TRACES", 20)
    walked = _all_pages(engine, q, 7, **filters)
    assert walked == collected
    assert sum(map(len, collected)) > 1


@pytest.mark.sqlite_only
def test_a_common_word_walks_the_newest_traces_and_a_rare_one_collects_its_matches(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(engine, *(request(span(f"t{i}", attributes={"note": "common"})) for i in range(30)))
    write(engine, request(span("odd one", attributes={"note": "rare"})))
    monkeypatch.setattr(queries, "COMMON_TERM_SPANS", 10)
    collected: list[str] = []
    real = queries._matching_traces

    def recording(dialect: str, q: str) -> Any:
        collected.append(q)
        return real(dialect, q)

    monkeypatch.setattr(queries, "_matching_traces", recording)
    assert len(found(engine, "common")) == 30 and collected == []
    assert found(engine, "rare") == ["odd one"] and collected == ["rare"]
