"""One API call recorded by several spans: keys, precedence and grouping (pure), then the store,
the reads, the REST API and the page on real SQLite.

The captures are what real instrumentors sent: OpenInference with the SDK's span as its child,
OpenLLMetry with the SDK's span in a trace of its own, and Logfire's stream records. Which
convention reads each span is the conventions' business; these tests read it back from the
stored rows where they need it. Synthetic spans (an instrumentor under a neutral scope, the
SDK's scope) test the mechanism on the GenAI keys alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.engine import Engine

from app import call_links, ingest, queries, store
from app.call_links import PART, Member
from app.schema import spans, traces
from tests.captures import CapturedSpan, load
from tests.otlp_builders import BASE_NS, request, span, trace_id

LIMIT = 16 * 1024 * 1024
MS = 1_000_000
SDK_SCOPE = "com.anthropic.sdk.python"
PROTOBUF = {"content-type": "application/x-protobuf"}


# --- helpers -------------------------------------------------------------------------------------


def decoded(message: ExportTraceServiceRequest) -> Any:
    return ingest.decode("traces", message.SerializeToString(), "protobuf", None, LIMIT)


def write(engine: Engine, *messages: ExportTraceServiceRequest) -> None:
    """Decode each message as the receiver does, then store them all in one transaction."""
    with engine.begin() as connection:
        store.write(connection, [decoded(message) for message in messages])


def one_by_one(capture: str, scenario: str) -> list[ExportTraceServiceRequest]:
    """A captured scenario as one export per span, in the order the capture holds them."""
    whole = load(capture).otlp(scenario)
    exports = []
    for index in range(len(whole.resource_spans[0].scope_spans)):
        single = ExportTraceServiceRequest()
        single.CopyFrom(whole)
        scope_spans = single.resource_spans[0].scope_spans
        kept = scope_spans[index]
        del scope_spans[:index]
        del scope_spans[1:]
        assert scope_spans[0] == kept
        exports.append(single)
    return exports


def stored(engine: Engine, captured: CapturedSpan) -> Any:
    with engine.connect() as connection:
        return (
            connection.execute(
                sa.select(spans).where(
                    spans.c.trace_id == bytes.fromhex(captured.trace_id),
                    spans.c.span_id == bytes.fromhex(captured.span_id),
                )
            )
            .mappings()
            .one()
        )


def summary(engine: Engine, trace: str | bytes) -> Any:
    ident = bytes.fromhex(trace) if isinstance(trace, str) else trace
    with engine.connect() as connection:
        return connection.execute(sa.select(traces).where(traces.c.trace_id == ident)).one()


def call_of(engine: Engine, trace: str | bytes, ident: str | bytes) -> queries.StoredCall:
    def raw(value: str | bytes) -> bytes:
        return bytes.fromhex(value) if isinstance(value, str) else value

    with engine.connect() as connection:
        found = queries.llm_call(connection, raw(trace), raw(ident))
    assert found is not None
    return found


def sdk_and_other(capture: str, scenario: str) -> tuple[CapturedSpan, CapturedSpan]:
    """The SDK's span of a scenario and the instrumentor's."""
    captured = load(capture).spans(scenario)
    sdk = [s for s in captured if s.scope_name == SDK_SCOPE]
    other = [s for s in captured if s.scope_name != SDK_SCOPE]
    assert len(sdk) == len(other) == 1, captured
    return sdk[0], other[0]


def stream_pair(capture: str, scenario: str) -> tuple[CapturedSpan, CapturedSpan]:
    """Logfire's request span of a streamed call and the log span written at its end."""
    request_span, log_span = load(capture).spans(scenario)
    assert log_span.attributes["logfire.span_type"] == "log"
    return request_span, log_span


def chat(response_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """GenAI attributes of a chat call with content, as an instrumentor records it."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]
        ),
        "gen_ai.usage.input_tokens": 135,
        "gen_ai.usage.output_tokens": 40,
    }
    if response_id is not None:
        attributes["gen_ai.response.id"] = response_id
    attributes.update(extra)
    return attributes


def sdk_chat(response_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """The SDK's own span of the call: metadata, the time to first chunk, no content."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.4125,
        "gen_ai.response.model": "claude-sonnet-4-6-20261101",
        "gen_ai.usage.input_tokens": 135,
        "gen_ai.usage.output_tokens": 40,
    }
    if response_id is not None:
        attributes["gen_ai.response.id"] = response_id
    attributes.update(extra)
    return attributes


