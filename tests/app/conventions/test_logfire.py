"""Pydantic Logfire's spans: every scenario of the captured runs, in both of its formats and for
both providers, and the shapes Logfire can send that the runs did not.

The captures are what Logfire 5.4 really emitted against the fake servers (which always report
25 input tokens, 10 cache writes and 100 cache reads: a total input of 135).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import ingest, long_values
from app.conventions import convention_for, conversation_of, summary_columns
from app.conventions.logfire import CONVENTION, stream_request_key, stream_response_key
from app.conventions.pairing import pair_tool_calls
from tests import captures
from tests.app.conventions.encodings import encoded
from tests.app.conventions.test_hostile_input import HOSTILE_VALUES, check_conversation

FILES = ("logfire", "logfire_v1", "old_logfire", "openai_logfire", "openai_logfire_v1")
CASES = [(name, scenario) for name in FILES for scenario in captures.load(name).scenarios]
STREAMED = [(name, scenario) for name, scenario in CASES if scenario.startswith("stream_")]
# How many calls each scenario made; a stream is one call recorded by two spans.
CALLS = {"tool_use": 2}
LIMIT = 16 * 1024 * 1024


def spans(name: str, scenario: str) -> list[captures.CapturedSpan]:
    return captures.load(name).spans(scenario)


def calls(name: str, scenario: str) -> list[captures.CapturedSpan]:
    return [s for s in spans(name, scenario) if CONVENTION.summarize(s.attributes).is_call]


def read(span: captures.CapturedSpan, parts: list[Any] = ()) -> dict[str, Any]:
    return CONVENTION.conversation(
        span.attributes, [p.attributes for p in parts], events=span.stored_events
    )


def is_openai(name: str) -> bool:
    return name.startswith("openai_")


def texts(parts: list[dict[str, Any]]) -> list[str]:
    return [part["content"] for part in parts if part["type"] == "text"]


def system_texts(conversation: dict[str, Any]) -> list[str]:
    """The instructions, wherever the provider's shape puts them."""
    found = texts(conversation["system_instructions"])
    for message in conversation["input_messages"]:
        if message["role"] == "system":
            found += texts(message["parts"])
    return found


def output_texts(conversation: dict[str, Any]) -> list[str]:
    return [t for message in conversation["output_messages"] for t in texts(message["parts"])]


def output_parts(conversation: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        part
        for message in conversation["output_messages"]
        for part in message["parts"]
        if part["type"] == kind
    ]


def logfire_span(**attributes: Any) -> dict[str, Any]:
    """A format 2 Anthropic call span, as Logfire writes it."""
    return {
        "request_data": '{"model":"claude-x"}',
        "gen_ai.provider.name": "anthropic",
        "gen_ai.system": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-x",
        "gen_ai.response.model": "claude-x-1",
        "gen_ai.response.id": "msg_1",
        "logfire.span_type": "span",
        "logfire.msg_template": "Message with {request_data[model]!r}",
        **attributes,
    }


def log_span(**attributes: Any) -> dict[str, Any]:
    """A stream's log span, as Logfire writes it."""
    template = "streaming response from {request_data[model]!r} took {duration:.2f}s"
    return {
        **logfire_span(**attributes),
        "logfire.span_type": "log",
        "logfire.level_num": 9,
        "logfire.msg_template": template,
        "duration": 0.5,
    }


def v1_span(body: dict[str, Any], response: Any = None, **attributes: Any) -> dict[str, Any]:
    """A format 1 span: the request body as sent, and Logfire's digest of the response, as JSON
    text (or, for what JSON cannot write, as the decoded values of structured attributes)."""
    span = logfire_span(**attributes)
    span["request_data"] = as_json({"model": "claude-x", **body})
    if response is not None:
        span["response_data"] = as_json(response)
    return span


def as_json(value: Any) -> Any:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return value


# --- every span of every run -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_every_span_is_a_logfire_call_or_part(name: str, scenario: str) -> None:
    for span in spans(name, scenario):
        assert convention_for(span.attributes, span.scope_name) is CONVENTION
        check_conversation(read(span))
    assert len(calls(name, scenario)) == CALLS.get(scenario, 1)


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_the_usage_of_every_answered_call(name: str, scenario: str) -> None:
    """135 = 25 + 10 written + 100 read: Anthropic's input count leaves the cache out,
    OpenAI's includes it; both are the total input here."""
    for span in calls(name, scenario):
        usage = read(span)["usage"]
        if scenario == "error_400":
            assert set(usage.values()) == {None}
            continue
        assert usage["input_tokens"] == 135
        assert usage["cache_read_input_tokens"] == 100
        # OpenAI reports no cache writes.
        assert usage["cache_creation_input_tokens"] == (None if is_openai(name) else 10)
        assert isinstance(usage["output_tokens"], int)


