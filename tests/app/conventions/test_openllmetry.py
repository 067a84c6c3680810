"""OpenLLMetry: the spans its instrumentors really emitted (tests/fixtures/captures), read as
conversations and as the summary stored at ingest, then hand-made spans for what the captures
do not show, and hostile ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import ingest, queries, store
from app.conventions import convention_for, pair_tool_calls, summary_columns
from app.conventions.openllmetry import CONVENTION
from tests import captures
from tests.app.conventions.test_hostile_input import HOSTILE_VALUES, Hostile, check_conversation

CURRENT = "openllmetry"  # 0.62.4, Anthropic
LEGACY = "old_openllmetry_legacy"  # 0.53.3, Anthropic
OPENAI = "openai_openllmetry"  # 0.62.4, OpenAI
EVENTS = "openllmetry_events"  # 0.62.4, Anthropic, use_attributes=False
NAMES = (CURRENT, LEGACY, OPENAI, EVENTS)
SDK_SCOPE = "com.anthropic.sdk.python"
FULL_USAGE = {
    "input_tokens": 135,
    "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 10,
}


def ours(name: str, scenario: str) -> list[captures.CapturedSpan]:
    """The scenario's OpenLLMetry spans, without the Anthropic SDK's own."""
    return [s for s in captures.load(name).spans(scenario) if s.scope_name != SDK_SCOPE]


def call(name: str, scenario: str, index: int = 0) -> dict[str, Any]:
    """A call's conversation, read as `queries.StoredCall` would give it."""
    capture = captures.load(name)
    span = ours(name, scenario)[index]
    conversation = CONVENTION.conversation(
        span.attributes, events=span.stored_events, logs=capture.logs_of(span)
    )
    check_conversation(conversation)
    return conversation


def texts(message: dict[str, Any], kind: str = "text") -> list[str]:
    return [part["content"] for part in message["parts"] if part["type"] == kind]


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [message["role"] for message in messages]


SCENARIOS = [
    (name, scenario)
    for name in NAMES
    for scenario, spans in captures.load(name).scenarios.items()
    if any(span.scope_name != SDK_SCOPE for span in spans)
]


# --- which spans --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS)
def test_every_span_of_the_captures_is_claimed(name: str, scenario: str) -> None:
    for span in captures.load(name).spans(scenario):
        convention = convention_for(span.attributes, span.scope_name)
        if span.scope_name == SDK_SCOPE:
            assert convention is None or convention.name != "openllmetry"
        else:
            assert convention is CONVENTION


@pytest.mark.parametrize(
    "scope",
    [
        "opentelemetry.instrumentation.anthropic",
        "opentelemetry.instrumentation.openai",
        "opentelemetry.instrumentation.openai.v1",
    ],
)
def test_the_current_form_is_claimed_by_its_scope(scope: str) -> None:
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[]"}
    assert CONVENTION.claims(attributes, scope)
    assert not CONVENTION.claims(attributes, "")
    assert not CONVENTION.claims({"http.method": "GET"}, scope)


@pytest.mark.parametrize(
    "scope",
    ["opentelemetry.instrumentation.openai_v2", "opentelemetry.util.genai.handler", SDK_SCOPE],
)
def test_other_genai_emitters_are_not_claimed(scope: str) -> None:
    assert not CONVENTION.claims({"gen_ai.operation.name": "chat"}, scope)


@pytest.mark.parametrize(
    ("key", "claimed"),
    [
        ("gen_ai.prompt.0.role", True),
        ("gen_ai.completion.12.content", True),
        ("gen_ai.prompt.role", False),
        ("gen_ai.prompt.0", False),
        ("gen_ai.prompts.0.role", False),
        ("gen_ai.prompt.x.role", False),
    ],
)
def test_the_indexed_form_is_claimed_by_its_keys(key: str, claimed: bool) -> None:
    assert CONVENTION.claims({key: "x"}) is claimed


@pytest.mark.parametrize("attributes", [None, 5, "text", [], {1: 2}])
def test_what_is_not_a_span_is_not_claimed(attributes: Any) -> None:
    assert not CONVENTION.claims(attributes, "opentelemetry.instrumentation.anthropic")