def columns(engine: Engine, trace: bytes, ident: bytes) -> dict[str, Any]:
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.select(spans).where(spans.c.trace_id == trace, spans.c.span_id == ident)
            )
            .mappings()
            .one()
        )
    return {k: v for k, v in row.items() if k.startswith("llm_")}


# --- the key of a call (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", ["plain_system", "tool_use", "stream_text", "stream_helper", "thinking"]
)
def test_openinference_keeps_the_response_id_in_its_output_value(scenario: str) -> None:
    captured = load("openinference").spans(scenario)
    for other, sdk in zip(captured[::2], captured[1::2], strict=True):
        assert sdk.scope_name == SDK_SCOPE
        assert "gen_ai.response.id" not in other.attributes
        key = call_links.call_key("openinference", other.attributes)
        assert key == "response:" + json.loads(other.attributes["output.value"])["id"]
        assert call_links.call_key("anthropic-sdk", sdk.attributes) == key


@pytest.mark.parametrize("scenario", ["plain_system", "tool_use", "stream_text", "stream_thinking"])
def test_openllmetry_and_the_sdk_give_one_key_across_traces(scenario: str) -> None:
    for index in range(0, len(load("openllmetry").spans(scenario)), 2):
        other, sdk = load("openllmetry").spans(scenario)[index : index + 2]
        assert sdk.scope_name == SDK_SCOPE and other.trace_id != sdk.trace_id
        key = call_links.call_key("openllmetry", other.attributes)
        assert key is not None and key.startswith(call_links.RESPONSE)
        assert call_links.call_key("anthropic-sdk", sdk.attributes) == key


@pytest.mark.parametrize("capture", ["logfire", "logfire_v1"])
@pytest.mark.parametrize("scenario", ["stream_text", "stream_tool_use", "stream_thinking"])
def test_logfire_stream_records_share_a_stream_key(capture: str, scenario: str) -> None:
    """Depends on the Logfire convention's `stream_request_key` / `stream_response_key`."""
    request_span, log_span = stream_pair(capture, scenario)
    key = call_links.call_key("logfire", request_span.attributes)
    assert key is not None and key.startswith(call_links.STREAM)
    assert call_links.call_key("logfire", log_span.attributes) == key
    # A call Logfire did not stream has only its response id.
    plain = load(capture).spans("plain_system")[0]
    assert call_links.call_key("logfire", plain.attributes) == (
        "response:" + plain.attributes["gen_ai.response.id"]
    )


def test_a_span_no_convention_read_has_no_key() -> None:
    assert call_links.call_key(None, {"gen_ai.response.id": "msg_1"}) is None
    assert call_links.columns(None, {"gen_ai.response.id": "msg_1"}, None) == {
        "llm_call_key": None,
        "llm_call_rank": None,
    }


@pytest.mark.parametrize(
    ("attributes", "key"),
    [
        ({"gen_ai.response.id": " msg_1 "}, "response:msg_1"),
        ({"response_data": '{"id": "msg_2", "message": {}}'}, "response:msg_2"),
        ({"response_data": {"id": "msg_3"}}, "response:msg_3"),
        ({"output.value": '{"id": "msg_4"'}, None),  # cut short: no JSON, no id
        ({"output.value": "msg_5"}, None),
        ({"gen_ai.response.id": "x" * 300}, None),
        ({"gen_ai.response.id": 42}, None),
        ({"gen_ai.response.id": ""}, None),
    ],
)
def test_the_response_id_is_read_defensively(attributes: dict[str, Any], key: str | None) -> None:
    assert call_links.call_key("otel-genai", attributes) == key


# --- precedence (pure) ---------------------------------------------------------------------------


def test_an_instrumentor_with_content_ranks_over_the_sdk_span() -> None:
    sdk, other = sdk_and_other("openinference", "stream_text")
    assert call_links.precedence("openinference", other.attributes) > call_links.precedence(
        "anthropic-sdk", sdk.attributes, SDK_SCOPE
    )
    # Told apart by scope too, until a convention claims the SDK's spans.
    assert call_links.precedence("otel-genai", sdk.attributes, SDK_SCOPE) == (
        call_links.precedence("anthropic-sdk", sdk.attributes)
    )


