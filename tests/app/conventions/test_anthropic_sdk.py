"""The anthropic SDK's own tracing: its calls, from real captures, and its spans that are not calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import ingest
from app.conventions import BY_NAME, convention_for, summary_columns
from app.conventions.anthropic_sdk import CONVENTION, SCOPE
from tests import otlp_builders as otlp
from tests.captures import CapturedSpan, load

METADATA = load("sdk_native")
CONTENT = load("sdk_native_content")
STREAMED = ("stream_text", "stream_helper", "stream_tool_use", "stream_thinking")
ANSWERED = ("plain_system", "multi_turn", "tool_use", "thinking", *STREAMED)


def only(capture: Any, scenario: str) -> CapturedSpan:
    [span] = capture.spans(scenario)
    return span


def first_of(capture: Any, scenario: str) -> CapturedSpan:
    """The first call of a scenario (a tool round trip makes two)."""
    return capture.spans(scenario)[0]


def conversation(span: CapturedSpan, parts: Any = ()) -> dict[str, Any]:
    return CONVENTION.conversation(span.attributes, parts, events=span.stored_events)


# --- which spans -------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [METADATA, CONTENT], ids=lambda c: c.name)
def test_every_captured_span_is_the_sdks_and_a_call(capture: Any) -> None:
    for scenario, spans in capture.scenarios.items():
        for span in spans:
            assert convention_for(span.attributes, span.scope_name) is CONVENTION, scenario
            columns = summary_columns(span.attributes, span.scope_name)
            assert columns["llm_convention"] == "anthropic-sdk"
            assert columns["llm_is_call"] is True


def test_a_platform_clients_scope_is_the_sdks_too() -> None:
    span = only(METADATA, "plain_system")
    assert convention_for(span.attributes, f"{SCOPE}.bedrock") is CONVENTION


def test_the_same_keys_under_another_scope_are_not_the_sdks() -> None:
    span = only(METADATA, "plain_system")
    assert convention_for(span.attributes, "opentelemetry.instrumentation.anthropic") is not (
        CONVENTION
    )
    assert convention_for({"gen_ai.operation.name": "chat"}, "my.app") is BY_NAME["otel-genai"]


def test_without_a_scope_a_key_only_the_sdk_sets_tells_its_spans() -> None:
    span = only(METADATA, "plain_system")
    assert convention_for(span.attributes) is CONVENTION
    ours = {**span.attributes, "spyglass.span.type": "llm.request"}
    assert convention_for(ours) is BY_NAME["spyglass"]
    plain = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    assert convention_for(plain) is BY_NAME["otel-genai"]


def test_a_span_of_the_scope_without_genai_keys_is_not_an_llm_span() -> None:
    assert convention_for({"http.request.method": "GET"}, SCOPE) is None


# --- metadata mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ANSWERED)
def test_the_summary_of_a_call(scenario: str) -> None:
    span = first_of(METADATA, scenario)
    columns = summary_columns(span.attributes, span.scope_name)
    assert columns["llm_provider"] == "anthropic"
    assert columns["llm_request_model"] == "claude-fake-sonnet"
    assert columns["llm_response_model"] == "claude-fake-sonnet-20990101"
    # The SDK counts the whole input: 25 + 10 written to the cache + 100 read from it.
    assert columns["llm_input_tokens"] == 135
    assert columns["llm_cache_creation_tokens"] == 10  # from cache_write, the new name
    assert columns["llm_cache_read_tokens"] == 100
    assert columns["llm_output_tokens"] == span.attributes["gen_ai.usage.output_tokens"]
    # No gen_ai.response.finish_reasons: the stop reason stands in for it.
    assert columns["llm_finish_reasons"] == [span.attributes["anthropic.message.stop_reason"]]
    assert columns["llm_streaming"] is (scenario in STREAMED)
    if scenario in STREAMED:
        ttft_s = span.attributes["gen_ai.response.time_to_first_chunk"]
        assert columns["llm_ttft_ms"] == pytest.approx(ttft_s * 1000)
    else:
        assert columns["llm_ttft_ms"] is None


def test_a_call_without_content() -> None:
    first, _ = METADATA.spans("tool_use")
    result = conversation(first)
    assert result["operation"] == "chat"
    assert result["system_instructions"] == result["input_messages"] == []
    assert result["output_messages"] == result["tools"] == []
    assert result["usage"] == {
        "input_tokens": 135,
        "output_tokens": 23,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 10,
    }
    assert result["finish_reasons"] == ["tool_use"]
    assert result["finish_reasons_normalized"] == ["tool_call"]
    assert result["request_params"] == {"max_tokens": 512}
    assert result["streaming"] is None
    assert result["http"] == {
        "status_code": 200,
        "request_id": first.attributes["anthropic.request.id"],
    }
    json.dumps(result, allow_nan=False)


def test_a_streamed_call() -> None:
    span = only(METADATA, "stream_text")
    result = conversation(span)
    ttft_ms = span.attributes["gen_ai.response.time_to_first_chunk"] * 1000
    assert result["streaming"]["time_to_first_token_ms"] == pytest.approx(ttft_ms)
    assert (result["streaming"]["complete"], result["streaming"]["outcome"]) == (True, "complete")
    assert result["request_params"] == {"max_tokens": 256, "stream": True}
    assert result["finish_reasons"] == ["end_turn"]
    assert result["finish_reasons_normalized"] == ["stop"]


def test_a_stream_that_broke() -> None:
    span = only(METADATA, "stream_error")
    columns = summary_columns(span.attributes, span.scope_name)
    assert columns["llm_finish_reasons"] == []
    assert columns["llm_input_tokens"] == 135  # from message_start, before the break
    result = conversation(span)
    assert (result["streaming"]["complete"], result["streaming"]["outcome"]) == (False, "error")
    assert result["error"] == {"type": "overloaded_error", "message": None}
    assert result["finish_reasons"] == []
    assert result["finish_reasons_normalized"] == ["error"]


def test_a_refused_request() -> None:
    result = conversation(only(METADATA, "error_400"))
    assert result["http"] == {
        "status_code": 400,
        "request_id": only(METADATA, "error_400").attributes["anthropic.request.id"],
    }
    assert result["error"] == {"type": "invalid_request_error", "message": None}
    assert result["usage"] == dict.fromkeys(result["usage"])


def test_thinking_is_a_request_parameter() -> None:
    result = conversation(only(METADATA, "thinking"))
    assert result["request_params"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_retries_are_shown() -> None:
    """The SDK's span covers every attempt (anthropic-sdk.md: the 529 case, one retry)."""
    attributes = {
        **only(METADATA, "plain_system").attributes,
        "http.request.resend_count": 1,
        "http.response.status_code": 529,
        "anthropic.request.service_tier": "auto",
        "anthropic.beta": ["a-2026-01-01"],
    }
    result = CONVENTION.conversation(attributes)
    assert result["http"]["resend_count"] == 1
    assert result["http"]["status_code"] == 529
    assert result["request_params"]["service_tier"] == "auto"
    assert result["request_params"]["betas"] == ["a-2026-01-01"]