# --- the captures: plain calls ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reasons"), [(CURRENT, ["stop"]), (LEGACY, ["end_turn"]), (OPENAI, ["stop"])]
)
def test_a_plain_call(name: str, reasons: list[str]) -> None:
    conversation = call(name, "plain_system")
    instruction = "You are a terse assistant."
    if name == OPENAI:  # OpenAI's system prompt is a message, as the current form keeps it
        assert conversation["system_instructions"] == []
        assert roles(conversation["input_messages"]) == ["system", "user"]
        assert texts(conversation["input_messages"][0]) == [instruction]
    else:
        assert conversation["system_instructions"] == [{"type": "text", "content": instruction}]
        assert roles(conversation["input_messages"]) == ["user"]
    assert texts(conversation["input_messages"][-1]) == ["What is the capital of France?"]
    [output] = conversation["output_messages"]
    assert output["role"] == "assistant"
    assert texts(output) == ["Echo: What is the capital of France?"]
    assert output["finish_reason"] == reasons[0]
    assert conversation["finish_reasons"] == reasons
    assert conversation["finish_reasons_normalized"] == ["stop"]
    assert conversation["provider"] == ("openai" if name == OPENAI else "anthropic")
    assert conversation["operation"] == "chat"
    assert conversation["streaming"] is None
    assert conversation["notes"] == []


def test_the_models_and_the_request_parameters() -> None:
    current, legacy = call(CURRENT, "plain_system"), call(LEGACY, "plain_system")
    for conversation in (current, legacy):
        assert conversation["request_model"] == "claude-fake-sonnet"
        assert conversation["response_model"] == "claude-fake-sonnet-20990101"
    assert current["request_params"] == {"max_tokens": 256}
    assert legacy["request_params"] == {"temperature": 0.3, "top_p": 0.9}
    openai = call(OPENAI, "plain_system")
    assert openai["request_params"] == {
        "max_tokens": 256,
        "temperature": 0.3,
        "top_p": 0.9,
        "stream": False,
    }


@pytest.mark.parametrize("name", [CURRENT, LEGACY, EVENTS])
def test_anthropic_usage_counts_the_whole_input(name: str) -> None:
    usage = call(name, "plain_system")["usage"]
    assert usage == {**FULL_USAGE, "output_tokens": 9}


def test_openai_usage() -> None:
    """OpenAI's prompt count includes the cached tokens already; it writes no cache."""
    assert call(OPENAI, "plain_system")["usage"] == {
        "input_tokens": 135,
        "output_tokens": 12,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": None,
        "reasoning_output_tokens": 4,
    }


@pytest.mark.parametrize("name", [CURRENT, LEGACY])
def test_a_conversation_of_several_turns(name: str) -> None:
    conversation = call(name, "multi_turn")
    assert conversation["system_instructions"] == [
        {"type": "text", "content": "You are a geography tutor."}
    ]
    inputs = conversation["input_messages"]
    assert roles(inputs) == ["user", "assistant", "user"]
    assert [texts(m) for m in inputs] == [
        ["Name a country in Europe."],
        ["France."],
        ["And its capital?"],
    ]
    assert texts(conversation["output_messages"][0]) == ["Echo: And its capital?"]


# --- the captures: tools ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason", "arguments"),
    [
        (CURRENT, "tool_call", {"location": "Paris", "unit": "celsius"}),
        (LEGACY, "tool_use", {"location": "Paris", "unit": "celsius"}),
        (OPENAI, "tool_call", {"location": "Paris"}),
    ],
)
def test_a_tool_call_then_its_result(name: str, reason: str, arguments: dict[str, Any]) -> None:
    asking = call(name, "tool_use", 0)
    [output] = asking["output_messages"]
    text, tool_call = output["parts"]
    assert text == {"type": "text", "content": "Let me check the weather."}
    assert tool_call["type"] == "tool_call"
    assert tool_call["name"] == "get_weather"
    assert tool_call["arguments"] == arguments
    assert tool_call["id"].startswith(("toolu_", "call_"))
    assert asking["finish_reasons"] == [reason]
    assert asking["finish_reasons_normalized"] == ["tool_call"]
    assert pair_tool_calls(asking) == {}

    answered = call(name, "tool_use", 1)
    inputs = answered["input_messages"]
    calls = [p for m in inputs for p in m["parts"] if p["type"] == "tool_call"]
    assert len(calls) == 1  # 0.53 wrote it twice: in the content and as tool_calls
    [call_part] = calls
    assert call_part["name"] == "get_weather"
    assert call_part["arguments"] == arguments
    result = pair_tool_calls(answered)[call_part["id"]]
    assert result["response"] == "18°C and sunny"
    result_message = next(m for m in inputs if result in m["parts"])
    assert result_message["role"] == ("tool" if name == OPENAI else "user")
    assert texts(answered["output_messages"][0]) == ["The weather in Paris is 18°C and sunny."]