def test_content_ranks_over_its_absence_and_spyglass_over_anything() -> None:
    sdk_content = load("sdk_native_content").spans("plain_system")[0].attributes
    bare = {"gen_ai.operation.name": "chat", "gen_ai.response.id": "msg_1"}
    with_content = call_links.precedence("anthropic-sdk", sdk_content)
    assert with_content > call_links.precedence("openllmetry", bare)
    assert call_links.precedence("openllmetry", chat()) > with_content
    assert call_links.precedence("spyglass", {}) > call_links.precedence("openinference", chat())


def test_logfires_stream_end_ranks_over_its_request_span() -> None:
    """Depends on the Logfire convention's `stream_response_key`."""
    request_span, log_span = stream_pair("logfire", "stream_text")
    assert call_links.precedence("logfire", log_span.attributes) > call_links.precedence(
        "logfire", request_span.attributes
    )


def test_a_part_of_a_call_ranks_as_part() -> None:
    found = call_links.columns("spyglass", {"gen_ai.response.id": "msg_1"}, False)
    assert found == {"llm_call_key": "response:msg_1", "llm_call_rank": PART}


# --- grouping (pure) -----------------------------------------------------------------------------


def member(
    name: str,
    start_ms: float,
    end_ms: float,
    rank: int = call_links.INSTRUMENTOR,
    key: str = "response:msg_1",
    **flags: bool,
) -> Member:
    return Member(
        trace_id=b"t" * 16,
        span_id=name.encode().ljust(8, b"."),
        key=key,
        rank=rank,
        start_ns=round(start_ms * MS),
        end_ns=round(end_ms * MS),
        **flags,
    )


def names(groups: list[list[Member]]) -> list[list[str]]:
    return sorted(sorted(m.span_id.rstrip(b".").decode() for m in group) for group in groups)


def test_spans_sharing_a_response_id_are_one_call_while_they_overlap() -> None:
    groups = call_links.split(
        [
            member("oi", 0, 14),
            member("sdk", 1, 13, rank=call_links.SDK),
            # A cassette replaying the same response later is another call.
            member("replay", 20, 30),
            member("replaysdk", 21, 29, rank=call_links.SDK),
            member("other", 0, 14, key="response:msg_2"),
        ]
    )
    assert names(groups) == [["oi", "sdk"], ["other"], ["replay", "replaysdk"]]


def test_each_stream_end_pairs_with_the_latest_request_before_it() -> None:
    key = "stream:logfire:abc"
    request_, end = PART, call_links.STREAM_END + call_links.WITH_CONTENT
    groups = call_links.split(
        [
            # Two identical requests in a row, then one whose stream was never read to the end.
            member("req1", 0, 2, rank=request_, key=key),
            member("end1", 270, 270, rank=end, key=key),
            member("req2", 300, 302, rank=request_, key=key),
            member("end2", 560, 560, rank=end, key=key),
            member("req3", 600, 602, rank=request_, key=key),
        ]
    )
    assert names(groups) == [["end1", "req1"], ["end2", "req2"], ["req3"]]
    # An end whose request was not stored stays alone.
    assert names(call_links.split([member("end", 5, 5, rank=end, key=key)])) == [["end"]]


def test_the_primary_and_what_counts_as_a_call() -> None:
    oi, sdk = member("oi", 0, 14, rank=12), member("sdk", 1, 13, rank=1, sdk=True, under_call=True)
    assert call_links.primary([sdk, oi]) is oi
    assert (call_links.counts(oi, oi), call_links.counts(sdk, oi)) == (True, False)
    # An SDK span inside an instrumentor's never counts, even alone (a failed call, no id).
    assert call_links.counts(sdk, sdk) is False

    # Ties go to the earliest span.
    first, later = member("a", 0, 10), member("b", 1, 10)
    assert call_links.primary([later, first]) is first

    # A part under its call leads (its parent is the call) but is no call itself.
    part = member("part", 5, 9, rank=PART, under_call=True)
    sibling = member("sdk", 0, 9, rank=1, sdk=True)
    assert call_links.primary([sibling, part]) is part
    assert not call_links.counts(part, part) and not call_links.counts(sibling, part)

    # A part beside its call (Logfire's stream request span) yields to it.
    request_span = member("req", 0, 2, rank=PART)
    log_span = member("log", 270, 270, rank=13)
    assert call_links.primary([request_span, log_span]) is log_span
    assert call_links.counts(log_span, log_span)


# --- merging a conversation (pure) ---------------------------------------------------------------