@pytest.mark.parametrize("name", FILES)
def test_plain_call_with_instructions(name: str) -> None:
    [span] = spans(name, "plain_system")
    conversation = read(span)
    assert system_texts(conversation) == ["You are a terse assistant."]
    if is_openai(name):  # OpenAI's instructions are a message of the conversation
        assert [m["role"] for m in conversation["input_messages"]] == ["system", "user"]
        assert conversation["system_instructions"] == []
    else:
        assert [m["role"] for m in conversation["input_messages"]] == ["user"]
    assert texts(conversation["input_messages"][-1]["parts"]) == ["What is the capital of France?"]
    assert output_texts(conversation) == ["Echo: What is the capital of France?"]
    assert conversation["output_messages"][0]["role"] == "assistant"
    reason = "stop" if is_openai(name) else "end_turn"
    assert conversation["finish_reasons"] == [reason]
    assert conversation["finish_reasons_normalized"] == ["stop"]
    assert conversation["output_messages"][0]["finish_reason"] == reason
    # Logfire sends the stop sequences as JSON text.
    assert conversation["request_params"]["max_tokens"] == 256
    assert conversation["request_params"]["stop_sequences"] == ["STOP"]
    assert conversation["provider"] == ("openai" if is_openai(name) else "anthropic")
    assert conversation["operation"] == "chat"
    assert conversation["response_model"].endswith("2099-01-01" if is_openai(name) else "20990101")
    assert conversation["streaming"] is None
    assert conversation["error"] is None


@pytest.mark.parametrize("name", ["logfire", "logfire_v1", "old_logfire"])
def test_multi_turn(name: str) -> None:
    [span] = spans(name, "multi_turn")
    conversation = read(span)
    assert system_texts(conversation) == ["You are a geography tutor."]
    assert [(m["role"], texts(m["parts"])) for m in conversation["input_messages"]] == [
        ("user", ["Name a country in Europe."]),
        ("assistant", ["France."]),
        ("user", ["And its capital?"]),
    ]
    assert output_texts(conversation) == ["Echo: And its capital?"]


@pytest.mark.parametrize("name", FILES)
def test_tool_call_and_its_result(name: str) -> None:
    first, second = (read(span) for span in spans(name, "tool_use"))
    [call] = output_parts(first, "tool_call")
    assert call["name"] == "get_weather"
    # Format 1 wraps Anthropic's arguments as {"input": …}: unwrapped.
    assert call["arguments"]["location"] == "Paris"
    assert "input" not in call["arguments"]
    assert output_texts(first) == ["Let me check the weather."]
    assert first["finish_reasons"] == ["tool_calls" if is_openai(name) else "tool_use"]
    assert first["finish_reasons_normalized"] == ["tool_call"]
    [tool] = first["tools"]
    assert (tool["type"], tool["name"]) == ("function", "get_weather")
    assert tool["description"] == "Get the current weather for a city"
    assert tool["parameters"]["required"] == ["location"]

    # The next call sends the call back with its result.
    roles = [m["role"] for m in second["input_messages"]]
    if is_openai(name):
        assert roles == ["system", "user", "assistant", "tool"]
    else:
        assert roles == ["user", "assistant", "user"]
    answers = pair_tool_calls(second)
    assert set(answers) == {call["id"]}
    assert answers[call["id"]]["type"] == "tool_call_response"
    assert answers[call["id"]]["response"] == "18°C and sunny"
    assert output_texts(second) == ["The weather in Paris is 18°C and sunny."]
    assert second["finish_reasons_normalized"] == ["stop"]


@pytest.mark.parametrize("name", ["logfire", "old_logfire"])
@pytest.mark.parametrize("scenario", ["thinking", "stream_thinking"])
def test_thinking_is_reasoning(name: str, scenario: str) -> None:
    [span] = calls(name, scenario)
    conversation = read(span)
    parts = conversation["output_messages"][0]["parts"]
    assert parts[0] == {
        "type": "reasoning",
        "content": "The user asks 2+2. That is 4.",
        "signature": "EqQBCkgFAKESIGNATURE==",
    }
    assert texts(parts) == ["2 + 2 = 4."]