@pytest.mark.parametrize("name", [CURRENT, LEGACY, OPENAI])
def test_the_tool_definitions(name: str) -> None:
    [tool] = call(name, "tool_use")["tools"]
    assert tool["name"] == "get_weather"
    assert tool["description"] == "Get the current weather for a city"
    assert tool["parameters"]["type"] == "object"
    assert tool["parameters"]["required"] == ["location"]
    assert "input_schema" not in tool  # Anthropic's name for it, renamed as the contract has it


# --- the captures: thinking ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [CURRENT, LEGACY])
@pytest.mark.parametrize("scenario", ["thinking", "stream_thinking"])
def test_thinking_is_the_reasoning_of_the_answer(name: str, scenario: str) -> None:
    """0.53 wrote the thinking as a completion of its own; it is one answer."""
    conversation = call(name, scenario)
    [output] = conversation["output_messages"]
    assert output["role"] == "assistant"
    assert output["parts"] == [
        {"type": "reasoning", "content": "The user asks 2+2. That is 4."},
        {"type": "text", "content": "2 + 2 = 4."},
    ]
    assert conversation["finish_reasons_normalized"] == ["stop"]


# --- the captures: streams -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "output_tokens"),
    [("stream_text", 10), ("stream_tool_use", 24), ("stream_thinking", 20)],
)
def test_a_current_anthropic_stream_keeps_the_output_count_it_reported(
    scenario: str, output_tokens: int
) -> None:
    """0.62.4 counts one token too many on streams (the SDK's own span says 9, 23, 19). There
    is no raw usage to recount from, so the count stays as reported, with a note saying so."""
    conversation = call(CURRENT, scenario)
    assert conversation["usage"] == {**FULL_USAGE, "output_tokens": output_tokens}
    assert [note["kind"] for note in conversation["notes"]] == ["output_tokens_overcounted"]
    assert conversation["streaming"]["chunk_count"] is None  # no chunk events for Anthropic
    assert conversation["streaming"]["time_to_first_token_ms"] is None
    assert conversation["request_params"]["stream"] is True


@pytest.mark.parametrize("scenario", ["stream_text", "stream_tool_use", "stream_thinking"])
def test_a_legacy_stream_has_no_usage(scenario: str) -> None:
    conversation = call(LEGACY, scenario)
    assert conversation["streaming"] is not None
    assert set(conversation["usage"].values()) == {None}
    assert conversation["response_model"] is None  # 0.53 did not record it on streams
    assert conversation["notes"] == []
    assert conversation["output_messages"][0]["finish_reason"] == (
        "tool_use" if scenario == "stream_tool_use" else "end_turn"
    )


@pytest.mark.parametrize("name", [CURRENT, LEGACY])
def test_the_stream_helper_does_not_say_it_streamed(name: str) -> None:
    """`messages.stream()` sets no streaming flag in either version: the call reads as a
    plain one (a known gap), with its content whole."""
    conversation = call(name, "stream_helper")
    assert conversation["streaming"] is None
    assert texts(conversation["output_messages"][0]) == ["Echo: Say hello via the stream helper"]


@pytest.mark.parametrize(("scenario", "chunks"), [("stream_text", 10), ("stream_tool_use", 12)])
def test_an_openai_stream_counts_its_chunk_events(scenario: str, chunks: int) -> None:
    conversation = call(OPENAI, scenario)
    assert conversation["streaming"]["chunk_count"] == chunks
    assert conversation["request_params"]["stream"] is True
    assert conversation["notes"] == []  # the +1 is Anthropic's only