def test_the_sdks_usage_and_time_to_first_token_win_and_others_only_fill() -> None:
    sdk = call_links.Folded(
        {
            "gen_ai.response.time_to_first_chunk": 0.4125,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.usage.input_tokens": 135,
        },
        sdk=True,
    )
    other = call_links.Folded({"gen_ai.usage.cache_read.input_tokens": 100})
    conversation: dict[str, Any] = {
        "streaming": {"time_to_first_token_ms": 100.0},
        # OpenLLMetry's stream count: one too many.
        "usage": {"input_tokens": None, "output_tokens": 10, "cache_read_input_tokens": None},
    }
    call_links.merge_linked(conversation, [other, sdk], "openllmetry")
    assert conversation["streaming"]["time_to_first_token_ms"] == 412.5
    assert conversation["usage"] == {
        "input_tokens": 135,
        "output_tokens": 9,
        "cache_read_input_tokens": 100,
    }

    # A call that did not say it streamed gets a streaming block for the SDK's measure.
    bare: dict[str, Any] = {"streaming": None, "usage": {}}
    call_links.merge_linked(bare, [sdk], "openinference")
    assert bare["streaming"]["time_to_first_token_ms"] == 412.5

    # Our own client measured the same response: its figures stand, gaps are filled.
    ours: dict[str, Any] = {
        "streaming": {"time_to_first_token_ms": 400.0},
        "usage": {"input_tokens": None, "output_tokens": 10},
    }
    call_links.merge_linked(ours, [sdk], "spyglass")
    assert ours["streaming"]["time_to_first_token_ms"] == 400.0
    assert ours["usage"] == {"input_tokens": 135, "output_tokens": 10}

    # Another source's time to first token only fills a gap.
    measured: dict[str, Any] = {"streaming": {"time_to_first_token_ms": 100.0}, "usage": {}}
    call_links.merge_linked(measured, [call_links.Folded(sdk.attributes)], "openinference")
    assert measured["streaming"]["time_to_first_token_ms"] == 100.0

    untouched: dict[str, Any] = {"streaming": None, "usage": {"input_tokens": 1}}
    call_links.merge_linked(untouched, [], "openinference")
    odd = call_links.Folded({"gen_ai.response.time_to_first_chunk": "soon"}, sdk=True)
    call_links.merge_linked(untouched, [odd], "openinference")
    assert untouched == {"streaming": None, "usage": {"input_tokens": 1}}


# --- storage: OpenInference with the SDK's span as its child -------------------------------------


ORDERS = ["instrumentor first", "sdk first", "together"]


def write_in_order(engine: Engine, capture: str, scenario: str, order: str) -> None:
    exports = one_by_one(capture, scenario)
    first_is_sdk = load(capture).spans(scenario)[0].scope_name == SDK_SCOPE
    if order == "together":
        write(engine, *exports)
        return
    if (order == "sdk first") != first_is_sdk:
        exports.reverse()
    for export in exports:
        write(engine, export)


@pytest.mark.parametrize("order", ORDERS)
def test_an_instrumentor_span_and_the_sdks_child_are_one_call(engine: Engine, order: str) -> None:
    """Depends on the OpenInference convention claiming its LLM spans."""
    sdk, other = sdk_and_other("openinference", "stream_text")
    write_in_order(engine, "openinference", "stream_text", order)

    shown, folded = stored(engine, other), stored(engine, sdk)
    assert shown["llm_convention"] is not None and folded["llm_convention"] is not None
    assert (shown["llm_is_call"], folded["llm_is_call"]) == (True, False)
    assert shown["llm_call_key"] == folded["llm_call_key"] is not None
    # The SDK's time to first token is kept on the call.
    ttft = sdk.attributes["gen_ai.response.time_to_first_chunk"] * 1000
    assert shown["llm_ttft_ms"] == pytest.approx(ttft)
    row = summary(engine, other.trace_id)
    assert (row.llm_call_count, row.input_tokens) == (1, 135)

    # Exported again, either span: nothing changes.
    for export in one_by_one("openinference", "stream_text"):
        write(engine, export)
    assert (stored(engine, other)["llm_is_call"], stored(engine, sdk)["llm_is_call"]) == (
        True,
        False,
    )
    assert stored(engine, other)["llm_ttft_ms"] == pytest.approx(ttft)
    row = summary(engine, other.trace_id)
    assert (row.llm_call_count, row.input_tokens, row.output_tokens) == (1, 135, 9)