@pytest.mark.parametrize("scenario", ["thinking", "stream_thinking"])
def test_format_1_drops_thinking_but_keeps_the_request_for_it(scenario: str) -> None:
    [span] = calls("logfire_v1", scenario)
    conversation = read(span)
    assert output_texts(conversation) == ["2 + 2 = 4."]
    assert conversation["request_params"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize("name", FILES)
def test_a_refused_request(name: str) -> None:
    [span] = spans(name, "error_400")
    conversation = read(span)
    assert CONVENTION.summarize(span.attributes).is_call
    assert conversation["output_messages"] == []
    assert conversation["finish_reasons"] == []
    assert conversation["finish_reasons_normalized"] == ["error"]
    assert conversation["error"]["type"].endswith("BadRequestError")
    assert "400" in conversation["error"]["message"]
    # Logfire copies the request model into the response model of a span with no response.
    assert conversation["request_model"].endswith("-error")
    assert conversation["response_model"] is None
    assert summary_columns(span.attributes, span.scope_name)["llm_response_model"] is None


# --- streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scenario"), STREAMED)
def test_a_stream_is_one_call_recorded_by_its_log_span(name: str, scenario: str) -> None:
    request, log = spans(name, scenario)
    assert request.kind == "CLIENT" and log.attributes["logfire.span_type"] == "log"
    assert not CONVENTION.summarize(request.attributes).is_call
    assert CONVENTION.summarize(request.attributes).streaming
    summary = CONVENTION.summarize(log.attributes)
    assert summary.is_call and summary.streaming
    assert summary.time_to_first_token_ms is None  # Logfire does not record it

    conversation = read(log)
    stream = conversation["streaming"]
    assert stream["duration_ms"] == pytest.approx(log.attributes["duration"] * 1000)
    assert stream["time_to_first_token_ms"] is None
    assert stream["timeline"] == []
    thought = [part["content"] for part in output_parts(conversation, "reasoning")]
    assert stream["output_chars"] == sum(map(len, output_texts(conversation) + thought))
    assert stream["output_tokens_per_second"] == pytest.approx(
        conversation["usage"]["output_tokens"] / log.attributes["duration"]
    )
    assert conversation["usage"]["input_tokens"] == 135
    assert conversation["input_messages"][-1]["role"] == "user"
    assert output_texts(conversation)
    if scenario == "stream_error":
        assert (stream["complete"], stream["outcome"]) == (False, "error")
    else:
        assert (stream["complete"], stream["outcome"]) == (True, "complete")


@pytest.mark.parametrize(("name", "scenario"), STREAMED)
def test_the_request_span_of_a_stream_alone(name: str, scenario: str) -> None:
    """Its input, and a stream of which nothing is known yet."""
    request, log = spans(name, scenario)
    conversation = read(request)
    assert conversation["input_messages"] == read(log)["input_messages"]
    assert conversation["output_messages"] == []
    assert conversation["finish_reasons"] == conversation["finish_reasons_normalized"] == []
    assert set(conversation["usage"].values()) == {None}
    assert conversation["streaming"] == {
        "time_to_first_token_ms": None,
        "duration_ms": None,
        "chunk_count": None,
        "output_chars": None,
        "output_tokens_per_second": None,
        "complete": None,
        "outcome": None,
        "timeline": [],
    }
    # Logfire copied the request model into the response model: that is not a response.
    assert request.attributes["gen_ai.response.model"] == conversation["request_model"]
    assert conversation["response_model"] is None
    assert conversation["error"] is None


@pytest.mark.parametrize(("name", "scenario"), STREAMED)
def test_either_record_of_a_stream_with_the_other_reads_the_call(name: str, scenario: str) -> None:
    request, log = spans(name, scenario)
    whole = CONVENTION.conversation(log.attributes)
    assert CONVENTION.conversation(request.attributes, [log.attributes]) == whole
    assert CONVENTION.conversation(log.attributes, [request.attributes]) == whole


@pytest.mark.parametrize(("name", "scenario"), STREAMED)
def test_the_records_of_a_stream_share_a_key(name: str, scenario: str) -> None:
    request, log = spans(name, scenario)
    key = stream_request_key(request.attributes)
    assert key is not None and key == stream_response_key(log.attributes)
    assert stream_response_key(request.attributes) is None
    assert stream_request_key(log.attributes) is None


@pytest.mark.parametrize("name", FILES)
def test_stream_keys_differ_between_requests(name: str) -> None:
    capture = captures.load(name)
    keys = [stream_request_key(capture.spans(s)[0].attributes) for s in capture.scenarios]
    streamed = [key for key in keys if key is not None]
    assert len(streamed) == len([s for s in capture.scenarios if s.startswith("stream_")])
    assert len(set(streamed)) == len(streamed)


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_only_stream_records_have_keys(name: str, scenario: str) -> None:
    if scenario.startswith("stream_"):
        return
    for span in spans(name, scenario):
        assert stream_request_key(span.attributes) is None
        assert stream_response_key(span.attributes) is None


def test_the_key_is_the_same_for_json_text_and_structured_values() -> None:
    request, log = spans("logfire", "stream_tool_use")
    attributes = dict(request.attributes)
    for key in ("request_data", "gen_ai.input.messages", "gen_ai.tool.definitions"):
        attributes[key] = encoded(attributes[key], "structured")
    assert stream_request_key(attributes) == stream_response_key(log.attributes)


def test_the_two_records_of_a_stream_can_be_in_different_traces() -> None:
    """Without an app span around the call, Logfire starts a trace for each record: the key,
    not the trace, pairs them."""
    request, log = spans("logfire", "stream_text")
    assert request.trace_id != log.trace_id
    assert stream_request_key(request.attributes) == stream_response_key(log.attributes)


@pytest.mark.parametrize("name", ["logfire", "logfire_v1", "old_logfire"])
def test_a_stream_that_failed_midway(name: str) -> None:
    request, log = spans(name, "stream_error")
    conversation = read(log)
    [message] = conversation["output_messages"]
    assert texts(message["parts"]) == ["Echo: error"]  # what arrived before the error
    assert message["incomplete"] is True
    assert conversation["finish_reasons"] == []
    assert conversation["finish_reasons_normalized"] == ["error"]
    assert conversation["error"]["type"] == "anthropic.APIStatusError"
    assert "Overloaded" in conversation["error"]["message"]
    assert conversation["usage"]["output_tokens"] == 1
    # The request span ended fine, before the stream failed: it is the stream's part.
    assert stream_request_key(request.attributes) == stream_response_key(log.attributes)
    # Read through its request span, the log's `error.type` still says what failed.
    through = CONVENTION.conversation(request.attributes, [log.attributes])
    assert through["error"] == {"type": "APIStatusError", "message": None}


def test_format_1_counts_the_text_deltas() -> None:
    _, log = spans("logfire_v1", "stream_text")
    assert read(log)["streaming"]["chunk_count"] == 7


def test_format_1_streams_lose_tool_calls() -> None:
    """Logfire's format 1 keeps only the streamed text; the finish reason still says why."""
    _, log = spans("logfire_v1", "stream_tool_use")
    conversation = read(log)
    assert output_texts(conversation) == ["Let me check the weather."]
    assert output_parts(conversation, "tool_call") == []
    assert conversation["finish_reasons_normalized"] == ["tool_call"]


def test_format_1_stream_of_openai_keeps_tool_calls() -> None:
    _, log = spans("openai_logfire_v1", "stream_tool_use")
    [call] = output_parts(read(log), "tool_call")
    assert (call["name"], call["arguments"]) == ("get_weather", {"location": "Paris"})


# --- through the collector's ingest ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_ingest_stores_the_summary(name: str, scenario: str) -> None:
    capture = captures.load(name)
    body = capture.otlp(scenario).SerializeToString()
    records = ingest.decode("traces", body, "protobuf", None, LIMIT).records
    assert [r["llm_convention"] for r in records] == ["logfire"] * len(records)
    counted = [r for r in records if r["llm_is_call"]]
    assert len(counted) == CALLS.get(scenario, 1)
    provider = "openai" if is_openai(name) else "anthropic"
    for record in counted:
        assert record["llm_provider"] == provider
        assert record["llm_request_model"] == record["attributes"]["gen_ai.request.model"]
        assert record["llm_streaming"] is scenario.startswith("stream_")
        assert record["llm_ttft_ms"] is None
        if scenario == "error_400":
            assert record["llm_input_tokens"] is None
            assert record["llm_finish_reasons"] == []
            continue
        assert record["llm_input_tokens"] == 135
        assert record["llm_cache_read_tokens"] == 100
        assert record["llm_cache_creation_tokens"] == (None if is_openai(name) else 10)
        assert record["llm_response_model"] == record["attributes"]["gen_ai.response.model"]
        assert record["llm_finish_reasons"] == json.loads(
            record["attributes"].get("gen_ai.response.finish_reasons", "[]")
        )
    if scenario.startswith("stream_"):
        request, log = records
        assert (request["llm_is_call"], log["llm_is_call"]) == (False, True)
        assert request["llm_response_model"] is None
        key = stream_request_key(request["attributes"])
        assert key is not None and key == stream_response_key(log["attributes"])


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_the_decoded_attributes_read_as_the_captured_ones(name: str, scenario: str) -> None:
    capture = captures.load(name)
    body = capture.otlp(scenario).SerializeToString()
    records = ingest.decode("traces", body, "protobuf", None, LIMIT).records
    for record, span in zip(records, capture.spans(scenario), strict=True):
        attributes = long_values.restore(
            long_values.Split(record["attributes"], record["long_attributes"], record["chunks"])
        )
        assert CONVENTION.conversation(attributes) == CONVENTION.conversation(span.attributes)


def test_the_api_serves_the_conversation() -> None:
    from app.routes.api import Conversation

    for name, scenario in CASES:
        for span in spans(name, scenario):
            answer = read(span)
            ids = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "convention": "logfire"}
            model = Conversation.model_validate({**ids, **answer})
            assert model.input_messages == answer["input_messages"]