def test_chunk_times_as_the_store_gives_them() -> None:
    """Stored event times are absolute and the span's start is not given to a convention, so
    the first and last chunk times are kept and the time to the first token is not guessed."""
    events = [
        {"name": "gen_ai.content.completion.chunk", "time": f"2026-12-04T16:00:00.{ms:03d}000Z"}
        for ms in (8, 24, 44)
    ]
    events.append({"name": "exception", "time": "2026-12-04T16:00:01.000000Z"})
    attributes = {"gen_ai.provider.name": "openai", "gen_ai.is_streaming": True}
    streaming = CONVENTION.conversation(attributes, events=events)["streaming"]
    assert streaming["chunk_count"] == 3
    assert streaming["first_chunk_time"] == "2026-12-04T16:00:00.008000Z"
    assert streaming["last_chunk_time"] == "2026-12-04T16:00:00.044000Z"
    assert streaming["time_to_first_token_ms"] is None


def test_chunk_events_alone_show_a_stream() -> None:
    events = [{"name": "gen_ai.content.completion.chunk", "time": "not a time"}]
    streaming = CONVENTION.conversation({"gen_ai.operation.name": "chat"}, events=events)[
        "streaming"
    ]
    assert streaming["chunk_count"] == 1
    assert "first_chunk_time" not in streaming


# --- the captures: errors -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CURRENT, OPENAI])
def test_a_failed_call_keeps_its_input(name: str) -> None:
    conversation = call(name, "error_400")
    assert roles(conversation["input_messages"]) == ["user"]
    assert conversation["output_messages"] == []
    assert conversation["finish_reasons"] == conversation["finish_reasons_normalized"] == []
    assert conversation["notes"] == []


# --- the captures: events mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [s for n, s in SCENARIOS if n == EVENTS],
)
def test_events_mode_gives_the_metadata_and_says_where_the_content_went(scenario: str) -> None:
    for index in range(len(ours(EVENTS, scenario))):
        conversation = call(EVENTS, scenario, index)
        assert conversation["provider"] == "anthropic"
        assert conversation["operation"] == "chat"
        assert conversation["request_model"] is None
        assert conversation["input_messages"] == conversation["output_messages"] == []
        assert [note["kind"] for note in conversation["notes"]] == ["content_elsewhere"]
        if scenario != "error_400":
            assert conversation["usage"]["input_tokens"] == 135


def test_a_span_whose_content_capture_is_off_is_not_taken_for_events_mode() -> None:
    """With TRACELOOP_TRACE_CONTENT=false the span keeps its request model."""
    attributes = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-fake-sonnet",
    }
    assert CONVENTION.conversation(attributes)["notes"] == []


def joined(start: int, stop: int) -> list[dict[str, Any]]:
    """The events-mode log records of one call, as if they carried its span's ids."""
    logs = captures.load(EVENTS).logs[start:stop]
    return [
        {"event_name": log["event_name"], "body": log["body"], "attributes": log["attributes"]}
        for log in logs
    ]