def test_a_failed_call_without_a_response_id_is_folded_by_parentage(engine: Engine) -> None:
    """Depends on the OpenInference convention claiming its LLM spans."""
    sdk, other = sdk_and_other("openinference", "error_400")
    assert call_links.response_id(sdk.attributes) is None
    assert call_links.response_id(other.attributes) is None
    for export in reversed(one_by_one("openinference", "error_400")):
        write(engine, export)
    assert (stored(engine, other)["llm_is_call"], stored(engine, sdk)["llm_is_call"]) == (
        True,
        False,
    )
    assert summary(engine, other.trace_id).llm_call_count == 1
    found = call_of(engine, sdk.trace_id, sdk.span_id)
    assert (found.span_id, [link.span_id for link in found.linked]) == (
        other.span_id,
        [sdk.span_id],
    )


# --- storage: OpenLLMetry with the SDK's span in a trace of its own ------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_a_call_recorded_in_two_traces_counts_once(engine: Engine, order: str) -> None:
    """Depends on the OpenLLMetry convention claiming its spans."""
    sdk, other = sdk_and_other("openllmetry", "stream_text")
    write_in_order(engine, "openllmetry", "stream_text", order)

    assert (stored(engine, other)["llm_is_call"], stored(engine, sdk)["llm_is_call"]) == (
        True,
        False,
    )
    shown_trace, sdk_trace = summary(engine, other.trace_id), summary(engine, sdk.trace_id)
    assert (shown_trace.llm_call_count, shown_trace.input_tokens) == (1, 135)
    # The SDK's trace still lists its span, but no call and no tokens of its own.
    assert (sdk_trace.span_count, sdk_trace.llm_call_count, sdk_trace.input_tokens) == (1, 0, 0)
    assert sdk_trace.output_tokens == 0
    # OpenLLMetry counts a stream's output one too high (conventions.md 0.5); the SDK's count,
    # the API's own, is kept.
    exact_output = sdk.attributes["gen_ai.usage.output_tokens"]
    assert other.attributes["gen_ai.usage.output_tokens"] == exact_output + 1
    assert shown_trace.output_tokens == exact_output
    # OpenLLMetry records no time to first token; the SDK's is kept.
    assert "gen_ai.response.time_to_first_chunk" not in other.attributes
    assert stored(engine, other)["llm_ttft_ms"] == pytest.approx(
        sdk.attributes["gen_ai.response.time_to_first_chunk"] * 1000
    )

    for captured in (other, sdk):
        found = call_of(engine, captured.trace_id, captured.span_id)
        assert (found.trace_id, found.span_id) == (other.trace_id, other.span_id)
        assert found.convention == stored(engine, other)["llm_convention"]
        assert found.linked == [
            queries.LinkedSpan(sdk.trace_id, sdk.span_id, stored(engine, sdk)["llm_convention"])
        ]
        assert sdk.attributes in found.parts
        conversation = found.conversation()
        assert conversation is not None
        assert conversation["streaming"]["time_to_first_token_ms"] == pytest.approx(
            sdk.attributes["gen_ai.response.time_to_first_chunk"] * 1000
        )
        assert conversation["usage"]["output_tokens"] == exact_output


def test_every_captured_openllmetry_call_counts_once(engine: Engine) -> None:
    """Depends on the OpenLLMetry convention claiming its spans."""
    capture = load("openllmetry")
    write(engine, *(capture.otlp(scenario) for scenario in capture.scenarios))
    for scenario in ("plain_system", "multi_turn", "tool_use", "stream_helper", "thinking"):
        pairs = capture.spans(scenario)
        for other, sdk in zip(pairs[::2], pairs[1::2], strict=True):
            assert summary(engine, other.trace_id).llm_call_count == 1
            assert summary(engine, sdk.trace_id).llm_call_count == 0


# --- storage: Logfire's two records of a stream --------------------------------------------------