def test_reported_finish_reasons_win_over_the_stop_reason() -> None:
    attributes = {
        **only(METADATA, "plain_system").attributes,
        "gen_ai.response.finish_reasons": ["stop"],
    }
    assert CONVENTION.summarize(attributes).finish_reasons == ["stop"]
    assert CONVENTION.conversation(attributes)["finish_reasons"] == ["stop"]


# --- content mode -------------------------------------------------------------------------------


def test_the_content_of_a_call() -> None:
    result = conversation(only(CONTENT, "plain_system"))
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
    assert result["request_params"] == {"max_tokens": 256, "stop_sequences": ["STOP"]}


def test_a_tool_round_trip() -> None:
    first, second = CONTENT.spans("tool_use")
    [output] = conversation(first)["output_messages"]
    assert output["finish_reason"] == "tool_use"
    assert output["parts"][1] == {
        "type": "tool_call",
        "id": "toolu_01FAKEad5b440a",
        "name": "get_weather",
        "arguments": {"location": "Paris", "unit": "celsius"},
    }
    # The SDK sends the tool's result as Anthropic blocks: fitted to parts.
    inputs = conversation(second)["input_messages"]
    assert inputs[-1] == {
        "role": "user",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "toolu_01FAKEad5b440a",
                "response": [{"type": "text", "content": "18°C and sunny"}],
            }
        ],
    }