def test_events_that_reach_their_span_are_read() -> None:
    span = ours(EVENTS, "multi_turn")[0]
    conversation = CONVENTION.conversation(span.attributes, logs=joined(3, 8))
    check_conversation(conversation)
    assert conversation["notes"] == []
    assert conversation["system_instructions"] == [
        {
            "type": "text",
            "content": "You are a geography tutor.",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert roles(conversation["input_messages"]) == ["user", "assistant", "user"]
    assert texts(conversation["input_messages"][2]) == ["And its capital?"]
    [output] = conversation["output_messages"]
    assert texts(output) == ["Echo: And its capital?"]
    assert conversation["finish_reasons"] == ["stop"]


def test_events_of_a_tool_round_trip() -> None:
    asking = CONVENTION.conversation(ours(EVENTS, "tool_use")[0].attributes, logs=joined(8, 12))
    # The tool definitions travel as a user message; each content block is a choice of its own.
    assert roles(asking["input_messages"]) == ["user"]
    assert [tool["name"] for tool in asking["tools"]] == ["get_weather"]
    [output] = asking["output_messages"]
    assert [part["type"] for part in output["parts"]] == ["text", "tool_call"]
    assert output["parts"][1]["arguments"] == {"location": "Paris", "unit": "celsius"}
    assert asking["finish_reasons"] == ["tool_call"]

    answered = CONVENTION.conversation(ours(EVENTS, "tool_use")[1].attributes, logs=joined(12, 17))
    check_conversation(answered)
    pairs = pair_tool_calls(answered)
    assert [result["response"] for result in pairs.values()] == ["18°C and sunny"]


def test_events_of_a_streamed_thinking_answer() -> None:
    span = ours(EVENTS, "stream_thinking")[0]
    [output] = CONVENTION.conversation(span.attributes, logs=joined(29, 32))["output_messages"]
    assert output["parts"] == [
        {"type": "reasoning", "content": "The user asks 2+2. That is 4."},
        {"type": "text", "content": "2 + 2 = 4."},
    ]


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS)
def test_the_api_and_the_page_take_every_call(name: str, scenario: str) -> None:
    from app import conversation_view
    from app.routes.api import Conversation

    for index in range(len(ours(name, scenario))):
        conversation = call(name, scenario, index)
        ids = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "convention": "openllmetry"}
        served = Conversation.model_validate({**ids, **conversation}).model_dump()
        assert served["input_messages"] == conversation["input_messages"]
        assert served["usage"] == conversation["usage"]
        conversation_view.build(conversation)


# --- the captures through ingest ---------------------------------------------------------------------


def records(name: str, scenario: str) -> list[dict[str, Any]]:
    body = captures.load(name).otlp(scenario).SerializeToString()
    batch = ingest.decode("traces", body, "protobuf", None, 16 * 1024 * 1024)
    return [r for r in batch.records if r["scope_name"] != SDK_SCOPE]


@pytest.mark.parametrize(("name", "scenario"), SCENARIOS)
def test_ingest_stores_the_summary(name: str, scenario: str) -> None:
    for record, span in zip(records(name, scenario), ours(name, scenario), strict=True):
        assert record["llm_convention"] == "openllmetry"
        assert record["llm_is_call"] is True
        assert record["llm_provider"] == ("openai" if name == OPENAI else "anthropic")
        attributes = span.attributes
        if "gen_ai.usage.output_tokens" in attributes:
            assert record["llm_input_tokens"] == 135
            assert record["llm_cache_read_tokens"] == 100
            assert record["llm_cache_creation_tokens"] == (None if name == OPENAI else 10)
            assert record["llm_output_tokens"] == attributes["gen_ai.usage.output_tokens"]
        else:
            assert record["llm_input_tokens"] is record["llm_output_tokens"] is None
        streamed = scenario in ("stream_text", "stream_tool_use", "stream_thinking")
        assert record["llm_streaming"] is (streamed and name != EVENTS)
        assert record["llm_ttft_ms"] is None


@pytest.mark.parametrize(
    ("name", "reasons"),
    [(CURRENT, ["tool_call"]), (LEGACY, ["tool_use"]), (OPENAI, ["tool_call"]), (EVENTS, [])],
)
def test_ingest_stores_the_finish_reasons_as_reported(name: str, reasons: list[str]) -> None:
    record = records(name, "tool_use")[0]
    assert record["llm_finish_reasons"] == reasons
    if name != EVENTS:
        assert record["llm_request_model"] == (
            "gpt-fake" if name == OPENAI else "claude-fake-sonnet"
        )


def test_a_stored_openai_stream_is_read_back(engine) -> None:
    """The whole path: the export stored, then the call read back as the API reads it."""
    body = captures.load(OPENAI).otlp("stream_text").SerializeToString()
    batch = ingest.decode("traces", body, "protobuf", None, 16 * 1024 * 1024)
    with engine.begin() as connection:
        store.write(connection, [batch])
    [span] = ours(OPENAI, "stream_text")
    with engine.connect() as connection:
        stored = queries.llm_call(
            connection, bytes.fromhex(span.trace_id), bytes.fromhex(span.span_id)
        )
    assert stored is not None and stored.convention == "openllmetry"
    conversation = stored.conversation()
    assert conversation["streaming"]["chunk_count"] == 10
    assert conversation["streaming"]["first_chunk_time"].endswith("Z")
    assert texts(conversation["output_messages"][0]) == ["Echo: Say hello to the streaming world"]