# --- which spans -----------------------------------------------------------------------------------


def test_only_logfire_scopes_are_claimed() -> None:
    span = logfire_span()
    assert CONVENTION.claims(span, "logfire.anthropic")
    assert CONVENTION.claims(span, "logfire.openai")
    assert not CONVENTION.claims(span, "opentelemetry.instrumentation.anthropic")
    assert not CONVENTION.claims(span, "")
    assert not CONVENTION.claims(span, None)  # type: ignore[arg-type]
    # Without a scope, the plain GenAI reader takes it.
    assert convention_for(span).name == "otel-genai"


def test_other_logfire_spans_are_not_claimed() -> None:
    assert not CONVENTION.claims({"logfire.msg_template": "my span"}, "logfire")
    assert not CONVENTION.claims({"logfire.span_type": "log", "x": 1}, "logfire.anthropic")
    assert not CONVENTION.claims({"gen_ai.system": "anthropic"}, "logfire.anthropic")


def test_a_stream_log_without_content_is_claimed() -> None:
    log = {
        "logfire.span_type": "log",
        "logfire.msg_template": "streaming response from {request_data[model]!r} took …",
    }
    assert CONVENTION.claims(log, "logfire.anthropic")


@pytest.mark.parametrize(
    ("attributes", "is_call"),
    [
        # Format 1 says whether the request streamed.
        ({"request_data": '{"model": "m", "messages": [], "stream": true}'}, False),
        ({"request_data": '{"model": "m", "messages": [], "stream": false}'}, True),
        # A whole body without `stream`, answered with no response recorded (a raw response).
        ({"request_data": '{"model": "m", "messages": []}'}, True),
        # A streamed request refused before its stream began gets no log: it is the call.
        (
            {
                "request_data": '{"model": "m", "messages": [], "stream": true}',
                "logfire.level_num": 17,
            },
            True,
        ),
        ({"logfire.exception.fingerprint": "abc"}, True),
        # Format 2 keeps only the model: a chat span without a response is a stream's request.
        ({}, False),
        ({"gen_ai.operation.name": "embeddings"}, True),
        ({"gen_ai.response.id": "msg_1"}, True),
        ({"logfire.span_type": "log", "duration": 1.0}, True),
    ],
)
def test_which_spans_are_a_streams_request(attributes: dict[str, Any], is_call: bool) -> None:
    span = {
        key: value
        for key, value in logfire_span(**attributes).items()
        if key not in ("gen_ai.response.id", "gen_ai.response.model") or key in attributes
    }
    assert CONVENTION.summarize(span).is_call is is_call
    assert (stream_request_key(span) is None) is is_call