def test_thinking_is_reasoning() -> None:
    [output] = conversation(only(CONTENT, "thinking"))["output_messages"]
    assert [part["type"] for part in output["parts"]] == ["reasoning", "text"]


def test_a_streamed_create_has_no_output_but_the_stream_helper_has() -> None:
    created = conversation(only(CONTENT, "stream_text"))
    assert created["input_messages"] and created["output_messages"] == []
    assert created["streaming"]["time_to_first_token_ms"] > 0
    helped = conversation(only(CONTENT, "stream_helper"))
    assert helped["output_messages"][0]["parts"][0]["content"].startswith("Echo:")


# --- spans that are not calls --------------------------------------------------------------------

# As anthropic 2.17 starts them (lib/_tracing/_tools.py), with content mode's keys.
TOOL_RUNNER = {
    "gen_ai.operation.name": "invoke_agent",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
}
TOOL_RUN = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.tool.name": "get_weather",
    "gen_ai.tool.description": "The weather in a city",
    "gen_ai.tool.call.id": "toolu_1",
    "gen_ai.tool.type": "function",
    "gen_ai.tool.call.arguments": '{"city":"Paris"}',
    "anthropic.tool_result.content": '[{"type":"text","text":"18°C"}]',
}
COUNT_TOKENS = {
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-6",
    "http.route": "/v1/messages/count_tokens",
    "anthropic.message.count_tokens.input_tokens": 42,
}


@pytest.mark.parametrize(
    "attributes", [TOOL_RUNNER, TOOL_RUN, COUNT_TOKENS], ids=["runner", "tool", "count"]
)
def test_spans_that_are_not_model_calls_are_not_counted(attributes: dict[str, Any]) -> None:
    columns = summary_columns(attributes, SCOPE)
    assert columns["llm_convention"] == "anthropic-sdk"
    assert columns["llm_is_call"] is False
    assert columns["llm_input_tokens"] is None


def test_a_tool_run_shows_its_call_and_result() -> None:
    result = CONVENTION.conversation(TOOL_RUN)
    assert result["operation"] == "execute_tool"
    assert result["input_messages"] == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        }
    ]
    assert result["output_messages"] == [
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "toolu_1",
                    "response": [{"type": "text", "content": "18°C"}],
                }
            ],
        }
    ]
    assert result["tools"] == [
        {"name": "get_weather", "description": "The weather in a city", "type": "function"}
    ]


def test_a_failed_tool_run_is_an_error_result() -> None:
    failed = {**TOOL_RUN, "error.type": "tool_error"}
    [output] = CONVENTION.conversation(failed)["output_messages"]
    assert output["parts"][0]["is_error"] is True


def test_a_tool_run_in_metadata_mode_shows_what_it_has() -> None:
    bare = {k: v for k, v in TOOL_RUN.items() if "arguments" not in k and "result" not in k}
    result = CONVENTION.conversation(bare)
    assert result["input_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "toolu_1", "name": "get_weather"}],
        }
    ]
    assert result["output_messages"] == []