# --- hand-made spans: the indexed form ------------------------------------------------------------------


def legacy(**attributes: Any) -> dict[str, Any]:
    conversation = CONVENTION.conversation({"gen_ai.system": "Anthropic", **attributes})
    check_conversation(conversation)
    return conversation


def test_indexes_are_ordered_as_numbers() -> None:
    attributes = {}
    for n in range(12):
        attributes[f"gen_ai.prompt.{n}.role"] = "user"
        attributes[f"gen_ai.prompt.{n}.content"] = f"message {n}"
    conversation = legacy(**dict(reversed(attributes.items())))
    assert [texts(m)[0] for m in conversation["input_messages"]] == [
        f"message {n}" for n in range(12)
    ]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {
                "gen_ai.usage.prompt_tokens": 135,
                "gen_ai.usage.completion_tokens": 9,
                "gen_ai.usage.cache_read_input_tokens": 100,
                "gen_ai.usage.cache_creation_input_tokens": 10,
            },
            (135, 9, 100, 10),
        ),
        (
            {
                "llm.usage.prompt_tokens": 135,
                "llm.usage.completion_tokens": 9,
                "gen_ai.usage.cache_read.input_tokens": 100,
                "gen_ai.usage.cache_write.input_tokens": 10,
            },
            (135, 9, 100, 10),
        ),
        (
            {"gen_ai.usage.input_tokens": float("nan"), "gen_ai.usage.prompt_tokens": 7},
            (7, None, None, None),
        ),
    ],
)
def test_every_name_of_a_count_is_read(keys: dict[str, Any], expected: tuple) -> None:
    columns = summary_columns({"gen_ai.prompt.0.content": "hi", **keys})
    assert columns["llm_convention"] == "openllmetry"
    found = (
        columns["llm_input_tokens"],
        columns["llm_output_tokens"],
        columns["llm_cache_read_tokens"],
        columns["llm_cache_creation_tokens"],
    )
    assert found == expected


def test_an_openai_conversation_in_the_indexed_form() -> None:
    conversation = CONVENTION.conversation(
        {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are a weather bot.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather in Paris?",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "call_1",
            "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
            "gen_ai.prompt.2.tool_calls.0.arguments": '{"location": "Paris"}',
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.tool_call_id": "call_1",
            "gen_ai.prompt.3.content": "18°C and sunny",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "It is sunny.",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.completion.1.role": "assistant",
            "gen_ai.completion.1.content": "Sunny, 18°C.",
            "gen_ai.completion.1.finish_reason": "length",
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
        }
    )
    check_conversation(conversation)
    assert conversation["operation"] == "chat"
    assert conversation["system_instructions"] == []
    assert roles(conversation["input_messages"]) == ["system", "user", "assistant", "tool"]
    assistant, tool = conversation["input_messages"][2:]
    assert assistant["parts"] == [
        {
            "type": "tool_call",
            "id": "call_1",
            "name": "get_weather",
            "arguments": {"location": "Paris"},
        }
    ]
    assert tool["parts"] == [
        {"type": "tool_call_response", "id": "call_1", "response": "18°C and sunny"}
    ]
    assert pair_tool_calls(conversation) == {"call_1": tool["parts"][0]}
    # Two choices stay two messages.
    assert [texts(m) for m in conversation["output_messages"]] == [
        ["It is sunny."],
        ["Sunny, 18°C."],
    ]
    assert conversation["finish_reasons"] == ["stop", "length"]
    assert conversation["finish_reasons_normalized"] == ["stop", "length"]
    assert conversation["tools"] == [{"name": "get_weather", "parameters": {"type": "object"}}]


