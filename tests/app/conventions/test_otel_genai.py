"""The OpenTelemetry GenAI conventions: the summary stored at ingest, and the conversation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import ingest, store
from app.conventions import convention_for, summary_columns
from app.conventions.otel_genai import CONVENTION, MAX_PARAM_CHARS
from tests import otlp_builders as otlp
from tests.app.conventions.encodings import encoded

GENAI = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.usage.input_tokens": 135,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.usage.cache_creation.input_tokens": 10,
    "gen_ai.response.finish_reasons": ["end_turn"],
    "gen_ai.response.time_to_first_chunk": 0.412,
}


def conversation(**attributes: Any) -> dict[str, Any]:
    return CONVENTION.conversation({**GENAI, **attributes})


# --- which spans, and the summary ----------------------------------------------------------------


def test_a_genai_span_is_summarised() -> None:
    columns = summary_columns(GENAI)
    assert columns["llm_convention"] == "otel-genai"
    assert columns["llm_is_call"] is True
    assert columns["llm_provider"] == "anthropic"
    assert columns["llm_request_model"] == "claude-sonnet-4-5"
    assert columns["llm_response_model"] == "claude-sonnet-4-5-20250929"
    assert (columns["llm_input_tokens"], columns["llm_output_tokens"]) == (135, 40)
    assert (columns["llm_cache_read_tokens"], columns["llm_cache_creation_tokens"]) == (100, 10)
    assert columns["llm_finish_reasons"] == ["end_turn"]
    assert columns["llm_streaming"] is True
    assert columns["llm_ttft_ms"] == pytest.approx(412.0)


@pytest.mark.parametrize(
    "marker",
    ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model"],
)
def test_any_genai_marker_claims_a_span(marker: str) -> None:
    assert convention_for({marker: "x"}) is CONVENTION


def test_a_plain_span_is_not_an_llm_call() -> None:
    columns = summary_columns({"http.method": "GET"})
    assert set(columns.values()) == {None}


def test_older_key_names_are_read() -> None:
    older = {
        "gen_ai.system": "anthropic",
        "gen_ai.usage.prompt_tokens": 12,
        "gen_ai.usage.completion_tokens": 3,
    }
    summary = CONVENTION.summarize(older)
    assert (summary.provider, summary.input_tokens, summary.output_tokens) == ("anthropic", 12, 3)
    assert summary.streaming is False


def test_both_names_of_the_cache_write_count_are_read() -> None:
    renamed = {**GENAI, "gen_ai.usage.cache_write.input_tokens": 7}
    del renamed["gen_ai.usage.cache_creation.input_tokens"]
    assert summary_columns(renamed)["llm_cache_creation_tokens"] == 7


def test_input_tokens_are_taken_as_the_total_input() -> None:
    """The conventions (since 1.40, which added the cache counts) and the contract count the
    whole input, cache included; the count is taken as the emitter gives it."""
    assert CONVENTION.conversation(GENAI)["usage"] == {
        "input_tokens": 135,
        "output_tokens": 40,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 10,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["end_turn"], ["end_turn"]),
        (["stop", "length"], ["stop", "length"]),
        ("end_turn", ["end_turn"]),
        ('["tool_use"]', ["tool_use"]),  # Logfire sends JSON text
        (3, []),
    ],
)
def test_finish_reasons_as_a_list_or_one_string(value: Any, expected: list[str]) -> None:
    attributes = {**GENAI, "gen_ai.response.finish_reasons": value}
    assert summary_columns(attributes)["llm_finish_reasons"] == expected
    assert CONVENTION.conversation(attributes)["finish_reasons"] == expected


def test_an_absurd_token_count_does_not_block_the_batch(engine) -> None:
    """Counts past int64 would overflow the trace sums; the span is stored, the count is not."""
    trace = otlp.trace_id()
    spans = [
        otlp.span(
            "chat", trace=trace, attributes={**GENAI, "gen_ai.usage.input_tokens": 2**63 - 1}
        ),
        otlp.span(
            "chat", trace=trace, attributes={**GENAI, "gen_ai.usage.input_tokens": 2**63 - 1}
        ),
    ]
    batch = ingest.decode(
        "traces", otlp.request(*spans).SerializeToString(), "protobuf", None, 1 << 20
    )
    with engine.begin() as connection:
        store.write(connection, [batch])
    assert [record["llm_input_tokens"] for record in batch.records] == [None, None]
    assert batch.records[0]["attributes"]["gen_ai.usage.input_tokens"] == 2**63 - 1


# --- the conversation -----------------------------------------------------------------------------


def test_the_whole_conversation(encoding: str) -> None:
    system = [{"type": "text", "content": "Be brief."}]
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    outputs = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "w", "arguments": {"c": "P"}}],
            "finish_reason": "tool_use",
        }
    ]
    tools = [{"type": "function", "name": "w", "description": "The weather", "parameters": {}}]
    result = conversation(
        **{
            "gen_ai.system_instructions": encoded(system, encoding),
            "gen_ai.input.messages": encoded(inputs, encoding),
            "gen_ai.output.messages": encoded(outputs, encoding),
            "gen_ai.tool.definitions": encoded(tools, encoding),
            "gen_ai.request.max_tokens": 1000,
            "gen_ai.response.finish_reasons": ["tool_use"],
        }
    )
    assert result == {
        "provider": "anthropic",
        "operation": "chat",
        "request_model": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5-20250929",
        "system_instructions": system,
        "input_messages": inputs,
        "output_messages": outputs,
        "tools": tools,
        "request_params": {"max_tokens": 1000},
        "usage": {
            "input_tokens": 135,
            "output_tokens": 40,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 10,
        },
        "finish_reasons": ["tool_use"],
        "finish_reasons_normalized": ["tool_call"],
        "streaming": {
            "time_to_first_token_ms": pytest.approx(412.0),
            "duration_ms": None,
            "chunk_count": None,
            "output_chars": None,
            "output_tokens_per_second": None,
            "complete": None,
            "outcome": None,
            "timeline": [],
        },
        "error": None,
    }


@pytest.mark.parametrize("text", ["null", "42", "true", '"quoted"', "[not json"])
def test_plain_text_instructions_stay_text(text: str) -> None:
    conversation = CONVENTION.conversation({**GENAI, "gen_ai.system_instructions": text})
    assert conversation["system_instructions"] == [{"type": "text", "content": text}]


def test_a_time_to_first_chunk_too_large_for_milliseconds() -> None:
    attributes = {**GENAI, "gen_ai.response.time_to_first_chunk": 1e308}
    assert CONVENTION.summarize(attributes).time_to_first_token_ms is None


def test_a_call_without_content() -> None:
    result = CONVENTION.conversation({"gen_ai.operation.name": "chat"})
    assert result["system_instructions"] == result["input_messages"] == []
    assert result["output_messages"] == result["tools"] == []
    assert result["finish_reasons"] == []
    assert result["usage"] == dict.fromkeys(result["usage"])
    assert result["streaming"] is None


# One of each part the GenAI conventions name, as their emitters write it.
PARTS: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "content": "Paris is sunny."},
    "reasoning": {"type": "reasoning", "content": "The user wants weather."},
    "tool_call": {"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"c": 1}},
    "tool_call string arguments": {"type": "tool_call", "name": "f", "arguments": "not json"},
    "tool_call_response string": {"type": "tool_call_response", "id": "t1", "response": "18°C"},
    "tool_call_response parts": {
        "type": "tool_call_response",
        "id": "t1",
        "response": [{"type": "text", "content": "18°C"}],
    },
    "tool_call_response object": {
        "type": "tool_call_response",
        "id": "t1",
        "response": {"temperature": 18, "unit": None},
    },
    "tool_call_response error": {
        "type": "tool_call_response",
        "id": "t1",
        "response": "city unknown",
        "is_error": True,
    },
    "server_tool_call": {
        "type": "server_tool_call",
        "id": "s1",
        "name": "web_search",
        "server_tool_call": {"type": "web_search", "query": "weather"},
    },
    "server_tool_call_response": {
        "type": "server_tool_call_response",
        "id": "s1",
        "server_tool_call_response": {"type": "web_search", "results": [{"url": "https://x"}]},
    },
    "blob": {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw=="},
    "file": {"type": "file", "modality": "document", "file_id": "file_01"},
    "uri": {"type": "uri", "modality": "image", "mime_type": "image/jpeg", "uri": "https://x/a"},
    "generic": {"type": "generic", "generic_type": "x", "payload": [1, 2.5, True, None]},
    "compaction": {"type": "compaction", "id": "c1", "content": "summary"},
}


@pytest.mark.parametrize("name", PARTS)
def test_every_part_type_is_kept(name: str, encoding: str) -> None:
    message = {"role": "assistant", "parts": [PARTS[name]]}
    result = conversation(
        **{
            "gen_ai.input.messages": encoded([message], encoding),
            "gen_ai.output.messages": encoded([message], encoding),
            "gen_ai.system_instructions": encoded([PARTS[name]], encoding),
        }
    )
    assert result["input_messages"] == [message]
    assert result["output_messages"] == [{**message, "finish_reason": "end_turn"}]
    assert result["system_instructions"] == [PARTS[name]]


def test_output_messages_get_the_finish_reason_of_their_choice() -> None:
    """Newer emitters only set gen_ai.response.finish_reasons, one per choice."""
    outputs = [{"role": "assistant", "parts": []}, {"role": "assistant", "parts": []}]
    result = conversation(
        **{
            "gen_ai.output.messages": json.dumps(outputs),
            "gen_ai.response.finish_reasons": ["stop", "length"],
        }
    )
    assert [m["finish_reason"] for m in result["output_messages"]] == ["stop", "length"]


def test_an_output_message_keeps_its_own_finish_reason() -> None:
    outputs = [{"role": "assistant", "parts": [], "finish_reason": "tool_call"}]
    result = conversation(**{"gen_ai.output.messages": json.dumps(outputs)})
    assert result["output_messages"] == outputs
    assert result["finish_reasons"] == ["end_turn"]


def test_finish_reasons_come_from_the_messages_when_the_span_has_none() -> None:
    outputs = [{"role": "assistant", "parts": [], "finish_reason": "tool_call"}]
    attributes = {**GENAI, "gen_ai.output.messages": json.dumps(outputs)}
    del attributes["gen_ai.response.finish_reasons"]
    assert CONVENTION.conversation(attributes)["finish_reasons"] == ["tool_call"]


def test_request_params_are_the_request_parameters_only() -> None:
    result = conversation(
        **{
            "gen_ai.request.max_tokens": 1000,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.stop_sequences": '["###"]',  # Logfire's JSON text
            "gen_ai.request.reasoning.level": "high",
            "gen_ai.output.type": "json",
            "gen_ai.request.stream": True,
            "gen_ai.conversation.id": "c1",
            "gen_ai.response.id": "msg_1",
            "anthropic.request.parameters": '{"metadata": {}}',
        }
    )
    assert result["request_params"] == {
        "max_tokens": 1000,
        "temperature": 0.5,
        "stop_sequences": ["###"],
        "reasoning.level": "high",
        "output_type": "json",
        "stream": True,
    }


def test_a_huge_parameter_is_cut() -> None:
    result = conversation(
        **{
            "gen_ai.request.huge": "x" * 1_000_000,
            "gen_ai.request.stop_sequences": ["y" * 100] * 10_000,
        }
    )
    params = result["request_params"]
    assert params["huge"] == "x" * MAX_PARAM_CHARS + "…"
    assert params["stop_sequences"].startswith('["yyy')
    assert len(params["stop_sequences"]) == MAX_PARAM_CHARS + 1


def test_a_streamed_call_has_a_streaming_block_and_another_has_none() -> None:
    streamed = {**GENAI, "gen_ai.request.stream": True}
    del streamed["gen_ai.response.time_to_first_chunk"]
    block = CONVENTION.conversation(streamed)["streaming"]
    assert block["time_to_first_token_ms"] is None
    assert block["timeline"] == []

    unstreamed = dict(streamed)
    del unstreamed["gen_ai.request.stream"]
    assert CONVENTION.conversation(unstreamed)["streaming"] is None


@pytest.mark.parametrize(
    ("reasons", "normalized"),
    [
        (["end_turn"], ["stop"]),
        (["tool_use", "max_tokens"], ["tool_call", "length"]),
        (["tool_calls"], ["tool_call"]),
        (["compaction"], ["other(compaction)"]),
        ([], []),
    ],
)
def test_finish_reasons_are_also_given_on_one_scale(
    reasons: list[str], normalized: list[str]
) -> None:
    result = conversation(**{"gen_ai.response.finish_reasons": reasons})
    assert result["finish_reasons"] == reasons
    assert result["finish_reasons_normalized"] == normalized


# --- spans that are not model calls ---------------------------------------------------------------


@pytest.mark.parametrize(
    "operation", ["execute_tool", "invoke_agent", "create_agent", "invoke_workflow", "retrieval"]
)
def test_tool_and_agent_spans_are_read_but_not_counted(operation: str) -> None:
    columns = summary_columns({"gen_ai.operation.name": operation, "gen_ai.provider.name": "x"})
    assert columns["llm_convention"] == "otel-genai"
    assert columns["llm_is_call"] is False


@pytest.mark.parametrize("operation", ["chat", "text_completion", "embeddings", None])
def test_model_operations_are_calls(operation: str | None) -> None:
    attributes = {"gen_ai.operation.name": operation, "gen_ai.request.model": "m"}
    assert summary_columns(attributes)["llm_is_call"] is True


TOOL_RUN = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": "get_weather",
    "gen_ai.tool.call.id": "call_1",
    "gen_ai.tool.call.arguments": '{"city": "Paris"}',
    "gen_ai.tool.call.result": "18°C",
}


def test_a_tool_run_is_its_call_and_result() -> None:
    result = CONVENTION.conversation(TOOL_RUN)
    assert result["input_messages"] == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        }
    ]
    assert result["output_messages"] == [
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}],
        }
    ]
    assert result["tools"] == [{"name": "get_weather"}]
    failed = CONVENTION.conversation({**TOOL_RUN, "error.type": "ValueError"})
    assert failed["output_messages"][0]["parts"][0]["is_error"] is True


def test_a_tool_run_with_messages_of_its_own_shows_them() -> None:
    own = [{"role": "tool", "parts": [{"type": "text", "content": "x"}]}]
    result = CONVENTION.conversation({**TOOL_RUN, "gen_ai.output.messages": json.dumps(own)})
    assert result["output_messages"] == own
    assert result["input_messages"] == []


# --- failures ----------------------------------------------------------------------------------


def test_a_failed_call_says_what_it_failed_with() -> None:
    attributes = {"gen_ai.operation.name": "chat", "error.type": "BadRequestError"}
    result = CONVENTION.conversation(attributes)
    assert result["error"] == {"type": "BadRequestError", "message": None}
    # It ended in error without a reason of its own (conventions.md 8.3).
    assert result["finish_reasons"] == []
    assert result["finish_reasons_normalized"] == ["error"]


def test_an_exception_event_says_more() -> None:
    events = [
        {
            "name": "exception",
            "time": "2026-12-04T16:00:00.001000Z",
            "attributes": {"exception.type": "openai.BadRequestError", "exception.message": "400"},
        }
    ]
    attributes = {"gen_ai.operation.name": "chat", "error.type": "x"}
    result = CONVENTION.conversation(attributes, events=events)
    assert result["error"] == {"type": "openai.BadRequestError", "message": "400"}
    assert CONVENTION.conversation({"gen_ai.operation.name": "chat"})["error"] is None


def test_reasoning_tokens_are_shown_when_counted() -> None:
    result = conversation(**{"gen_ai.usage.reasoning.output_tokens": 30})
    assert result["usage"]["reasoning_output_tokens"] == 30
    assert "reasoning_output_tokens" not in conversation()["usage"]