# --- format 1: request bodies and responses ---------------------------------------------------------


def anthropic_input(*content: Any) -> list[dict[str, Any]]:
    """The parts of the one user message of a format 1 Anthropic request."""
    span = v1_span({"messages": [{"role": "user", "content": list(content)}]})
    [message] = CONVENTION.conversation(span)["input_messages"]
    return message["parts"]


def test_anthropic_blocks_map_as_our_client_maps_them() -> None:
    image = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    parts = anthropic_input(
        {"type": "text", "text": "Look", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": image},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_1"}, "title": "T"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "D"}},
        {
            "type": "document",
            "source": {"type": "content", "content": [{"type": "text", "text": "C"}]},
        },
        {"type": "thinking", "thinking": "Hmm", "signature": "sig"},
        {"type": "redacted_thinking", "data": "abcd"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
        {
            "type": "tool_result",
            "tool_use_id": "t2",
            "is_error": True,
            "content": [{"type": "text", "text": "boom"}],
        },
        {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"q": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "s1", "content": [{"url": "u"}]},
        {"type": "search_result", "source": "https://s", "title": "S", "content": ["x"]},
        {"type": "container_upload", "file_id": "f9"},
        "bare text",
    )
    assert parts == [
        {"type": "text", "content": "Look"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": image["data"]},
        {"type": "uri", "modality": "image", "uri": "https://x.test/a.png"},
        {"type": "file", "modality": "document", "file_id": "file_1", "title": "T"},
        {"type": "document", "content": "D", "mime_type": "text/plain"},
        {"type": "document", "content": [{"type": "text", "content": "C"}]},
        {"type": "reasoning", "content": "Hmm", "signature": "sig"},
        {"type": "reasoning", "redacted": True, "data": "abcd", "data_length": 4},
        {"type": "tool_call", "id": "t1", "name": "f", "arguments": {"a": 1}},
        {"type": "tool_call_response", "id": "t1", "response": "ok", "is_error": False},
        {
            "type": "tool_call_response",
            "id": "t2",
            "response": [{"type": "text", "content": "boom"}],
            "is_error": True,
        },
        {
            "type": "server_tool_call",
            "id": "s1",
            "name": "web_search",
            "arguments": {"q": "x"},
            "anthropic_type": "server_tool_use",
        },
        {
            "type": "server_tool_call_response",
            "id": "s1",
            "anthropic_type": "web_search_tool_result",
            "response": [{"url": "u"}],
        },
        {
            "type": "search_result",
            "source": "https://s",
            "title": "S",
            "content": [{"type": "text", "content": "x"}],
        },
        {"type": "container_upload", "raw": {"type": "container_upload", "file_id": "f9"}},
        {"type": "text", "content": "bare text"},
    ]


def test_text_that_looks_like_json_stays_text() -> None:
    span = v1_span({"messages": [{"role": "user", "content": '[{"type": "tool_use"}]'}]})
    [message] = CONVENTION.conversation(span)["input_messages"]
    assert message["parts"] == [{"type": "text", "content": '[{"type": "tool_use"}]'}]


def test_anthropic_system_blocks() -> None:
    system = [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}]
    conversation = CONVENTION.conversation(v1_span({"system": system, "messages": []}))
    assert conversation["system_instructions"] == [{"type": "text", "content": "Be kind."}]


def test_openai_messages() -> None:
    messages = [
        {"role": "developer", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
                {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "refusal": "I can't.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "function_call": {"name": "g", "arguments": "{}"}},
        {"role": "function", "name": "g", "content": "done"},
    ]
    span = v1_span({"messages": messages}, **{"gen_ai.provider.name": "openai"})
    conversation = CONVENTION.conversation(span)
    assert conversation["input_messages"] == [
        {"role": "developer", "parts": [{"type": "text", "content": "Rules."}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "AAAA"},
                {
                    "type": "uri",
                    "modality": "image",
                    "uri": "https://x.test/a.png",
                    "detail": "low",
                },
                {"type": "blob", "modality": "audio", "content": "UklG", "format": "wav"},
                {"type": "file", "modality": "document", "file_id": "file-1", "filename": "a.pdf"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"x": 1}},
                {"type": "refusal", "raw": "I can't."},
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "g", "arguments": {}}],
        },
        {
            "role": "function",
            "name": "g",
            "parts": [{"type": "tool_call_response", "id": None, "response": "done"}],
        },
    ]
    assert pair_tool_calls(conversation)["c1"]["response"] == "42"


def test_anthropic_tool_arguments_are_unwrapped_but_openai_ones_are_not() -> None:
    call = {"id": "t", "function": {"name": "f", "arguments": '{"input": {"a": 1}}'}}
    response = {"message": {"role": "assistant", "tool_calls": [call]}}
    anthropic = CONVENTION.conversation(v1_span({"messages": []}, response))
    openai = CONVENTION.conversation(
        v1_span({"messages": []}, response, **{"gen_ai.provider.name": "openai"})
    )
    assert output_parts(anthropic, "tool_call")[0]["arguments"] == {"a": 1}
    assert output_parts(openai, "tool_call")[0]["arguments"] == {"input": {"a": 1}}