@pytest.mark.parametrize("capture", ["logfire", "logfire_v1"])
@pytest.mark.parametrize("order", ["request first", "log first"])
def test_logfires_stream_records_are_one_call_across_traces(
    engine: Engine, capture: str, order: str
) -> None:
    """Depends on the Logfire convention (its stream keys, and what it reads of the spans)."""
    request_span, log_span = stream_pair(capture, "stream_text")
    assert request_span.trace_id != log_span.trace_id
    exports = one_by_one(capture, "stream_text")
    for export in exports if order == "request first" else reversed(exports):
        write(engine, export)

    assert (
        stored(engine, log_span)["llm_is_call"],
        stored(engine, request_span)["llm_is_call"],
    ) == (
        True,
        False,
    )
    assert summary(engine, log_span.trace_id).llm_call_count == 1
    assert summary(engine, log_span.trace_id).input_tokens == 135
    assert summary(engine, request_span.trace_id).llm_call_count == 0

    asked_request = call_of(engine, request_span.trace_id, request_span.span_id)
    asked_log = call_of(engine, log_span.trace_id, log_span.span_id)
    assert (asked_request.trace_id, asked_request.span_id) == (log_span.trace_id, log_span.span_id)
    assert asked_request.conversation() == asked_log.conversation()
    assert [link.span_id for link in asked_log.linked] == [request_span.span_id]


def test_identical_streamed_requests_pair_by_time(engine: Engine) -> None:
    """Two identical streamed requests, in one trace: each log span pairs with its own request.
    Depends on the Logfire convention's stream keys."""
    request_span, log_span = stream_pair("logfire", "stream_text")
    trace = trace_id()

    def logfire_span(captured: CapturedSpan, start_ms: float) -> Any:
        return span(
            captured.name,
            trace=trace,
            start_ns=BASE_NS + round(start_ms * MS),
            duration_ns=round(captured.duration_ms * MS),
            attributes=captured.attributes,
        )

    spans_ = [
        logfire_span(request_span, 0),
        logfire_span(log_span, 270),
        logfire_span(request_span, 300),
        logfire_span(log_span, 570),
    ]
    # The log spans arrive first, as they might from another process's exporter.
    write(engine, request(spans_[3], spans_[1], scope="logfire.anthropic"))
    write(engine, request(spans_[2], spans_[0], scope="logfire.anthropic"))
    assert summary(engine, trace).llm_call_count == 2
    with engine.connect() as connection:
        first = queries.llm_call(connection, trace, spans_[0].span_id)
        second = queries.llm_call(connection, trace, spans_[2].span_id)
    assert first is not None and second is not None
    assert (first.span_id, second.span_id) == (spans_[1].span_id.hex(), spans_[3].span_id.hex())


# --- storage: the mechanism on GenAI keys alone --------------------------------------------------


def instrumented_pair(
    response_id: str | None = "msg_pair", *, start_ns: int = BASE_NS, same_trace: bool = False
) -> tuple[Any, Any]:
    """An instrumentor's span and the SDK's span of the same call, in two traces or one."""
    other = span("chat", start_ns=start_ns, duration_ns=300 * MS, attributes=chat(response_id))
    sdk = span(
        "anthropic.messages.create",
        trace=other.trace_id if same_trace else None,
        start_ns=start_ns + MS,
        duration_ns=298 * MS,
        attributes=sdk_chat(response_id),
    )
    return other, sdk


def exports_of(other: Any, sdk: Any) -> list[ExportTraceServiceRequest]:
    return [request(other, scope="acme.instrumentation"), request(sdk, scope=SDK_SCOPE)]


def test_the_sdks_usage_wins_and_other_facts_only_fill(engine: Engine) -> None:
    other, sdk = instrumented_pair()
    # The instrumentor says nothing of the response model or of the time to first token.
    write(engine, *exports_of(other, sdk))
    shown = columns(engine, other.trace_id, other.span_id)
    assert shown["llm_ttft_ms"] == 412.5
    assert shown["llm_streaming"] is True
    assert shown["llm_response_model"] == "claude-sonnet-4-6-20261101"
    assert columns(engine, sdk.trace_id, sdk.span_id)["llm_is_call"] is False

    # It counts output tokens its own way, and names the model otherwise: the SDK's count
    # (the API's own) wins, the instrumentor's model stands.
    miscounted = span(
        "chat",
        trace=other.trace_id,
        ident=other.span_id,
        start_ns=BASE_NS,
        duration_ns=300 * MS,
        attributes=chat(
            "msg_pair",
            **{"gen_ai.usage.output_tokens": 41, "gen_ai.response.model": "claude-sonnet-4-6"},
        ),
    )
    for _ in range(2):
        write(engine, request(miscounted, scope="acme.instrumentation"))
        shown = columns(engine, other.trace_id, other.span_id)
        assert (shown["llm_output_tokens"], shown["llm_response_model"]) == (
            40,
            "claude-sonnet-4-6",
        )
        assert summary(engine, other.trace_id).output_tokens == 40
        assert summary(engine, sdk.trace_id).output_tokens == 0
    conversation = call_of(engine, sdk.trace_id, sdk.span_id).conversation()
    assert conversation is not None
    assert conversation["usage"]["output_tokens"] == 40


