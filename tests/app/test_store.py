"""The store on real SQLite built by the migrations: every OTLP field kept, upserts, summaries."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from sqlalchemy.engine import Engine

from app import ingest, store
from app.schema import resources, scopes, span_search, spans, traces
from app.search_rows import stored_text
from tests.otlp_builders import BASE_NS, key_values, request, span, span_id, trace_id

LIMIT = 16 * 1024 * 1024

ATTRIBUTES: dict[str, Any] = {
    "text": 'héllo "quoted"\nline',
    "empty": "",
    "int": -42,
    "big": 2**62,
    "double": 1.0,
    "half": 0.5,
    "nan": float("nan"),
    "inf": float("-inf"),
    "yes": True,
    "no": False,
    "bytes": b"\x00\xffspy",
    "strings": ["a", "b"],
    "mixed": [1, "two", 3.5, False, [b"\x01"]],
    "kv": {"nested": {"deep": 1}, "list": [1.0], "flag": True},
}
NATURAL: dict[str, Any] = {
    "text": 'héllo "quoted"\nline',
    "empty": "",
    "int": -42,
    "big": 2**62,
    "double": 1.0,
    "half": 0.5,
    "nan": "NaN",
    "inf": "-Infinity",
    "yes": True,
    "no": False,
    "bytes": "AP9zcHk=",
    "strings": ["a", "b"],
    "mixed": [1, "two", 3.5, False, ["AQ=="]],
    "kv": {"nested": {"deep": 1}, "list": [1.0], "flag": True},
}


def write(engine: Engine, *messages: ExportTraceServiceRequest) -> None:
    """Decode each message as the receiver does, then store them all in one transaction."""
    batches = [
        ingest.decode("traces", message.SerializeToString(), "protobuf", None, LIMIT)
        for message in messages
    ]
    with engine.begin() as connection:
        store.write(connection, batches)


def stored_span(engine: Engine, trace: bytes, ident: bytes) -> Any:
    with engine.connect() as connection:
        query = sa.select(spans).where(spans.c.trace_id == trace, spans.c.span_id == ident)
        return connection.execute(query).one()


def summary(engine: Engine, trace: bytes) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.select(traces).where(traces.c.trace_id == trace)).one()


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def llm(model: str, **usage: int) -> dict[str, Any]:
    """gen_ai attributes of one chat call; `usage` keys are gen_ai.usage.* suffixes."""
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    attributes.update({f"gen_ai.usage.{key}": value for key, value in usage.items()})
    return attributes


# --- every field -------------------------------------------------------------------------------


def test_every_otlp_field_round_trips(engine: Engine) -> None:
    trace, ident, parent = trace_id(), span_id(), span_id()
    linked_trace, linked_span = trace_id(), span_id()
    full = Span(
        trace_id=trace,
        span_id=ident,
        parent_span_id=parent,
        trace_state="vendor=a1,other=b2",
        flags=0x301,
        name="GET /weather",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=BASE_NS + 123_456_789,
        end_time_unix_nano=BASE_NS + 2_123_456_790,
        attributes=key_values(ATTRIBUTES),
        dropped_attributes_count=3,
        events=[
            Span.Event(
                time_unix_nano=BASE_NS + 500,
                name="exception",
                attributes=key_values({"exception.type": "ValueError", "count": 2}),
                dropped_attributes_count=1,
            ),
            Span.Event(time_unix_nano=BASE_NS + 600, name="bare"),
        ],
        dropped_events_count=4,
        links=[
            Span.Link(
                trace_id=linked_trace,
                span_id=linked_span,
                trace_state="l=1",
                flags=1,
                attributes=key_values({"link.reason": "follows", "n": 1.0}),
                dropped_attributes_count=2,
            )
        ],
        dropped_links_count=5,
        status=Status(code=Status.STATUS_CODE_ERROR, message="it broke"),
    )
    message = request(full, service="weather-app", scope="weather.client")
    resource_spans = message.resource_spans[0]
    resource_spans.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    resource_spans.resource.attributes.extend(key_values({"host.cores": 8, "deployment": "dev"}))
    resource_spans.resource.dropped_attributes_count = 6
    scope_spans = resource_spans.scope_spans[0]
    scope_spans.schema_url = "https://opentelemetry.io/schemas/1.27.0"
    scope_spans.scope.version = "1.2.3"
    scope_spans.scope.attributes.extend(key_values({"scope.flag": True}))
    scope_spans.scope.dropped_attributes_count = 7

    write(engine, message)

    row = stored_span(engine, trace, ident)
    assert row.parent_span_id == parent
    assert row.trace_state == "vendor=a1,other=b2"
    assert row.flags == 0x301
    assert row.name == "GET /weather"
    assert row.kind == 3
    assert row.start_ns == BASE_NS + 123_456_789
    assert row.end_ns == BASE_NS + 2_123_456_790
    assert row.duration_ns == 2_000_000_001
    assert (row.status_code, row.status_message) == (2, "it broke")
    assert row.service_name == "weather-app"
    assert row.scope_name == "weather.client"
    assert row.attributes == NATURAL
    # JSON would let 1.0 come back as 1; a double must stay a double.
    assert type(row.attributes["double"]) is float
    assert type(row.attributes["kv"]["list"][0]) is float
    assert type(row.attributes["int"]) is int
    assert row.dropped_attributes_count == 3
    assert row.events == [
        {
            "name": "exception",
            "time_ns": BASE_NS + 500,
            "attributes": {"exception.type": "ValueError", "count": 2},
            "dropped_attributes_count": 1,
        },
        {"name": "bare", "time_ns": BASE_NS + 600, "attributes": {}, "dropped_attributes_count": 0},
    ]
    assert row.dropped_events_count == 4
    assert row.links == [
        {
            "trace_id": linked_trace.hex(),
            "span_id": linked_span.hex(),
            "trace_state": "l=1",
            "flags": 1,
            "attributes": {"link.reason": "follows", "n": 1.0},
            "dropped_attributes_count": 2,
        }
    ]
    assert row.dropped_links_count == 5
    # Not an LLM call: every llm_* column is empty.
    assert row.llm_convention is None and row.llm_request_model is None

    with engine.connect() as connection:
        resource = connection.execute(
            sa.select(resources).where(resources.c.resource_hash == row.resource_hash)
        ).one()
        scope = connection.execute(
            sa.select(scopes).where(scopes.c.scope_hash == row.scope_hash)
        ).one()
    assert resource.attributes == {
        "service.name": "weather-app",
        "host.cores": 8,
        "deployment": "dev",
    }
    assert resource.dropped_attributes_count == 6
    assert resource.schema_url == "https://opentelemetry.io/schemas/1.26.0"
    assert (scope.name, scope.version) == ("weather.client", "1.2.3")
    assert scope.attributes == {"scope.flag": True}
    assert scope.dropped_attributes_count == 7
    assert scope.schema_url == "https://opentelemetry.io/schemas/1.27.0"


def test_root_span_has_no_parent(engine: Engine) -> None:
    root = span("root")
    write(engine, request(root))
    assert stored_span(engine, root.trace_id, root.span_id).parent_span_id is None


# --- upserts -----------------------------------------------------------------------------------


def test_writing_the_same_span_twice_stores_one_row(engine: Engine) -> None:
    one = span("once")
    write(engine, request(one))
    write(engine, request(one))
    write(engine, request(one), request(one))  # twice in one transaction too
    assert count(engine, spans) == 1
    assert summary(engine, one.trace_id).span_count == 1


def test_a_later_write_replaces_every_field(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    started = span("starting", trace=trace, ident=ident, duration_ns=0, attributes={"a": 1})
    write(engine, request(started, service="first"))
    ended = span(
        "finished",
        trace=trace,
        ident=ident,
        duration_ns=5_000_000,
        attributes={"b": "two"},
        status=Status.STATUS_CODE_ERROR,
        kind=Span.SPAN_KIND_SERVER,
    )
    ended.status.message = "late failure"
    write(engine, request(ended, service="second"))

    row = stored_span(engine, trace, ident)
    assert row.name == "finished"
    assert row.kind == Span.SPAN_KIND_SERVER
    assert row.end_ns == BASE_NS + 5_000_000
    assert row.duration_ns == 5_000_000
    assert (row.status_code, row.status_message) == (2, "late failure")
    assert row.attributes == {"b": "two"}  # replaced, not merged
    assert row.service_name == "second"
    assert count(engine, spans) == 1
    trace_row = summary(engine, trace)
    assert (trace_row.name, trace_row.service_name) == ("finished", "second")
    assert (trace_row.end_ns, trace_row.error_count) == (BASE_NS + 5_000_000, 1)


def test_the_last_export_of_a_span_in_one_write_wins(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    write(
        engine,
        request(span("first", trace=trace, ident=ident)),
        request(span("second", trace=trace, ident=ident)),
    )
    assert stored_span(engine, trace, ident).name == "second"
    assert count(engine, spans) == 1


# --- search text -------------------------------------------------------------------------------


def search_bodies(engine: Engine) -> dict[bytes, str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(span_search.c.span_id, span_search.c.body))
        return {row.span_id: stored_text(row.body) for row in rows}


def test_each_span_with_text_gets_one_search_row(engine: Engine) -> None:
    named = span("named", attributes={"note": "hello", "flag": True})
    blank = span("", attributes={"flag": True})
    write(engine, request(named, blank))
    assert search_bodies(engine) == {named.span_id: "named\nhello"}


def test_a_later_write_replaces_the_search_text_and_one_without_text_removes_it(
    engine: Engine,
) -> None:
    trace, ident, other = trace_id(), span_id(), span_id()
    write(engine, request(span("first", trace=trace, ident=ident), span("kept", ident=other)))
    write(engine, request(span("second", trace=trace, ident=ident, attributes={"a": "b"})))
    assert search_bodies(engine) == {ident: "second\nb", other: "kept"}
    write(engine, request(span("", trace=trace, ident=ident)))
    assert search_bodies(engine) == {other: "kept"}


def test_the_last_export_in_one_write_gives_the_search_text(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    write(
        engine,
        request(span("first", trace=trace, ident=ident)),
        request(span("second", trace=trace, ident=ident)),
    )
    assert search_bodies(engine) == {ident: "second"}


def test_writing_more_spans_sends_no_more_statements(engine: Engine) -> None:
    """Batched: the statements of a write do not grow with its spans, search text included."""

    def statements(message: ExportTraceServiceRequest) -> list[str]:
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement.split("(")[0].strip())

        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            write(engine, message)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        return seen

    def spans_(n: int) -> ExportTraceServiceRequest:
        # Some spans with text, some without, in new traces and in ones already stored.
        return request(
            *(span(f"s{i}" if i % 3 else "", trace=traces_[i % len(traces_)]) for i in range(n))
        )

    traces_ = [trace_id() for _ in range(5)]
    few = statements(spans_(6))
    traces_ = [trace_id() for _ in range(200)]
    many = statements(spans_(400))
    assert few == many
    assert any("span_search" in statement for statement in many), many


# --- trace summaries ---------------------------------------------------------------------------


def test_until_the_root_arrives_the_earliest_span_names_the_trace(engine: Engine) -> None:
    trace, root_id = trace_id(), span_id()
    late_child = span("late child", trace=trace, parent=root_id, start_ns=BASE_NS + 300)
    early_child = span("early child", trace=trace, parent=root_id, start_ns=BASE_NS + 100)
    write(engine, request(late_child, early_child, service="worker"))

    waiting = summary(engine, trace)
    assert waiting.name == "early child"
    assert waiting.root_span_id is None
    assert waiting.service_name == "worker"
    assert waiting.start_ns == BASE_NS + 100
    assert waiting.span_count == 2

    # The root starts first and ends last, and comes from another service.
    root = span("handle request", trace=trace, ident=root_id, duration_ns=9_000_000)
    write(engine, request(root, service="frontend"))

    done = summary(engine, trace)
    assert done.name == "handle request"
    assert done.root_span_id == root_id
    assert done.service_name == "frontend"
    assert (done.start_ns, done.end_ns) == (BASE_NS, BASE_NS + 9_000_000)
    assert done.span_count == 3


def test_the_root_names_the_trace_even_when_a_child_started_earlier(engine: Engine) -> None:
    # Clocks skew between services: a child may claim to start before its root.
    trace, root_id = trace_id(), span_id()
    write(engine, request(span("child", trace=trace, parent=root_id, start_ns=BASE_NS - 50)))
    write(engine, request(span("root", trace=trace, ident=root_id)))
    done = summary(engine, trace)
    assert (done.name, done.root_span_id, done.start_ns) == ("root", root_id, BASE_NS - 50)


@pytest.mark.parametrize("earliest_id", [b"\1" * 8, b"\2" * 8])
def test_of_several_parentless_spans_the_earliest_names_the_trace(
    engine: Engine, earliest_id: bytes
) -> None:
    trace = trace_id()
    # Read in key order, the later root comes once after the earliest and once before it.
    later_id = b"\3" * 8 if earliest_id == b"\1" * 8 else b"\1" * 8
    write(
        engine,
        request(
            span("later root", trace=trace, ident=later_id, start_ns=BASE_NS + 10),
            span("earliest root", trace=trace, ident=earliest_id, start_ns=BASE_NS),
        ),
    )
    row = summary(engine, trace)
    assert (row.name, row.root_span_id) == ("earliest root", earliest_id)


def test_resending_spans_does_not_inflate_the_summary(engine: Engine) -> None:
    trace, root_id = trace_id(), span_id()
    batch = request(
        span("root", trace=trace, ident=root_id),
        span("call", trace=trace, parent=root_id, attributes=llm("m", input_tokens=100)),
        span("call", trace=trace, parent=root_id, attributes=llm("m", output_tokens=7)),
    )
    for _ in range(3):
        write(engine, batch)
    row = summary(engine, trace)
    assert (row.span_count, row.llm_call_count) == (3, 2)
    assert (row.input_tokens, row.output_tokens) == (100, 7)


def test_a_replaced_span_replaces_its_share_of_the_totals(engine: Engine) -> None:
    trace, ident = trace_id(), span_id()
    write(
        engine,
        request(span("call", trace=trace, ident=ident, attributes=llm("m", input_tokens=10))),
    )
    again = span("call", trace=trace, ident=ident, attributes=llm("m", input_tokens=25))
    write(engine, request(again))
    assert summary(engine, trace).input_tokens == 25


def test_error_count_counts_spans_with_status_error(engine: Engine) -> None:
    trace = trace_id()
    failing = span("fails", trace=trace, status=Status.STATUS_CODE_ERROR)
    write(
        engine,
        request(
            span("unset", trace=trace, status=Status.STATUS_CODE_UNSET),
            span("ok", trace=trace, status=Status.STATUS_CODE_OK),
            failing,
            span("fails too", trace=trace, status=Status.STATUS_CODE_ERROR),
        ),
    )
    assert summary(engine, trace).error_count == 2

    # A retry that ends well replaces the failure.
    failing.status.code = Status.STATUS_CODE_OK
    write(engine, request(failing))
    assert summary(engine, trace).error_count == 1


def test_llm_calls_tokens_and_models_are_summed_from_gen_ai_attributes(engine: Engine) -> None:
    trace = trace_id()
    answered = llm(
        "claude-b",
        input_tokens=100,
        output_tokens=10,
        **{"cache_read.input_tokens": 80, "cache_creation.input_tokens": 5},
    )
    answered["gen_ai.response.model"] = "claude-b-2026"
    # Span ids in the reverse order of the model names, so rows read in key order are unsorted.
    write(
        engine,
        request(
            span("root", trace=trace),
            span("first", trace=trace, ident=b"\2" * 8, attributes=answered),
            span(
                "second",
                trace=trace,
                ident=b"\3" * 8,
                attributes=llm("claude-a", input_tokens=50, output_tokens=5),
            ),
            # The same model again, and a call whose usage is missing.
            span("third", trace=trace, attributes={**answered, "gen_ai.usage.input_tokens": 1}),
            span("fourth", trace=trace, ident=b"\1" * 8, attributes=llm("claude-c")),
            span("not llm", trace=trace, attributes={"http.method": "GET", "input_tokens": 99}),
        ),
    )
    row = summary(engine, trace)
    assert row.span_count == 6
    assert row.llm_call_count == 4
    assert row.input_tokens == 151
    assert row.output_tokens == 25
    assert row.cache_read_input_tokens == 160
    assert row.cache_creation_input_tokens == 10
    # The response model when known (it names the exact version), sorted and distinct.
    assert row.models == ["claude-a", "claude-b-2026", "claude-c"]


def test_a_trace_without_llm_calls_has_zero_totals(engine: Engine) -> None:
    plain = span("plain")
    write(engine, request(plain))
    row = summary(engine, plain.trace_id)
    assert row.llm_call_count == 0
    assert row.input_tokens == row.output_tokens == 0
    assert row.cache_read_input_tokens == row.cache_creation_input_tokens == 0
    assert row.models == []


def test_summaries_of_many_traces_in_one_write_stay_apart(engine: Engine) -> None:
    first, second = trace_id(), trace_id()
    write(
        engine,
        request(
            span("a", trace=first, attributes=llm("x", input_tokens=1)),
            span("b", trace=second, attributes=llm("y", input_tokens=2)),
            span("c", trace=second, status=Status.STATUS_CODE_ERROR),
        ),
    )
    a, b = summary(engine, first), summary(engine, second)
    assert (a.span_count, a.input_tokens, a.models, a.error_count) == (1, 1, ["x"], 0)
    assert (b.span_count, b.input_tokens, b.models, b.error_count) == (2, 2, ["y"], 1)


# --- resources and scopes ----------------------------------------------------------------------


def test_resources_and_scopes_are_stored_once_however_many_spans_share_them(engine: Engine) -> None:
    write(engine, request(*(span(f"s{i}") for i in range(5)), service="app", scope="lib"))
    write(engine, request(span("later"), service="app", scope="lib"))
    write(engine, request(span("same again"), service="app", scope="lib"))
    assert count(engine, spans) == 7
    assert (count(engine, resources), count(engine, scopes)) == (1, 1)

    write(engine, request(span("other service"), service="other", scope="lib"))
    assert (count(engine, resources), count(engine, scopes)) == (2, 1)

    versioned = request(span("newer library"), service="app", scope="lib")
    versioned.resource_spans[0].scope_spans[0].scope.version = "2.0"
    write(engine, versioned)
    assert (count(engine, resources), count(engine, scopes)) == (2, 2)


@pytest.mark.parametrize("spans_per_trace", [1, 3])
def test_many_traces_in_one_write_beyond_one_chunk(engine: Engine, spans_per_trace: int) -> None:
    # recompute_traces works in chunks of store.CHUNK ids; every trace must still get a summary.
    total = store.CHUNK + 7
    ids = [trace_id() for _ in range(total)]
    write(engine, request(*(span(trace=t) for t in ids for _ in range(spans_per_trace))))
    assert count(engine, traces) == total
    with engine.connect() as connection:
        counts = connection.execute(sa.select(traces.c.span_count).distinct()).scalars().all()
    assert counts == [spans_per_trace]


# --- a call recorded as two spans (the spyglass client's streamed calls) ------------------------

STREAM_REQUEST = {
    "spyglass.span.type": "llm.request",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
    "gen_ai.request.stream": True,
}
STREAM_RESPONSE = {
    "spyglass.span.type": "llm.stream",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
    "gen_ai.response.model": "claude-sonnet-4-6-20261101",
    "gen_ai.usage.input_tokens": 135,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.usage.cache_write.input_tokens": 10,
    "gen_ai.response.finish_reasons": ["end_turn"],
    "spyglass.stream.time_to_first_token_ms": 412.5,
}


def _write_spans(engine, *spans_) -> None:
    body = request(*spans_).SerializeToString()
    with engine.begin() as connection:
        store.write(connection, [ingest.decode("traces", body, "protobuf", None, 1 << 20)])


def _llm_columns(engine, span_id: bytes) -> dict:
    with engine.connect() as connection:
        row = (
            connection.execute(sa.select(spans).where(spans.c.span_id == span_id)).mappings().one()
        )
    return {k: v for k, v in row.items() if k.startswith("llm_")}


@pytest.mark.parametrize("order", ["request first", "response first"])
def test_a_streamed_call_is_summarised_on_its_request_span(engine, order: str) -> None:
    trace = trace_id()
    call = span("chat", trace=trace, attributes=STREAM_REQUEST)
    part = span("chat stream", trace=trace, parent=call.span_id, attributes=STREAM_RESPONSE)
    for item in [call, part] if order == "request first" else [part, call]:
        _write_spans(engine, item)
    columns = _llm_columns(engine, call.span_id)
    assert columns["llm_is_call"] is True
    assert (columns["llm_input_tokens"], columns["llm_output_tokens"]) == (135, 40)
    assert (columns["llm_cache_read_tokens"], columns["llm_cache_creation_tokens"]) == (100, 10)
    assert columns["llm_response_model"] == "claude-sonnet-4-6-20261101"
    assert columns["llm_finish_reasons"] == ["end_turn"]
    assert columns["llm_ttft_ms"] == 412.5
    assert _llm_columns(engine, part.span_id)["llm_is_call"] is False
    row = summary(engine, trace)
    # One call, counted once: the part's tokens are not added a second time.
    assert (row.llm_call_count, row.input_tokens, row.output_tokens) == (1, 135, 40)

    # The request span exported again still carries its part's facts.
    _write_spans(engine, call)
    assert _llm_columns(engine, call.span_id)["llm_input_tokens"] == 135
    assert summary(engine, trace).input_tokens == 135


def test_parts_stored_before_call_links_still_fold_into_their_call(engine) -> None:
    # Spans stored before migration 0004 have no rank: a span under a call that is no call
    # itself was then always a part, whose facts win over the call's.
    trace = trace_id()
    call = span("chat", trace=trace, attributes=STREAM_REQUEST)
    part = span("chat stream", trace=trace, parent=call.span_id, attributes=STREAM_RESPONSE)
    _write_spans(engine, call, part)
    with engine.begin() as connection:
        connection.execute(
            spans.update()
            .where(spans.c.span_id == part.span_id)
            .values(llm_call_key=None, llm_call_rank=None)
        )
    _write_spans(engine, call)
    assert _llm_columns(engine, call.span_id)["llm_output_tokens"] == 40
    assert _llm_columns(engine, call.span_id)["llm_ttft_ms"] == 412.5
    assert summary(engine, trace).llm_call_count == 1