def test_openai_response_fields_without_a_part_are_kept() -> None:
    message = {
        "role": "assistant",
        "content": "Hi",
        "refusal": None,
        "audio": {"id": "a1", "transcript": "Hi"},
        "annotations": [],
        "parsed": None,
    }
    span = v1_span({"messages": []}, {"message": message, "usage": {"prompt_tokens": 3}})
    [output] = CONVENTION.conversation(span)["output_messages"]
    assert output["parts"] == [
        {"type": "text", "content": "Hi"},
        {"type": "audio", "raw": {"id": "a1", "transcript": "Hi"}},
    ]


def test_legacy_completions() -> None:
    span = v1_span(
        {"prompt": "Once upon"},
        {"finish_reason": "length", "text": " a time", "usage": {"prompt_tokens": 2}},
        **{"gen_ai.provider.name": "openai", "gen_ai.operation.name": "text_completion"},
    )
    conversation = CONVENTION.conversation(span)
    assert texts(conversation["input_messages"][0]["parts"]) == ["Once upon"]
    assert output_texts(conversation) == [" a time"]
    assert conversation["finish_reasons"] == ["length"]
    assert conversation["finish_reasons_normalized"] == ["length"]
    assert conversation["usage"]["input_tokens"] == 2


def test_response_fields_nothing_maps_are_kept() -> None:
    images = [{"url": "https://x.test/i.png"}]
    span = v1_span(
        {"prompt": "a cat"},
        {"images": images},
        **{"gen_ai.provider.name": "openai", "gen_ai.operation.name": "generate_content"},
    )
    [output] = CONVENTION.conversation(span)["output_messages"]
    assert output["parts"] == [{"type": "images", "raw": images}]


def test_responses_api_events() -> None:
    """Format 1 of OpenAI's Responses API keeps its messages as a list of GenAI events."""
    events = [
        {"event.name": "gen_ai.system.message", "role": "system", "content": "Be brief."},
        {"event.name": "gen_ai.user.message", "role": "user", "content": "Weather?"},
        {
            "event.name": "gen_ai.assistant.message",
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
            ],
        },
        {"event.name": "gen_ai.tool.message", "role": "tool", "id": "c1", "content": "Sunny"},
        {"event.name": "gen_ai.unknown", "role": "user", "content": "x", "data": {"type": "z"}},
        {"event.name": "gen_ai.assistant.message", "role": "assistant", "content": "It's sunny."},
    ]
    span = logfire_span(
        request_data='{"model": "gpt-x", "stream": false}',
        events=json.dumps(events),
        **{"gen_ai.provider.name": "openai", "gen_ai.usage.raw": '{"input_tokens": 9}'},
    )
    conversation = CONVENTION.conversation(span)
    roles = [m["role"] for m in conversation["input_messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert output_texts(conversation) == ["It's sunny."]
    assert pair_tool_calls(conversation)["c1"]["response"] == "Sunny"
    assert conversation["input_messages"][4]["parts"][0]["type"] == "unknown"
    assert conversation["usage"]["input_tokens"] == 9


def test_request_body_fields_are_parameters() -> None:
    body = {"messages": [], "max_tokens": 5, "metadata": {"user_id": "u"}, "x": "y" * 5000}
    params = CONVENTION.conversation(v1_span(body))["request_params"]
    assert params["max_tokens"] == 5
    assert params["metadata"] == {"user_id": "u"}
    assert params["x"].endswith("…") and len(params["x"]) < 5000
    assert "messages" not in params and "model" not in params


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        (
            {"name": "f", "description": "d", "input_schema": {"type": "object"}},
            {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}},
        ),
        (
            {"type": "function", "function": {"name": "f", "parameters": {}, "strict": True}},
            {
                "type": "function",
                "name": "f",
                "description": None,
                "parameters": {},
                "strict": True,
            },
        ),
        (
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {
                "type": "web_search_20250305",
                "name": "web_search",
                "raw": {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            },
        ),
        ("not a tool", "not a tool"),
    ],
)
def test_tool_definitions_of_either_provider(tool: Any, expected: Any) -> None:
    span = logfire_span(**{"gen_ai.tool.definitions": json.dumps([tool])})
    assert CONVENTION.conversation(span)["tools"] == [expected]


# --- format 2: Anthropic's blocks passed through -------------------------------------------------------


def output_of(*parts: Any) -> list[dict[str, Any]]:
    message = {"role": "assistant", "parts": list(parts), "finish_reason": "end_turn"}
    span = logfire_span(**{"gen_ai.output.messages": json.dumps([message])})
    return CONVENTION.conversation(span)["output_messages"][0]["parts"]