def test_the_sdk_child_of_an_instrumentor_gives_its_usage_by_parentage(engine: Engine) -> None:
    """No shared key (a source without response ids): the SDK's child span still counts."""
    other, sdk = instrumented_pair(None, same_trace=True)
    sdk.parent_span_id = other.span_id
    write(engine, request(sdk, scope=SDK_SCOPE))
    miscounted = chat(**{"gen_ai.usage.output_tokens": 41})
    write(
        engine,
        request(
            span(
                "chat",
                trace=other.trace_id,
                ident=other.span_id,
                duration_ns=300 * MS,
                attributes=miscounted,
            ),
            scope="acme.instrumentation",
        ),
    )
    shown = columns(engine, other.trace_id, other.span_id)
    assert (shown["llm_is_call"], shown["llm_output_tokens"], shown["llm_ttft_ms"]) == (
        True,
        40,
        412.5,
    )
    assert columns(engine, sdk.trace_id, sdk.span_id)["llm_is_call"] is False
    assert summary(engine, other.trace_id).output_tokens == 40


def test_a_replayed_response_id_is_another_call(engine: Engine) -> None:
    """A cassette answers every run with the same response id: each run is still its call."""
    first = instrumented_pair("msg_replayed")
    again = instrumented_pair("msg_replayed", start_ns=BASE_NS + 1_000 * MS)
    write(engine, *exports_of(*first), *exports_of(*again))
    for other, sdk in (first, again):
        assert summary(engine, other.trace_id).llm_call_count == 1
        assert summary(engine, sdk.trace_id).llm_call_count == 0
        assert call_of(engine, sdk.trace_id, sdk.span_id).span_id == other.span_id.hex()


def test_spyglass_streams_and_the_sdk_span_beside_them(engine: Engine) -> None:
    """Our client records a streamed call as a request span and a stream span under it; the
    SDK's span of the same call is their sibling. The request span stays the call."""
    trace = trace_id()
    call = span(
        "chat",
        trace=trace,
        duration_ns=5 * MS,
        attributes={
            "spyglass.span.type": "llm.request",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4-6",
            "gen_ai.request.stream": True,
        },
    )
    part = span(
        "chat stream",
        trace=trace,
        parent=call.span_id,
        start_ns=BASE_NS + 5 * MS,
        duration_ns=300 * MS,
        attributes={
            "spyglass.span.type": "llm.stream",
            "gen_ai.response.id": "msg_stream",
            "gen_ai.usage.input_tokens": 135,
            "gen_ai.usage.output_tokens": 40,
            "spyglass.stream.time_to_first_token_ms": 400.0,
        },
    )
    sdk = span(
        "anthropic.messages.create",
        trace=trace,
        start_ns=BASE_NS + MS,
        duration_ns=303 * MS,
        attributes=sdk_chat("msg_stream"),
    )
    write(engine, request(sdk, scope=SDK_SCOPE))
    write(engine, request(call, part, scope="spyglass"))
    assert [columns(engine, trace, s.span_id)["llm_is_call"] for s in (call, part, sdk)] == [
        True,
        False,
        False,
    ]
    row = summary(engine, trace)
    assert (row.llm_call_count, row.input_tokens) == (1, 135)
    assert columns(engine, trace, call.span_id)["llm_ttft_ms"] == 400.0

    found = call_of(engine, trace, sdk.span_id)
    assert found.span_id == call.span_id.hex()
    assert [link.span_id for link in found.linked] == [sdk.span_id.hex()]
    assert found.parts[0]["spyglass.span.type"] == "llm.stream"
    assert call_of(engine, trace, part.span_id).linked == found.linked


def test_linking_sends_no_more_statements_for_more_calls(engine: Engine) -> None:
    """Batched: one lookup for the keys of a write, however many calls it links."""

    def statements(messages: list[ExportTraceServiceRequest]) -> list[str]:
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement.split("(")[0].strip())

        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            write(engine, *messages)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        return seen

    def calls(n: int, offset_ms: int) -> list[ExportTraceServiceRequest]:
        messages: list[ExportTraceServiceRequest] = []
        for i in range(n):
            start = BASE_NS + (offset_ms + i) * 1_000 * MS
            messages += exports_of(*instrumented_pair(f"msg_{offset_ms}_{i}", start_ns=start))
        return messages

    few, many = statements(calls(2, 0)), statements(calls(60, 10_000))
    assert few == many
    assert any("UPDATE spans" in statement for statement in many)


