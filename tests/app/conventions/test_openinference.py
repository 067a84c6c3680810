"""OpenInference spans: what real instrumentors sent (the captures), read back as conversations
and as the summary stored at ingest; then the flattened keys one at a time, and hostile values.

The captures are of the anthropic instrumentor 3.1.0 (on a current SDK, with and without the
SDK's own child span, and on an older SDK), of its 0.1.20, and of the openai instrumentor
0.1.66. The fake servers report 25 input tokens, 10 cache writes and 100 cache reads.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ingest
from app.conventions import convention_for, summary_columns
from app.conventions.common import MAX_COUNT
from app.conventions.openinference import CONVENTION
from app.conventions.pairing import pair_tool_calls
from tests import captures
from tests.app.conventions.encodings import structured
from tests.app.conventions.test_hostile_input import HOSTILE_VALUES, check_conversation

OPENINFERENCE = [name for name in captures.NAMES if "openinference" in name]
ANTHROPIC = [
    "openinference",
    "openinference_sdkoff",
    "old_openinference",
    "old_openinference_0.1.20",
]
# The current instrumentor on the current SDK: everything recorded.
CURRENT = ["openinference", "openinference_sdkoff"]
OLD_SDK = "old_openinference"  # instrumentor 3.1.0 on anthropic 0.125: streams lose their output
V0120 = "old_openinference_0.1.20"

CACHED = {"input_tokens": 135, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 10}
WEATHER_ARGS = {"location": "Paris", "unit": "celsius"}
THOUGHT = "The user asks 2+2. That is 4."
SIGNATURE = "EqQBCkgFAKESIGNATURE=="
LLM = {"openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.system": "anthropic"}


def calls(name: str, scenario: str) -> list[captures.CapturedSpan]:
    return [
        span
        for span in captures.load(name).spans(scenario)
        if span.attributes.get("openinference.span.kind") == "LLM"
    ]


def read(span: captures.CapturedSpan) -> dict[str, Any]:
    return CONVENTION.conversation(span.attributes, events=span.stored_events)


def only(name: str, scenario: str) -> dict[str, Any]:
    (span,) = calls(name, scenario)
    return read(span)


def conversation(**attributes: Any) -> dict[str, Any]:
    return CONVENTION.conversation({**LLM, **attributes})


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [message["role"] for message in messages]


def kinds(message: dict[str, Any]) -> list[str]:
    return [part["type"] for part in message["parts"]]


def texts(message: dict[str, Any]) -> list[str]:
    return [part["content"] for part in message["parts"] if part["type"] == "text"]


def tool_calls(conversation: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part
        for key in ("input_messages", "output_messages")
        for message in conversation[key]
        for part in message["parts"]
        if part["type"] == "tool_call"
    ]


def plain(value: Any) -> Any:
    """As the API would write it: strict JSON, 64-bit integers, no NaN."""
    return json.loads(orjson.dumps(value))


# --- which spans -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", OPENINFERENCE)
def test_every_llm_span_is_claimed_and_no_other(name: str) -> None:
    capture = captures.load(name)
    for scenario in capture.scenarios:
        for span in capture.spans(scenario):
            is_llm = span.attributes.get("openinference.span.kind") == "LLM"
            assert CONVENTION.claims(span.attributes, span.scope_name) is is_llm
            if is_llm:
                assert convention_for(span.attributes, span.scope_name) is CONVENTION


@pytest.mark.parametrize(
    "kind", ["CHAIN", "TOOL", "AGENT", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL", "UNKNOWN"]
)
def test_other_span_kinds_are_context_not_calls(kind: str) -> None:
    attributes = {"openinference.span.kind": kind, "llm.model_name": "claude"}
    assert not CONVENTION.claims(attributes)
    assert summary_columns(attributes)["llm_convention"] != "openinference"


@pytest.mark.parametrize("value", [None, 1, ["LLM"], {"kind": "LLM"}, ""])
def test_a_kind_that_is_not_text_claims_nothing(value: Any) -> None:
    assert not CONVENTION.claims({"openinference.span.kind": value})
    assert not CONVENTION.claims(value)


def test_the_kind_is_read_whatever_its_case() -> None:
    assert CONVENTION.claims({"openinference.span.kind": "llm"})


# --- the captures: Anthropic ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ANTHROPIC)
def test_a_plain_call_with_a_system_prompt(name: str) -> None:
    result = only(name, "plain_system")
    assert result["provider"] == "anthropic"
    assert result["operation"] == "chat"
    assert result["request_model"] == "claude-fake-sonnet"
    assert result["response_model"] == "claude-fake-sonnet-20990101"
    # 0.1.x left the system prompt out of the messages: it is read from the request.
    assert result["system_instructions"] == [
        {"type": "text", "content": "You are a terse assistant."}
    ]
    assert result["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}
    ]
    assert result["output_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Echo: What is the capital of France?"}],
            "finish_reason": "end_turn",
        }
    ]
    assert result["usage"] == {**CACHED, "output_tokens": 9}
    assert result["finish_reasons"] == ["end_turn"]
    assert result["finish_reasons_normalized"] == ["stop"]
    assert result["streaming"] is None
    assert result["tools"] == []
    params = result["request_params"]
    assert params["max_tokens"] == 256
    assert params["stop_sequences"] == ["STOP"]
    assert params["metadata"] == {"user_id": "user-123"}
    assert (params["temperature"], params["top_p"], params["top_k"]) == (0.3, 0.9, 40)
    assert not {"model", "messages", "system"} & params.keys()
    assert plain(result) == result


@pytest.mark.parametrize("name", ANTHROPIC)
def test_a_conversation_of_several_turns(name: str) -> None:
    result = only(name, "multi_turn")
    (instruction,) = result["system_instructions"]
    assert instruction["content"] == "You are a geography tutor."
    assert roles(result["input_messages"]) == ["user", "assistant", "user"]
    assert [texts(m) for m in result["input_messages"]] == [
        ["Name a country in Europe."],
        ["France."],
        ["And its capital?"],
    ]
    assert [texts(m) for m in result["output_messages"]] == [["Echo: And its capital?"]]
    assert result["usage"] == {**CACHED, "output_tokens": 7}


@pytest.mark.parametrize("name", ANTHROPIC)
def test_a_tool_call_and_its_result(name: str) -> None:
    asking, answered = (read(span) for span in calls(name, "tool_use"))

    (output,) = asking["output_messages"]
    assert kinds(output) == ["text", "tool_call"]  # each call once, though 3.x sends it twice
    call = output["parts"][1]
    assert call["name"] == "get_weather"
    assert call["arguments"] == WEATHER_ARGS
    # 0.1.20 records no id on output: it comes from the raw response.
    assert call["id"].startswith("toolu_01FAKE")
    assert output["finish_reason"] == "tool_use"
    assert asking["finish_reasons"] == ["tool_use"]
    assert asking["finish_reasons_normalized"] == ["tool_call"]
    assert asking["usage"] == {**CACHED, "output_tokens": 23}
    assert asking["request_params"]["tool_choice"] == {"type": "auto"}
    assert asking["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        }
    ]

    user, assistant, result = answered["input_messages"]
    assert texts(user) == ["What's the weather in Paris?"]
    assert kinds(assistant) == ["text", "tool_call"]
    assert len(tool_calls(answered)) == 1
    assert assistant["parts"][1] == call
    # The result's role is "tool" in 3.x and "user" in 0.1.20; its part says what it is.
    assert result["role"] == ("user" if name == V0120 else "tool")
    assert result["parts"] == [
        {"type": "tool_call_response", "id": call["id"], "response": "18°C and sunny"}
    ]
    assert pair_tool_calls(answered) == {call["id"]: result["parts"][0]}
    assert texts(answered["output_messages"][0]) == ["The weather in Paris is 18°C and sunny."]
    assert answered["usage"] == {**CACHED, "output_tokens": 10}


@pytest.mark.parametrize("name", ANTHROPIC)
def test_thinking_keeps_its_text_and_signature(name: str) -> None:
    result = only(name, "thinking")
    (output,) = result["output_messages"]
    # 0.1.20 dropped thinking from its messages: it comes from the raw response.
    assert output["parts"] == [
        {"type": "reasoning", "content": THOUGHT, "signature": SIGNATURE},
        {"type": "text", "content": "2 + 2 = 4."},
    ]
    assert result["request_params"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert result["usage"] == {**CACHED, "output_tokens": 19}


@pytest.mark.parametrize("name", CURRENT)
@pytest.mark.parametrize(
    ("scenario", "output", "finish", "tokens"),
    [
        ("stream_text", [("text", "Echo: Say hello to the streaming world")], "end_turn", 9),
        ("stream_helper", [("text", "Echo: Say hello via the stream helper")], "end_turn", 9),
        ("stream_thinking", [("reasoning", THOUGHT), ("text", "2 + 2 = 4.")], "end_turn", 19),
        (
            "stream_tool_use",
            [("text", "Let me check the weather."), ("tool_call", None)],
            "tool_use",
            23,
        ),
    ],
)
def test_a_streamed_call(
    name: str, scenario: str, output: list[tuple[str, Any]], finish: str, tokens: int
) -> None:
    (span,) = calls(name, scenario)
    result = read(span)
    (message,) = result["output_messages"]
    assert [(p["type"], p.get("content")) for p in message["parts"]] == output
    assert result["finish_reasons"] == [finish]
    assert result["usage"] == {**CACHED, "output_tokens": tokens}
    assert result["response_model"] == "claude-fake-sonnet-20990101"
    # Anthropic streams carry no first-token mark in OpenInference: the block says only that
    # the call streamed.
    assert result["streaming"]["time_to_first_token_ms"] is None
    assert len(tool_calls(result)) == (1 if scenario == "stream_tool_use" else 0)
    if scenario == "stream_thinking":
        assert message["parts"][0]["signature"] == SIGNATURE
    if scenario == "stream_tool_use":
        assert message["parts"][1]["arguments"] == WEATHER_ARGS
        assert message["parts"][1]["id"].startswith("toolu_01FAKE")


@pytest.mark.parametrize("name", [*CURRENT, OLD_SDK])
def test_a_failed_call_has_its_input_and_no_output(name: str) -> None:
    result = only(name, "error_400")
    assert result["request_model"] == "claude-fake-error"
    assert result["response_model"] is None  # `llm.model_name` there is only the request's
    assert texts(result["input_messages"][0]) == ["trigger a 400"]
    assert result["output_messages"] == []
    assert result["usage"] == dict.fromkeys(result["usage"])
    assert result["finish_reasons"] == result["finish_reasons_normalized"] == []


@pytest.mark.parametrize("name", [*CURRENT, V0120])
def test_a_stream_broken_midway_keeps_its_partial_output(name: str) -> None:
    result = only(name, "stream_error")
    assert [texts(m) for m in result["output_messages"]] == [["Echo: error"]]
    assert result["finish_reasons"] == []  # the stream never said why it stopped
    assert result["streaming"] is not None


def test_the_current_instrumentor_reports_the_whole_input_on_every_path() -> None:
    for name in CURRENT:
        for scenario in captures.load(name).scenarios:
            for span in calls(name, scenario):
                usage = read(span)["usage"]
                if usage["input_tokens"] is not None:
                    assert {k: usage[k] for k in CACHED} == CACHED, (name, scenario)


# --- the captures: what the older versions lost ------------------------------------------------------


@pytest.mark.parametrize("scenario", ["stream_text", "stream_tool_use", "stream_thinking"])
def test_0120_streams_count_the_uncached_input_and_keep_no_raw_usage(scenario: str) -> None:
    """0.1.20 reported 25 on streams, and its `output.value` is an object's repr, not the
    message: there is nothing to recompute from, so the counts are shown as sent."""
    result = only(V0120, scenario)
    assert result["usage"]["input_tokens"] == 25
    assert result["usage"]["cache_read_input_tokens"] is None
    assert result["usage"]["cache_creation_input_tokens"] is None
    assert result["streaming"] is not None
    assert result["finish_reasons"] == []


def test_0120_streams_recompute_the_input_from_a_raw_usage() -> None:
    (span,) = calls(V0120, "stream_text")
    (complete,) = calls(V0120, "plain_system")
    attributes = {**span.attributes, "output.value": complete.attributes["output.value"]}
    assert CONVENTION.conversation(attributes)["usage"] == {**CACHED, "output_tokens": 9}
    assert CONVENTION.summarize(attributes).input_tokens == 135


def test_0120_streams_lose_thinking_and_tool_call_ids() -> None:
    thinking = only(V0120, "stream_thinking")
    assert kinds(thinking["output_messages"][0]) == ["text"]
    (call,) = tool_calls(only(V0120, "stream_tool_use"))
    assert call == {"type": "tool_call", "name": "get_weather", "arguments": WEATHER_ARGS}


def test_0120_streams_name_the_request_model_as_the_model() -> None:
    result = only(V0120, "stream_text")
    assert result["request_model"] == result["response_model"] == "claude-fake-sonnet"


@pytest.mark.parametrize("scenario", ["stream_text", "stream_tool_use", "stream_thinking"])
def test_the_instrumentor_on_an_old_sdk_records_no_stream_output(scenario: str) -> None:
    result = only(OLD_SDK, scenario)
    assert result["output_messages"] == []
    assert result["usage"] == dict.fromkeys(result["usage"])
    assert result["response_model"] is None
    assert result["streaming"] is not None
    assert result["input_messages"]


def test_a_stream_helper_that_says_nothing_of_streaming_is_not_known_to_stream() -> None:
    """On the old SDK, `messages.stream()` leaves `stream` out of the parameters; only the span
    name says it, and the summary sees attributes only."""
    result = only(OLD_SDK, "stream_helper")
    assert result["streaming"] is None
    assert texts(result["output_messages"][0]) == ["Echo: Say hello via the stream helper"]


# --- the captures: OpenAI ---------------------------------------------------------------------------

OPENAI = "openai_openinference"


def test_an_openai_call_keeps_its_system_message_among_the_messages() -> None:
    result = only(OPENAI, "plain_system")
    assert result["provider"] == "openai"
    assert result["request_model"] == "gpt-fake"
    assert result["response_model"] == "gpt-fake-2099-01-01"
    assert result["system_instructions"] == []
    assert roles(result["input_messages"]) == ["system", "user"]
    assert texts(result["input_messages"][0]) == ["You are a terse assistant."]
    assert texts(result["output_messages"][0]) == ["Echo: What is the capital of France?"]
    # OpenAI counts the cache inside the prompt, and has no cache writes.
    assert result["usage"] == {
        "input_tokens": 135,
        "output_tokens": 12,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": None,
    }
    assert result["finish_reasons"] == result["finish_reasons_normalized"] == ["stop"]
    assert result["request_params"] == {
        "max_tokens": 256,
        "seed": 7,
        "stop": ["STOP"],
        "temperature": 0.3,
        "top_p": 0.9,
    }


def test_an_openai_tool_round_trip() -> None:
    asking, answered = (read(span) for span in calls(OPENAI, "tool_use"))
    (call,) = tool_calls(asking)
    assert call == {
        "type": "tool_call",
        "id": "call_FAKE5efb32fd",
        "name": "get_weather",
        "arguments": {"location": "Paris"},
    }
    assert asking["finish_reasons"] == ["tool_calls"]
    assert asking["finish_reasons_normalized"] == ["tool_call"]
    assert asking["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        }
    ]
    assert roles(answered["input_messages"]) == ["system", "user", "assistant", "tool"]
    assert tool_calls(answered) == [call]
    result = answered["input_messages"][3]["parts"]
    assert result == [
        {"type": "tool_call_response", "id": "call_FAKE5efb32fd", "response": "18°C and sunny"}
    ]
    assert pair_tool_calls(answered) == {"call_FAKE5efb32fd": result[0]}


@pytest.mark.parametrize(("scenario", "ttft"), [("stream_text", 4.7), ("stream_tool_use", 3.0)])
def test_an_openai_stream_has_its_time_to_first_token(scenario: str, ttft: float) -> None:
    result = only(OPENAI, scenario)
    assert result["streaming"]["time_to_first_token_ms"] == pytest.approx(ttft)
    assert result["request_params"]["stream_options"] == {"include_usage": True}
    assert result["usage"]["input_tokens"] == 135


def test_an_openai_error() -> None:
    result = only(OPENAI, "error_400")
    assert result["request_model"] == "gpt-fake-error"
    assert result["response_model"] is None
    assert result["output_messages"] == []


def test_a_first_token_event_at_an_absolute_time_is_kept_as_it_came() -> None:
    """The span's start is not given with its events, so no TTFT can be computed from a clock
    time; the time is kept for a reader that knows the start."""
    event = {"name": "First Token Stream Event", "time": "2026-12-01T10:00:00.004700Z"}
    result = CONVENTION.conversation({**LLM}, events=[event])
    assert result["streaming"]["time_to_first_token_ms"] is None
    assert result["streaming"]["first_token_time"] == "2026-12-01T10:00:00.004700Z"


# --- the ingest path --------------------------------------------------------------------------------

INGEST_CASES = [
    (name, scenario)
    for name in OPENINFERENCE
    for scenario in captures.load(name).scenarios
    if calls(name, scenario)
]


@pytest.mark.parametrize(("name", "scenario"), INGEST_CASES)
def test_the_summary_stored_at_ingest(name: str, scenario: str) -> None:
    capture = captures.load(name)
    body = capture.otlp(scenario).SerializeToString()
    batch = ingest.decode("traces", body, "protobuf", None, 16 * 1024 * 1024)
    records = {record["span_id"]: record for record in batch.records}
    for span in calls(name, scenario):
        record = records[bytes.fromhex(span.span_id)]
        assert record["llm_convention"] == "openinference"
        assert record["llm_is_call"] is True
        result = read(span)
        assert record["llm_provider"] == result["provider"]
        assert record["llm_request_model"] == result["request_model"]
        assert record["llm_response_model"] == result["response_model"]
        usage = result["usage"]
        assert record["llm_input_tokens"] == usage["input_tokens"]
        assert record["llm_output_tokens"] == usage["output_tokens"]
        assert record["llm_cache_read_tokens"] == usage["cache_read_input_tokens"]
        assert record["llm_cache_creation_tokens"] == usage["cache_creation_input_tokens"]
        assert record["llm_finish_reasons"] == result["finish_reasons"]
        assert record["llm_streaming"] is (result["streaming"] is not None)
        assert record["llm_ttft_ms"] is None
        if name in CURRENT and usage["input_tokens"] is not None:
            assert record["llm_input_tokens"] == 135


def test_ingest_of_a_current_call() -> None:
    capture = captures.load("openinference")
    batch = ingest.decode(
        "traces", capture.otlp("stream_tool_use").SerializeToString(), "protobuf", None, 1 << 24
    )
    (record,) = [r for r in batch.records if r["llm_convention"] == "openinference"]
    assert record["llm_provider"] == "anthropic"
    assert record["llm_request_model"] == "claude-fake-sonnet"
    assert record["llm_response_model"] == "claude-fake-sonnet-20990101"
    assert (record["llm_input_tokens"], record["llm_output_tokens"]) == (135, 23)
    assert (record["llm_cache_read_tokens"], record["llm_cache_creation_tokens"]) == (100, 10)
    assert record["llm_finish_reasons"] == ["tool_use"]
    assert record["llm_streaming"] is True
    # The SDK's own child span is not an OpenInference call.
    others = [r for r in batch.records if r is not record]
    assert others and all(r["llm_convention"] != "openinference" for r in others)


# --- the flattened keys, one at a time ------------------------------------------------------------


def test_indexes_are_read_as_numbers() -> None:
    attributes = {}
    for n in range(12):
        attributes[f"llm.input_messages.{n}.message.role"] = "user"
        attributes[f"llm.input_messages.{n}.message.content"] = f"m{n}"
    result = conversation(**dict(reversed(list(attributes.items()))))
    assert [texts(m)[0] for m in result["input_messages"]] == [f"m{n}" for n in range(12)]


def test_contents_of_every_kind() -> None:
    c = "llm.input_messages.0.message.contents"
    result = conversation(
        **{
            "llm.input_messages.0.message.role": "user",
            f"{c}.0.message_content.type": "text",
            f"{c}.0.message_content.text": "Look:",
            f"{c}.1.message_content.type": "image",
            f"{c}.1.message_content.image.image.url": "data:image/png;base64,iVBORw0KGgo=",
            f"{c}.2.message_content.type": "image",
            f"{c}.2.message_content.image.image.url": "https://example.com/cat.png",
            f"{c}.3.message_content.type": "audio",
            f"{c}.3.message_content.audio.audio.url": "https://example.com/a.wav",
            f"{c}.3.message_content.audio.audio.mime_type": "audio/wav",
            f"{c}.3.message_content.audio.audio.transcript": "hello",
            f"{c}.4.message_content.type": "document",
            f"{c}.4.message_content.document.title": "Atlas",
            f"{c}.5.message_content.text": "untyped text",
        }
    )
    assert result["input_messages"][0]["parts"] == [
        {"type": "text", "content": "Look:"},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw0KGgo="},
        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
        {
            "type": "uri",
            "modality": "audio",
            "uri": "https://example.com/a.wav",
            "mime_type": "audio/wav",
            "audio.audio.transcript": "hello",
        },
        {"type": "document", "raw": {"type": "document", "document.title": "Atlas"}},
        {"type": "text", "content": "untyped text"},
    ]


def test_redacted_thinking_keeps_its_data() -> None:
    c = "llm.output_messages.0.message.contents"
    result = conversation(
        **{
            "llm.output_messages.0.message.role": "assistant",
            f"{c}.0.message_content.type": "reasoning",
            f"{c}.0.message_content.data": "ZW5jcnlwdGVk",
            f"{c}.1.message_content.type": "reasoning",
            f"{c}.1.message_content.text": "Hmm.",
            f"{c}.1.message_content.signature": "sig",
        }
    )
    assert result["output_messages"][0]["parts"] == [
        {"type": "reasoning", "redacted": True, "data": "ZW5jcnlwdGVk", "data_length": 12},
        {"type": "reasoning", "content": "Hmm.", "signature": "sig"},
    ]


def test_a_tool_call_sent_twice_is_counted_once_and_other_calls_are_kept() -> None:
    m = "llm.output_messages.0.message"
    result = conversation(
        **{
            f"{m}.role": "assistant",
            f"{m}.contents.0.message_content.type": "tool_use",
            f"{m}.contents.0.tool_call.function.name": "f",
            f"{m}.contents.0.tool_call.function.arguments": '{"a": 1}',
            # Without ids, twins are matched by name and arguments, each only once.
            f"{m}.tool_calls.0.tool_call.function.name": "f",
            f"{m}.tool_calls.0.tool_call.function.arguments": '{"a": 1}',
            f"{m}.tool_calls.1.tool_call.function.name": "f",
            f"{m}.tool_calls.1.tool_call.function.arguments": '{"a": 1}',
            f"{m}.tool_calls.2.tool_call.id": "t3",
            f"{m}.tool_calls.2.tool_call.function.name": "g",
            f"{m}.tool_calls.2.tool_call.function.arguments": "not json",
        }
    )
    assert result["output_messages"][0]["parts"] == [
        {"type": "tool_call", "name": "f", "arguments": {"a": 1}},
        {"type": "tool_call", "name": "f", "arguments": {"a": 1}},
        {"type": "tool_call", "id": "t3", "name": "g", "arguments": "not json"},
    ]


def test_a_tool_result_given_as_contents() -> None:
    m = "llm.input_messages.0.message"
    result = conversation(
        **{
            f"{m}.role": "tool",
            f"{m}.tool_call_id": "t1",
            f"{m}.name": "lookup",
            f"{m}.contents.0.message_content.type": "text",
            f"{m}.contents.0.message_content.text": "found",
        }
    )
    assert result["input_messages"] == [
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "t1",
                    "name": "lookup",
                    "response": [{"type": "text", "content": "found"}],
                }
            ],
        }
    ]


def test_an_older_function_call() -> None:
    m = "llm.output_messages.0.message"
    result = conversation(
        **{
            f"{m}.role": "assistant",
            f"{m}.function_call_name": "f",
            f"{m}.function_call_arguments_json": '{"x": 1}',
        }
    )
    assert result["output_messages"][0]["parts"] == [
        {"type": "tool_call", "name": "f", "arguments": {"x": 1}}
    ]


def test_unknown_keys_are_kept() -> None:
    result = conversation(
        **{
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "llm.input_messages.0.message.future_field": 5,
            "llm.input_messages.0.annotation": "x",
            "llm.input_messages.first.message.role": "user",
        }
    )
    message, extra = result["input_messages"]
    assert message["attributes"] == {"future_field": 5, "annotation": "x"}
    assert extra == {
        "role": "unknown",
        "parts": [{"type": "unknown", "raw": {"first.message.role": "user"}}],
    }


def test_text_that_looks_like_json_stays_text() -> None:
    result = conversation(
        **{
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": '{"type": "text", "content": "x"}',
        }
    )
    assert texts(result["input_messages"][0]) == ['{"type": "text", "content": "x"}']


@pytest.mark.parametrize("encode", [json.dumps, structured], ids=["json", "structured"])
def test_messages_sent_as_one_value(encode: Any) -> None:
    value = [{"message": {"role": "user", "content": "hi"}}, {"role": "assistant", "content": "yo"}]
    result = conversation(**{"llm.input_messages": encode(value)})
    assert [(m["role"], texts(m)) for m in result["input_messages"]] == [
        ("user", ["hi"]),
        ("assistant", ["yo"]),
    ]


def test_a_completions_call() -> None:
    result = conversation(
        **{
            "llm.prompts.0.prompt.text": "Once upon",
            "llm.choices.0.completion.text": " a time",
        }
    )
    assert result["operation"] == "text_completion"
    assert result["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Once upon"}]}
    ]
    assert texts(result["output_messages"][0]) == [" a time"]


def test_tools_described_by_their_parts() -> None:
    result = conversation(
        **{
            "llm.tools.0.tool.name": "f",
            "llm.tools.0.tool.description": "does f",
            "llm.tools.0.tool.parameters": '{"type": "object"}',
            "llm.tools.1.tool.json_schema": "not json",
        }
    )
    assert result["tools"] == [
        {"name": "f", "description": "does f", "parameters": {"type": "object"}},
        "not json",
    ]


def test_the_request_fills_in_what_the_messages_left_out() -> None:
    """With `OPENINFERENCE_HIDE_INPUT_MESSAGES`/`_HIDE_OUTPUT_MESSAGES`, the raw request and
    response are still there."""
    request = {
        "model": "claude-x",
        "system": [{"type": "text", "text": "Be kind."}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": "ok"}],
                        "is_error": True,
                    }
                ],
            },
        ],
    }
    response = {
        "type": "message",
        "role": "assistant",
        "model": "claude-x-1",
        "content": [
            {"type": "redacted_thinking", "data": "abcd"},
            {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"q": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "s", "content": []},
            {"type": "container_upload", "file_id": "f1"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 5},
    }
    result = conversation(
        **{"input.value": json.dumps(request), "output.value": json.dumps(response)}
    )
    assert result["request_model"] == "claude-x"
    assert result["response_model"] == "claude-x-1"
    assert result["system_instructions"] == [{"type": "text", "content": "Be kind."}]
    assert result["tools"] == [{"name": "f", "parameters": {"type": "object"}}]
    pairs = pair_tool_calls(result)
    assert pairs["t"] == {
        "type": "tool_call_response",
        "id": "t",
        "response": [{"type": "text", "content": "ok"}],
        "is_error": True,
    }
    assert pairs["s"]["type"] == "server_tool_call_response"
    assert result["output_messages"][0]["parts"] == [
        {"type": "reasoning", "redacted": True, "data_length": 4, "data": "abcd"},
        {
            "type": "server_tool_call",
            "id": "s",
            "name": "web_search",
            "arguments": {"q": "x"},
            "anthropic_type": "server_tool_use",
        },
        {
            "type": "server_tool_call_response",
            "id": "s",
            "response": [],
            "anthropic_type": "web_search_tool_result",
        },
        {"type": "container_upload", "raw": {"type": "container_upload", "file_id": "f1"}},
    ]
    assert result["usage"] == {
        "input_tokens": 8,
        "output_tokens": 4,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": None,
    }
    assert result["finish_reasons"] == ["end_turn"]
    assert result["request_params"] == {}


def test_a_count_that_leaves_the_cache_out_is_made_whole() -> None:
    summary = CONVENTION.summarize(
        {
            **LLM,
            "llm.token_count.prompt": 25,
            "llm.token_count.prompt_details.cache_read": 100,
            "llm.token_count.prompt_details.cache_write": 10,
        }
    )
    assert summary.input_tokens == 135


@pytest.mark.parametrize(
    ("reason", "normalized"),
    [("max_tokens", "length"), ("refusal", "content_filter"), ("compaction", "other(compaction)")],
)
def test_finish_reasons_raw_and_normalized(reason: str, normalized: str) -> None:
    result = conversation(**{"llm.finish_reason": reason})
    assert (result["finish_reasons"], result["finish_reasons_normalized"]) == (
        [reason],
        [normalized],
    )


def test_parameters_that_are_not_json_are_kept() -> None:
    result = conversation(**{"llm.invocation_parameters": "max_tokens=5"})
    assert result["request_params"] == {"invocation_parameters": "max_tokens=5"}


def test_streaming_is_read_from_the_request_too() -> None:
    assert CONVENTION.summarize({**LLM, "input.value": '{"stream": true}'}).streaming
    assert not CONVENTION.summarize({**LLM, "input.value": '{"stream": false}'}).streaming
    assert not CONVENTION.summarize({**LLM, "input.value": "stream"}).streaming


# --- hostile input ------------------------------------------------------------------------------

KEYS = (
    "llm.provider",
    "llm.system",
    "llm.model_name",
    "llm.request.model_name",
    "llm.response.model_name",
    "llm.invocation_parameters",
    "llm.finish_reason",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.total",
    "llm.token_count.prompt_details.cache_read",
    "llm.token_count.prompt_details.cache_write",
    "input.value",
    "output.value",
    "llm.input_messages",
    "llm.output_messages",
    "llm.tools",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.contents",
    "llm.input_messages.0.message.contents.0.message_content",
    "llm.input_messages.0.message.contents.0.message_content.type",
    "llm.input_messages.0.message.contents.0.message_content.text",
    "llm.input_messages.0.message.contents.0.message_content.image.image.url",
    "llm.input_messages.0.message.tool_call_id",
    "llm.input_messages.0.message.tool_calls",
    "llm.input_messages.0.message.tool_calls.0.tool_call.id",
    "llm.input_messages.0.message.tool_calls.0.tool_call.function.name",
    "llm.input_messages.0.message.tool_calls.0.tool_call.function.arguments",
    "llm.output_messages.0.message.role",
    "llm.output_messages.0.message.contents.0.tool_call.function.arguments",
    "llm.output_messages.0.message.contents.0.message_content.type",
    "llm.output_messages.0.message.contents.0.message_content.data",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
    "llm.tools.0.tool.json_schema",
    "llm.prompts.0.prompt.text",
)


def check(attributes: Any, events: Any = ()) -> None:
    result = CONVENTION.conversation(attributes, events=events)
    check_conversation(result)
    assert isinstance(result["finish_reasons_normalized"], list)
    pair_tool_calls(result)
    if isinstance(attributes, dict):
        columns = summary_columns(attributes)
        json.dumps(columns, allow_nan=False)
        for key in ("llm_input_tokens", "llm_output_tokens", "llm_cache_read_tokens"):
            assert columns[key] is None or 0 <= columns[key] <= MAX_COUNT


@pytest.mark.parametrize("name", HOSTILE_VALUES)
def test_a_hostile_value_in_every_key(name: str) -> None:
    value = HOSTILE_VALUES[name]
    check({**LLM, **dict.fromkeys(KEYS, value)})
    for key in KEYS:
        check({**LLM, key: value})


@pytest.mark.parametrize(
    "attributes",
    [
        None,
        "LLM",
        [LLM],
        {},
        {1: "x", None: 2, ("a",): 3, **LLM},
        {**LLM, "llm.input_messages." + "0." * 5000 + "x": 1},
        {**LLM, "llm.input_messages." + "9" * 5000 + ".message.role": "user"},
        {**LLM, "llm.input_messages.": "x", "llm.input_messages..": "y"},
        {**LLM, "llm.input_messages.0.message": "x", "llm.input_messages.0.message.role": "user"},
        {
            **LLM,
            "output.value": '{"usage": {"input_tokens": 1000000000000, "cache_read_input_tokens": 1000000000000}}',
        },
        {
            **LLM,
            "output.value": '{"content": ['
            + '{"type": "tool_result", "content": [' * 300
            + "]}" * 300
            + "]}",
        },
        {
            **LLM,
            "llm.output_messages.0.message.contents.0.message_content.image.image.url": "data:"
            + ";" * 10_000,
        },
        {
            **LLM,
            "llm.token_count.prompt": 5,
            "llm.token_count.prompt_details.cache_read": MAX_COUNT,
        },
    ],
)
def test_hostile_attribute_dicts(attributes: Any) -> None:
    check(attributes)


@pytest.mark.parametrize(
    "events",
    [
        None,
        5,
        "First Token Stream Event",
        [None, 5, {"name": "First Token Stream Event"}],
        [{"name": "First Token Stream Event", "time": 5}],
        {"name": "x"},
    ],
)
def test_hostile_events(events: Any) -> None:
    check(LLM, events)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "role", "content", "text", "id", "x"]), children, max_size=3
        )
    ),
    max_leaves=12,
)
VALUES = (
    JSON
    | JSON.map(lambda v: json.dumps(v))
    | st.sampled_from(["LLM", "tool", "tool_use", "{", "["])
)
SEGMENTS = st.sampled_from(
    [
        "0",
        "1",
        "10",
        "message",
        "role",
        "content",
        "contents",
        "message_content",
        "type",
        "text",
        "tool_calls",
        "tool_call",
        "id",
        "function",
        "name",
        "arguments",
        "tool_call_id",
        "data",
        "signature",
        "image",
        "url",
        "tool",
        "json_schema",
        "x",
        "",
    ]
)
KEYS_DRAWN = st.one_of(
    st.sampled_from(KEYS),
    st.tuples(
        st.sampled_from(["llm.input_messages", "llm.output_messages", "llm.tools", "llm.choices"]),
        st.lists(SEGMENTS, max_size=7),
    ).map(lambda t: ".".join([t[0], *t[1]])),
)


@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.dictionaries(KEYS_DRAWN, VALUES, max_size=12))
def test_random_attribute_dicts(attributes: dict[str, Any]) -> None:
    check({**LLM, **attributes})