def test_anthropic_blocks_in_the_indexed_form() -> None:
    blocks = [
        {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
        {"type": "search_result", "title": "T", "content": []},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "is_error": True,
            "content": [{"type": "text", "text": "failed"}],
        },
    ]
    conversation = legacy(
        **{
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps(blocks),
            "gen_ai.completion.0.role": "thinking",
            "gen_ai.completion.0.content": "Hmm.",
            "gen_ai.completion.1.role": "assistant",
            "gen_ai.completion.1.content": json.dumps(
                [{"type": "redacted_thinking", "data": "abcd"}, {"type": "new_block", "x": 1}]
            ),
        }
    )
    assert conversation["input_messages"][0]["parts"] == [
        {"type": "text", "content": "Look:", "cache_control": {"type": "ephemeral"}},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBO"},
        {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
        {"type": "file", "modality": "document", "file_id": "file_1"},
        {"type": "search_result", "raw": blocks[4]},
        {
            "type": "tool_call_response",
            "id": "toolu_1",
            "response": [{"type": "text", "content": "failed"}],
            "is_error": True,
        },
    ]
    assert conversation["output_messages"][0]["parts"] == [
        {"type": "reasoning", "content": "Hmm."},
        {"type": "reasoning", "redacted": True, "data_length": 4, "data": "abcd"},
        {"type": "new_block", "raw": {"type": "new_block", "x": 1}},
    ]


@pytest.mark.parametrize("text", ["[1, 2]", '{"a": 1}', "[not json", "[]", '[{"type": 1}]'])
def test_text_that_looks_like_json_stays_text(text: str) -> None:
    conversation = legacy(**{"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": text})
    assert conversation["input_messages"][0]["parts"] == [{"type": "text", "content": text}]


def test_fields_not_understood_stay_on_the_message() -> None:
    conversation = legacy(
        **{
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hi",
            "gen_ai.completion.0.refusal": "no",
            "gen_ai.completion.0.parts": "odd",
            "gen_ai.completion.0.function_call.name": "f",
            "gen_ai.completion.0.function_call.arguments": "{}",
        }
    )
    [output] = conversation["output_messages"]
    assert output["refusal"] == "no"
    assert output["raw_parts"] == "odd"
    assert output["parts"] == [
        {"type": "text", "content": "Hi"},
        {"type": "tool_call", "name": "f", "arguments": {}},
    ]


def test_thinking_with_nothing_after_it_is_still_an_answer() -> None:
    conversation = legacy(
        **{
            "gen_ai.completion.0.role": "thinking",
            "gen_ai.completion.0.content": "Hmm.",
            "gen_ai.completion.0.finish_reason": "max_tokens",
        }
    )
    assert conversation["output_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Hmm."}],
            "finish_reason": "max_tokens",
        }
    ]
    assert conversation["finish_reasons_normalized"] == ["length"]


def test_the_old_text_completions_prompt() -> None:
    conversation = legacy(
        **{
            "llm.request.type": "completion",
            "gen_ai.prompt.0.user": "Human: hi\n\nAssistant:",
            "gen_ai.completion.0.content": " Hello",
        }
    )
    assert conversation["operation"] == "text_completion"
    assert conversation["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Human: hi\n\nAssistant:"}]}
    ]
    assert roles(conversation["output_messages"]) == ["assistant"]


def test_the_provider_is_lower_case() -> None:
    assert (
        summary_columns({"gen_ai.system": "Anthropic", "gen_ai.prompt.0.content": "x"})[
            "llm_provider"
        ]
        == "anthropic"
    )


# --- hostile input ------------------------------------------------------------------------------


LEGACY_KEYS = (
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.tool_calls.0.arguments",
    "gen_ai.prompt.1.tool_call_id",
    "gen_ai.completion.0.role",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.finish_reason",
    "gen_ai.completion.0.tool_calls",
    "gen_ai.completion.1.role",
    "llm.request.functions.0.input_schema",
    "llm.is_streaming",
    "gen_ai.is_streaming",
    "gen_ai.system",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.request.type",
)


def answer(attributes: Any, events: Any = (), logs: Any = ()) -> dict[str, Any]:
    if isinstance(attributes, dict):
        summary_columns(attributes, "opentelemetry.instrumentation.anthropic")
    conversation = CONVENTION.conversation(attributes, events=events, logs=logs)
    check_conversation(conversation)
    pair_tool_calls(conversation)
    assert all(isinstance(r, str) for r in conversation["finish_reasons_normalized"])
    return conversation