# --- the REST API and the page -------------------------------------------------------------------


@pytest.fixture
def two_traces(client: TestClient) -> Iterator[tuple[CapturedSpan, CapturedSpan]]:
    """OpenLLMetry's span and the SDK's of one streamed call, through the receiver."""
    for export in one_by_one("openllmetry", "stream_text"):
        reply = client.post("/v1/traces", content=export.SerializeToString(), headers=PROTOBUF)
        assert reply.status_code == 200, reply.text
    sdk, other = sdk_and_other("openllmetry", "stream_text")
    yield other, sdk


def test_the_conversation_of_either_span_is_the_same_call(
    client: TestClient, two_traces: tuple[CapturedSpan, CapturedSpan]
) -> None:
    """Depends on the OpenLLMetry convention claiming its spans."""
    bodies = []
    for captured in two_traces:
        reply = client.get(
            f"/api/v1/traces/{captured.trace_id}/spans/{captured.span_id}/conversation"
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert (body.pop("trace_id"), body.pop("span_id")) == (
            captured.trace_id,
            captured.span_id,
        )
        bodies.append(body)
    assert bodies[0] == bodies[1]
    assert bodies[0]["convention"] == "openllmetry"
    assert bodies[0]["input_messages"]
    sdk = two_traces[1]
    assert bodies[0]["streaming"]["time_to_first_token_ms"] == pytest.approx(
        sdk.attributes["gen_ai.response.time_to_first_chunk"] * 1000
    )


def test_each_spans_page_says_where_the_call_is_recorded(
    client: TestClient, engine: Engine, two_traces: tuple[CapturedSpan, CapturedSpan]
) -> None:
    other, sdk = two_traces
    sdk_convention = stored(engine, sdk)["llm_convention"]
    other_convention = stored(engine, other)["llm_convention"]

    page = BeautifulSoup(
        client.get(f"/traces/{sdk.trace_id}?span={sdk.span_id}").text, "html.parser"
    )
    note = page.select_one(".span-detail .call-links")
    assert note is not None
    text = " ".join(note.get_text().split())
    assert text.startswith(f"This span is folded into span {other.span_id} ({other_convention})")
    assert f"in trace {other.trace_id}" in text
    assert [a["href"] for a in note.select("a")] == [
        f"/traces/{other.trace_id}?span={other.span_id}"
    ]
    # The call's conversation is shown on the folded span's page too.
    assert page.select_one(".span-detail .call") is not None

    page = BeautifulSoup(
        client.get(f"/traces/{other.trace_id}?span={other.span_id}").text, "html.parser"
    )
    note = page.select_one(".span-detail .call-links")
    assert note is not None
    text = " ".join(note.get_text().split())
    assert text == (
        f"Also recorded by span {sdk.span_id} ({sdk_convention}) in trace {sdk.trace_id}."
    )
    assert [a["href"] for a in note.select("a")] == [f"/traces/{sdk.trace_id}?span={sdk.span_id}"]

    # The partial the page loads when a span is picked says the same.
    partial = client.get(f"/partials/traces/{sdk.trace_id}/spans/{sdk.span_id}")
    assert "folded into" in partial.text


def test_a_call_recorded_once_has_no_note(client: TestClient) -> None:
    alone = span("chat", attributes=chat("msg_alone"))
    reply = client.post(
        "/v1/traces",
        content=request(alone, scope="acme").SerializeToString(),
        headers=PROTOBUF,
    )
    assert reply.status_code == 200
    page = BeautifulSoup(
        client.get(f"/traces/{alone.trace_id.hex()}?span={alone.span_id.hex()}").text,
        "html.parser",
    )
    assert page.select_one(".span-detail .call") is not None
    assert page.select_one(".call-links") is None


@pytest.mark.sqlite_only  # SQLite's EXPLAIN QUERY PLAN
def test_the_spans_of_a_key_are_found_through_the_index(engine: Engine) -> None:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            queries.call_members(connection, ["response:msg_1", "stream:abc"], 0, BASE_NS)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    statement, parameters = seen[-1]
    with engine.connect() as connection:
        plan = " / ".join(
            row[-1]
            for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        )
    assert "USING INDEX ix_spans_call_key" in plan, plan
    assert "SCAN" not in plan, plan