def test_raw_anthropic_blocks_in_format_2(encoding: str) -> None:
    parts = [
        {"type": "redacted_thinking", "data": "abcdef"},
        {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"q": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
        {"type": "mystery", "value": 1},
        {"type": "blob", "modality": "image", "content": "AAAA", "media_type": "image/png"},
        {
            "type": "tool_call_response",
            "id": "t",
            "response": [{"thinking": "x", "type": "thinking"}],
        },
    ]
    message = {"role": "assistant", "parts": parts}
    span = logfire_span(**{"gen_ai.output.messages": encoded([message], encoding)})
    # A part of a kind no convention maps is kept under `raw` once the convention is done.
    conversation = conversation_of("logfire", span)
    assert conversation is not None
    assert conversation["output_messages"][0]["parts"] == [
        {"type": "reasoning", "redacted": True, "data": "abcdef", "data_length": 6},
        {
            "type": "server_tool_call",
            "id": "s1",
            "name": "web_search",
            "arguments": {"q": "x"},
            "anthropic_type": "server_tool_use",
        },
        {
            "type": "server_tool_call_response",
            "id": "s1",
            "anthropic_type": "web_search_tool_result",
            "response": [],
        },
        {"type": "mystery", "raw": {"type": "mystery", "value": 1}},
        {"type": "blob", "modality": "image", "content": "AAAA", "mime_type": "image/png"},
        {
            "type": "tool_call_response",
            "id": "t",
            "response": [{"type": "reasoning", "content": "x"}],
        },
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "TextBlock(citations=None, text='Let me check.', type='text')",
            {"type": "text", "content": "Let me check."},
        ),
        (
            "ToolUseBlock(id='toolu_1', caller=None, input={'city': 'Paris'}, name='w', type='tool_use')",
            {"type": "tool_call", "id": "toolu_1", "name": "w", "arguments": {"city": "Paris"}},
        ),
        (
            "ThinkingBlock(signature='sig', thinking='Hmm.', type='thinking')",
            {"type": "reasoning", "content": "Hmm.", "signature": "sig"},
        ),
        (
            "TextBlock(citations=[CitationCharLocation(cited_text='x', document_index=0,"
            " end_char_index=1, type='char_location')], text='Hi', type='text')",
            {
                "type": "text",
                "content": "Hi",
                "citations": [
                    {
                        "cited_text": "x",
                        "document_index": 0,
                        "end_char_index": 1,
                        "type": "char_location",
                    }
                ],
            },
        ),
        (
            "ToolUseBlock(id='t', caller=DirectCaller(type='direct'), input={}, name='f',"
            " type='tool_use')",
            {
                "type": "tool_call",
                "id": "t",
                "name": "f",
                "arguments": {},
                "caller": {"type": "direct"},
            },
        ),
        # Not a block, not a repr, or not data: kept as the text it is.
        ("TextBlock(text='Hi')", None),
        ("TextBlock(__import__('os').system('true'))", None),
        ("TextBlock(text=open('x').read(), type='text')", None),
        ("TextBlock(**{'text': 'x', 'type': 'text'})", None),
        ("I wrote TextBlock(text='Hi', type='text') here", None),
        ("TextBlock(" + "(" * 500 + ")", None),
    ],
)
def test_sdk_objects_recorded_as_reprs_are_read_back(text: str, expected: Any) -> None:
    """Logfire records an SDK block passed back as content by its Python repr."""
    message = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    span = logfire_span(**{"gen_ai.input.messages": json.dumps([message])})
    [part] = CONVENTION.conversation(span)["input_messages"][0]["parts"]
    assert part == (expected or {"type": "text", "content": text})


# --- usage and finish reasons ----------------------------------------------------------------------


def test_the_total_input_is_recounted_from_the_raw_usage() -> None:
    """Logfire before 4.31 left the cache out of Anthropic's input count."""
    raw = {"input_tokens": 25, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 10}
    span = logfire_span(**{"gen_ai.usage.input_tokens": 25, "gen_ai.usage.raw": json.dumps(raw)})
    assert CONVENTION.summarize(span).input_tokens == 135
    assert summary_columns(span, "logfire.anthropic")["llm_input_tokens"] == 135


def test_the_total_input_from_format_1_usage() -> None:
    usage = {"input_tokens": 25, "output_tokens": 4, "cache_read_input_tokens": 100}
    span = v1_span({"messages": []}, {"message": {"content": "x"}, "usage": usage})
    assert CONVENTION.conversation(span)["usage"] == {
        "input_tokens": 125,
        "output_tokens": 4,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": None,
    }