@pytest.mark.parametrize("name", HOSTILE_VALUES)
def test_a_hostile_value_in_every_key(name: str) -> None:
    value = HOSTILE_VALUES[name]
    answer({**dict.fromkeys(LEGACY_KEYS, value), "gen_ai.completion.1.role": "thinking"})
    answer({"gen_ai.provider.name": "anthropic", "gen_ai.is_streaming": True}, logs=[value])
    answer(
        {"gen_ai.operation.name": "chat"},
        events=[{"name": "gen_ai.content.completion.chunk", "time": value}],
        logs=[{"event_name": "gen_ai.choice", "body": value}],
    )
    for key in LEGACY_KEYS:
        answer({"gen_ai.prompt.0.role": "user", key: value})


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.prompt." + "9" * 5000 + ".content": "x", "gen_ai.prompt.0.content": "y"},
        {f"gen_ai.completion.{n}.role": "thinking" for n in range(2000)},
        {"gen_ai.prompt.0.content": json.dumps([{"type": "tool_result", "content": "x"}] * 3000)},
        {"gen_ai.prompt.0.content": "[" * 900 + "]" * 900},
        {"gen_ai.prompt.0.tool_calls.0.id": "a", "gen_ai.prompt.0.tool_calls.1.id": "a"},
        {"gen_ai.prompt.0.tool_calls.00.id": "a", "gen_ai.prompt.0.tool_calls": "[1, {}]"},
        {"gen_ai.prompt.0.content\n": "x", "gen_ai.prompt.0.\n": "y"},
    ],
)
def test_hostile_indexed_spans(attributes: dict[str, Any]) -> None:
    answer(attributes)


def nested_results(depth: int) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": "bottom"}
    for n in range(depth):
        block = {"type": "tool_result", "tool_use_id": f"t{n}", "content": [block]}
    return block


def test_blocks_nested_past_any_real_conversation() -> None:
    conversation = answer({"gen_ai.prompt.0.content": [nested_results(3000)]})
    assert conversation["input_messages"][0]["parts"][0]["id"] == "t2999"


@pytest.mark.parametrize(
    ("events", "logs"),
    [
        (None, None),
        (5, "text"),
        ([None, 5, {"name": 5}], [None, 5, {"event_name": ["x"]}, {"event_name": {"a": 1}}]),
        ([{"name": "gen_ai.content.completion.chunk", "time": "9" * 100}], [{"body": {}}]),
        (
            [],
            [
                {"event_name": "gen_ai.user.message", "body": {"content": {"tools": 5}}},
                {"event_name": "gen_ai.tool.message", "body": {"id": 5, "content": [1]}},
                {"event_name": "gen_ai.choice", "body": {"index": [1], "tool_calls": [5]}},
                {"event_name": "gen_ai.choice", "body": {"message": 5, "finish_reason": 5}},
                {"event_name": "gen_ai.assistant.message", "body": "not json"},
                {"attributes": {"event.name": "gen_ai.system.message"}, "body": '{"content": 1}'},
            ],
        ),
    ],
)
def test_hostile_events_and_logs(events: Any, logs: Any) -> None:
    answer({"gen_ai.provider.name": "openai"}, events=events, logs=logs)
    answer({"gen_ai.provider.name": "anthropic"}, events=events, logs=logs)


@pytest.mark.parametrize("attributes", [None, 5, "text", [{"gen_ai.prompt.0.role": "user"}]])
def test_attributes_that_are_not_a_dict(attributes: Any) -> None:
    answer(attributes)


@pytest.mark.parametrize("seed", range(10))
def test_random_indexed_spans(seed: int) -> None:
    hostile = Hostile(seed)
    for _ in range(40):
        keys = hostile.random.sample(LEGACY_KEYS, hostile.random.randrange(len(LEGACY_KEYS)))
        attributes = {key: hostile.encoded(hostile.value()) for key in keys}
        attributes["gen_ai.prompt.0.role"] = "user"
        logs = [{"event_name": "gen_ai.choice", "body": hostile.value()}]
        answer(attributes, logs=logs)