def test_a_tool_runner_shows_the_tool_runs_beneath_it() -> None:
    second = {**TOOL_RUN, "gen_ai.tool.call.id": "toolu_2", "gen_ai.tool.call.arguments": "{}"}
    chat = only(METADATA, "plain_system").attributes  # not a tool run: left out
    result = CONVENTION.conversation(TOOL_RUNNER, [TOOL_RUN, chat, second])
    assert result["operation"] == "invoke_agent"
    assert [m["role"] for m in result["output_messages"]] == ["assistant", "tool"] * 2
    ids = [m["parts"][0]["id"] for m in result["output_messages"]]
    assert ids == ["toolu_1", "toolu_1", "toolu_2", "toolu_2"]
    assert result["usage"] == dict.fromkeys(result["usage"])


def test_a_tool_runner_through_the_collector(client: TestClient) -> None:
    trace, runner, call, tool = otlp.trace_id(), otlp.span_id(), otlp.span_id(), otlp.span_id()
    chat = first_of(METADATA, "tool_use").attributes
    message = otlp.request(
        otlp.span(
            "anthropic.messages.tool_runner", trace=trace, ident=runner, attributes=TOOL_RUNNER
        ),
        otlp.span(
            "anthropic.messages.create",
            trace=trace,
            ident=call,
            parent=runner,
            kind=3,
            attributes=chat,
        ),
        otlp.span(
            "anthropic.custom_tool_use get_weather",
            trace=trace,
            ident=tool,
            parent=runner,
            attributes=TOOL_RUN,
        ),
        scope=SCOPE,
    )
    reply = client.post(
        "/v1/traces",
        content=message.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200

    summary = client.get(f"/api/v1/traces/{trace.hex()}").json()["trace"]
    assert summary["llm_call_count"] == 1
    assert summary["input_tokens"] == 135
    reply = client.get(f"/api/v1/traces/{trace.hex()}/spans/{tool.hex()}/conversation")
    assert reply.status_code == 200
    parts = [m["parts"][0] for m in reply.json()["output_messages"]]
    assert [p["type"] for p in parts] == ["tool_call", "tool_call_response"]
    assert parts[0]["arguments"] == {"city": "Paris"}


# --- through ingest ------------------------------------------------------------------------------


@pytest.mark.parametrize("capture", [METADATA, CONTENT], ids=lambda c: c.name)
@pytest.mark.parametrize("scenario", ["plain_system", "tool_use", "stream_text", "error_400"])
def test_ingest_reads_the_sdks_spans(capture: Any, scenario: str) -> None:
    body = capture.otlp(scenario).SerializeToString()
    batch = ingest.decode("traces", body, "protobuf", None, 16 * 1024 * 1024)
    assert batch.records
    for record in batch.records:
        assert record["scope_name"] == SCOPE
        assert record["llm_convention"] == "anthropic-sdk"
        assert record["llm_is_call"] is True
        if scenario != "error_400":
            assert record["llm_input_tokens"] == 135
            assert record["llm_finish_reasons"] == [
                record["attributes"]["anthropic.message.stop_reason"]
            ]


# --- what the SDK leaves out -------------------------------------------------------------------


def kinds(result: dict[str, Any]) -> list[str]:
    return [note["kind"] for note in result["notes"]]


def test_notes_say_what_the_sdk_left_out() -> None:
    assert kinds(conversation(only(METADATA, "plain_system"))) == ["content_not_recorded"]
    assert kinds(conversation(only(CONTENT, "plain_system"))) == []
    assert kinds(conversation(only(CONTENT, "stream_text"))) == ["stream_output_not_recorded"]
    assert kinds(conversation(only(CONTENT, "stream_helper"))) == []
    # A stream that broke has no output because it broke.
    assert kinds(conversation(only(CONTENT, "stream_error"))) == []
    assert kinds(CONVENTION.conversation(TOOL_RUN)) == []
    cut = {**only(CONTENT, "plain_system").attributes, "anthropic.content.truncated": True}
    assert kinds(CONVENTION.conversation(cut)) == ["content_truncated"]