def test_openai_input_already_includes_the_cache() -> None:
    raw = {"prompt_tokens": 135, "prompt_tokens_details": {"cached_tokens": 100}}
    span = logfire_span(**{"gen_ai.provider.name": "openai", "gen_ai.usage.raw": raw})
    usage = CONVENTION.conversation(span)["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (135, 100)


@pytest.mark.parametrize(
    "key",
    [
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
    ],
)
def test_every_name_of_the_cache_write_count(key: str) -> None:
    span = logfire_span(**{key: 10, "gen_ai.usage.cache_read_input_tokens": 100})
    usage = CONVENTION.conversation(span)["usage"]
    assert (usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (10, 100)


@pytest.mark.parametrize(
    ("reasons", "raw", "normalized"),
    [
        ('["end_turn"]', ["end_turn"], ["stop"]),
        (["max_tokens"], ["max_tokens"], ["length"]),
        ('["refusal", "pause_turn"]', ["refusal", "pause_turn"], ["content_filter", "stop"]),
        ('["compaction"]', ["compaction"], ["other(compaction)"]),
        ("not json", ["not json"], ["other(not json)"]),
    ],
)
def test_finish_reasons_raw_and_normalized(reasons: Any, raw: Any, normalized: Any) -> None:
    conversation = CONVENTION.conversation(
        logfire_span(**{"gen_ai.response.finish_reasons": reasons})
    )
    assert conversation["finish_reasons"] == raw
    assert conversation["finish_reasons_normalized"] == normalized


def test_finish_reasons_from_the_output_messages() -> None:
    message = {"role": "assistant", "parts": [], "finish_reason": "tool_use"}
    span = logfire_span(**{"gen_ai.output.messages": json.dumps([message])})
    assert CONVENTION.conversation(span)["finish_reasons"] == ["tool_use"]


# --- whatever the attributes hold -------------------------------------------------------------------

HOSTILE_KEYS = (
    "request_data",
    "response_data",
    "events",
    "duration",
    "gen_ai.usage.raw",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.response.finish_reasons",
    "gen_ai.request.stop_sequences",
    "gen_ai.usage.input_tokens",
    "logfire.level_num",
)
BASES = {"call": logfire_span(), "log": log_span(), "v1": v1_span({"messages": []})}


def check(attributes: Any, parts: Any = (), events: Any = ()) -> None:
    check_conversation(CONVENTION.conversation(attributes, parts, events=events))
    if isinstance(attributes, dict):
        json.dumps(summary_columns(attributes, "logfire.anthropic"), allow_nan=False)
        for key in (stream_request_key(attributes), stream_response_key(attributes)):
            assert key is None or isinstance(key, str)


@pytest.mark.parametrize("name", HOSTILE_VALUES)
@pytest.mark.parametrize("base", BASES)
def test_a_hostile_value_in_every_key(name: str, base: str) -> None:
    value = HOSTILE_VALUES[name]
    check({**BASES[base], **dict.fromkeys(HOSTILE_KEYS, value)})
    for key in HOSTILE_KEYS:
        check({**BASES[base], key: value})


@pytest.mark.parametrize("name", HOSTILE_VALUES)
def test_a_hostile_value_inside_the_request_and_response(name: str) -> None:
    value = HOSTILE_VALUES[name]
    bodies = [
        {"messages": value},
        {"messages": [value]},
        {"messages": [{"role": value, "content": value, "tool_calls": value}]},
        {"messages": [{"role": "user", "content": [value, {"type": "image", "source": value}]}]},
        {"messages": [{"role": "tool", "content": value, "tool_call_id": value}]},
        {"system": value, "tools": value, "prompt": value, "input": value, "stream": value},
    ]
    responses = [
        value,
        {"message": value, "usage": value},
        {"message": {"content": value, "tool_calls": [value, {"function": value}]}},
        {"combined_chunk_content": value, "chunk_count": value, "finish_reason": value},
    ]
    for body in bodies:
        for response in responses:
            check(v1_span(body, response))
    check(v1_span({}, {"usage": value}, **{"gen_ai.usage.raw": {"prompt_tokens": value}}))
    check(v1_span({}, {"usage": {"input_tokens": value, "cache_read_input_tokens": value}}))


def test_hostile_blocks() -> None:
    blocks = [
        {"type": "tool_result", "content": [{"type": "tool_result", "content": None}] * 3},
        {"type": "thinking", "thinking": 5, "signature": object()},
        {"type": "redacted_thinking", "data": None},
        {"type": "image", "source": {"type": "base64", "data": 5}},
        {"type": "image_url", "image_url": {"url": 5}},
        {"type": "file", "file": {"file_data": "data:;base64,"}},
        {"type": ""},
        {"type": 3},
    ]
    deep: Any = {"type": "text", "text": "bottom"}
    for _ in range(2000):
        deep = {"type": "tool_result", "tool_use_id": "t", "content": [deep]}
    for block in [*blocks, deep]:
        check(v1_span({"messages": [{"role": "user", "content": [block]}]}))
        message = {"role": "user", "parts": [block]}
        check(logfire_span(**{"gen_ai.input.messages": [message]}))


@pytest.mark.parametrize(
    ("parts", "events"),
    [
        (None, None),
        (5, 5),
        ("text", "text"),
        ([None, 5, "x"], [None, 5, {"name": "exception", "attributes": 5}]),
        ([log_span(duration=float("nan"))], [{"name": "exception", "attributes": {}}]),
        ([log_span(**{"gen_ai.output.messages": "{"})], ()),
        ([logfire_span(), logfire_span()], ()),
    ],
)
def test_hostile_parts_and_events(parts: Any, events: Any) -> None:
    for base in BASES.values():
        check(base, parts, events)
    request = {key: v for key, v in logfire_span().items() if key != "gen_ai.response.id"}
    check(request, parts, events)


@pytest.mark.parametrize("attributes", [None, 5, "text", [logfire_span()]])
def test_attributes_that_are_not_a_dict(attributes: Any) -> None:
    check(attributes)
    assert not CONVENTION.claims(attributes, "logfire.anthropic")
    assert stream_request_key(attributes) is None
    assert stream_response_key(attributes) is None


def test_a_log_with_an_absurd_duration() -> None:
    for duration in (1e308, -1.0, float("inf"), "0.5", True):
        stream = CONVENTION.conversation(log_span(duration=duration))["streaming"]
        assert stream["duration_ms"] is None or stream["duration_ms"] >= 0
        assert stream["output_tokens_per_second"] is None


def test_both_formats_at_once_read_the_genai_messages() -> None:
    """`version=[1, 2]`: the GenAI messages keep what format 1 drops (thinking); the request
    body still gives the parameters the GenAI keys leave out."""
    [v1] = spans("logfire_v1", "thinking")
    [v2] = spans("logfire", "thinking")
    both = {**v2.attributes, **{k: v1.attributes[k] for k in ("request_data", "response_data")}}
    conversation = CONVENTION.conversation(both)
    assert [part["type"] for part in conversation["output_messages"][0]["parts"]] == [
        "reasoning",
        "text",
    ]
    assert texts(conversation["input_messages"][0]["parts"]) == ["What is 2+2?"]
    assert conversation["request_params"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert CONVENTION.summarize(both).is_call
