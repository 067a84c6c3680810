"""Older forms of the GenAI conventions: content in span events (1.26–1.27), in per-message log
events (1.28–1.36), and in the `gen_ai.client.inference.operation.details` log record (1.37+)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.conventions import convention_for, summary_columns
from app.conventions.otel_genai import (
    CONVENTION,
    details_attributes,
    log_event_content,
    span_event_content,
)
from tests import otlp_builders as otlp
from tests.captures import load

LATEST = load("openai_otel_v2_latest_span_and_event")
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")

# A chat call as GenAI 1.26 recorded it: metadata on the span, the content in span events.
V1_26 = {
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.prompt_tokens": 135,
    "gen_ai.usage.completion_tokens": 12,
    "gen_ai.response.finish_reasons": ["tool_calls"],
}
PROMPT = [
    {"role": "system", "content": "You are a weather bot."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
]
COMPLETION = [
    {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": "Sunny, 18°C."},
    }
]


def event(name: str, **attributes: Any) -> dict[str, Any]:
    """A span event as the store gives it to a convention."""
    return {"name": name, "time": "2026-12-04T16:00:00.001000Z", "attributes": attributes}


def log(event_name: str, body: Any = None, **attributes: Any) -> dict[str, Any]:
    """A log record as the store gives it to a convention."""
    return {
        "event_name": event_name,
        "body": body,
        "attributes": attributes,
        "time": None,
        "severity_number": 9,
        "severity_text": "INFO",
    }


PROMPT_EVENTS = [
    event("gen_ai.content.prompt", **{"gen_ai.prompt": json.dumps(PROMPT)}),
    event("gen_ai.content.completion", **{"gen_ai.completion": json.dumps(COMPLETION)}),
]
EXPECTED_INPUTS = [
    {"role": "system", "parts": [{"type": "text", "content": "You are a weather bot."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
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
    },
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}]},
]


# --- span events (1.26–1.27) ---------------------------------------------------------------------


def test_span_events_give_the_messages() -> None:
    result = CONVENTION.conversation(V1_26, events=PROMPT_EVENTS)
    assert result["provider"] == "openai"
    assert result["input_messages"] == EXPECTED_INPUTS
    assert result["output_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny, 18°C."}],
            "index": 0,
            "finish_reason": "stop",
        }
    ]
    assert result["usage"]["input_tokens"] == 135  # from the 1.26 name, prompt_tokens
    assert result["finish_reasons"] == ["tool_calls"]
    assert result["finish_reasons_normalized"] == ["tool_call"]


def test_a_completion_of_messages_or_text() -> None:
    as_messages = [
        event("gen_ai.content.completion", **{"gen_ai.completion": '[{"content": "Hi"}]'})
    ]
    as_text = [event("gen_ai.content.completion", **{"gen_ai.completion": "Hi"})]
    for events in (as_messages, as_text):
        content = span_event_content(events)
        assert content.outputs == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hi"}]}
        ]


def test_finish_reasons_come_from_the_completion_when_the_span_has_none() -> None:
    attributes = {k: v for k, v in V1_26.items() if k != "gen_ai.response.finish_reasons"}
    result = CONVENTION.conversation(attributes, events=PROMPT_EVENTS)
    assert result["finish_reasons"] == ["stop"]
    assert result["finish_reasons_normalized"] == ["stop"]


def test_the_attributes_messages_win_over_span_events() -> None:
    current = [{"role": "user", "parts": [{"type": "text", "content": "Now"}]}]
    attributes = {**V1_26, "gen_ai.input.messages": json.dumps(current)}
    result = CONVENTION.conversation(attributes, events=PROMPT_EVENTS)
    assert result["input_messages"] == current
    assert result["output_messages"][0]["parts"] == [{"type": "text", "content": "Sunny, 18°C."}]


def test_other_span_events_are_not_content() -> None:
    events = [event("exception", **{"exception.message": "boom"}), event("gen_ai.content.prompt")]
    result = CONVENTION.conversation(V1_26, events=events)
    assert result["input_messages"] == result["output_messages"] == []


# --- per-message log events (1.28–1.36) ----------------------------------------------------------

LOG_EVENTS = [
    log("gen_ai.system.message", {"content": "You are a weather bot."}),
    log("gen_ai.user.message", {"content": "Weather in Paris?"}),
    log(
        "gen_ai.assistant.message",
        {
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
    ),
    log("gen_ai.tool.message", {"content": "18°C", "id": "call_1"}),
    log(
        "gen_ai.choice",
        {"index": 0, "finish_reason": "stop", "message": {"content": "Sunny, 18°C."}},
    ),
]


def test_log_events_give_the_messages_in_order() -> None:
    result = CONVENTION.conversation({"gen_ai.system": "openai"}, logs=LOG_EVENTS)
    assert result["system_instructions"] == [{"type": "text", "content": "You are a weather bot."}]
    assert result["input_messages"] == EXPECTED_INPUTS[1:]
    assert result["output_messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny, 18°C."}],
            "index": 0,
            "finish_reason": "stop",
        }
    ]
    assert result["finish_reasons"] == ["stop"]


def test_the_event_name_may_be_an_attribute() -> None:
    """Older SDKs named the event in the `event.name` attribute."""
    named = [
        {**record, "event_name": None, "attributes": {"event.name": record["event_name"]}}
        for record in LOG_EVENTS
    ]
    assert log_event_content(named) == log_event_content(LOG_EVENTS)


def test_choices_make_a_message_per_index() -> None:
    choices = [
        log("gen_ai.choice", {"index": 1, "finish_reason": "length", "message": {"content": "B"}}),
        log("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "A"}}),
        log(
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"content": None},
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
        ),
    ]
    content = log_event_content(choices)
    assert [m["parts"] for m in content.outputs] == [
        [{"type": "text", "content": "B"}],
        [
            {"type": "text", "content": "A"},
            {"type": "tool_call", "id": "c", "name": "f", "arguments": {}},
        ],
    ]
    assert content.finish_reasons == ["length", "stop"]
    merged = log_event_content(choices, merge_choices=True)
    assert len(merged.outputs) == 1
    assert len(merged.outputs[0]["parts"]) == 3


def test_a_body_in_provider_blocks_and_a_body_of_tools() -> None:
    """As OpenLLMetry's events mode sends them (conventions.md 4.1)."""
    logs = [
        log("gen_ai.system.message", {"content": [{"type": "text", "text": "Be brief."}]}),
        log("gen_ai.user.message", {"content": {"tools": [{"name": "get_weather"}]}}),
        log(
            "gen_ai.choice", {"index": 0, "message": {"content": {"type": "text", "content": "Hi"}}}
        ),
    ]
    content = log_event_content(logs)
    assert content.system == [{"type": "text", "content": "Be brief."}]
    assert content.tools == [{"name": "get_weather"}]
    assert content.inputs == []
    assert content.outputs[0]["parts"] == [{"type": "text", "content": "Hi"}]


def test_an_event_without_content_is_an_empty_message() -> None:
    content = log_event_content([log("gen_ai.user.message", {}), log("gen_ai.user.message")])
    assert content.inputs == [{"role": "user", "parts": []}] * 2


def test_other_logs_are_not_content() -> None:
    logs = [log("", "app log line"), log("gen_ai.client.operation.exception", {"x": 1})]
    assert log_event_content(logs).is_empty()


# --- the details log record (1.37+), from a real capture ----------------------------------------


@pytest.mark.parametrize("scenario", ["plain_system", "tool_use", "stream_text", "error_400"])
def test_the_details_record_gives_what_the_span_left_out(scenario: str) -> None:
    """openai-v2 with `span_and_event` sends the messages both ways: each alone reads the same."""
    for span in LATEST.spans(scenario):
        logs = LATEST.logs_of(span)
        assert [record["event_name"] for record in logs] == [
            "gen_ai.client.inference.operation.details"
        ]
        bare = {k: v for k, v in span.attributes.items() if k not in CONTENT_KEYS}
        from_logs = CONVENTION.conversation(bare, events=span.stored_events, logs=logs)
        assert from_logs == CONVENTION.conversation(span.attributes)
        assert from_logs["input_messages"]


def test_the_details_of_a_tool_round_trip() -> None:
    _, second = LATEST.spans("tool_use")
    bare = {k: v for k, v in second.attributes.items() if k not in CONTENT_KEYS}
    result = CONVENTION.conversation(bare, logs=LATEST.logs_of(second))
    assert result["input_messages"][-1] == {
        "role": "tool",
        "parts": [
            {"response": "18°C and sunny", "id": "call_FAKEc8237b52", "type": "tool_call_response"}
        ],
    }
    assert result["finish_reasons_normalized"] == ["stop"]


def test_the_spans_own_values_win_over_the_details() -> None:
    details = [
        log(
            "gen_ai.client.inference.operation.details",
            None,
            **{"gen_ai.request.model": "a", "x": 1},
        )
    ]
    assert details_attributes(details) == {"gen_ai.request.model": "a", "x": 1}
    result = CONVENTION.conversation({"gen_ai.request.model": "b"}, logs=details)
    assert result["request_model"] == "b"


@pytest.mark.parametrize("name", ["openai_otel_v2_default", "openai_otel_v2_legacy_content"])
def test_runs_without_content_give_the_metadata(name: str) -> None:
    """The default run records no content; the legacy content flag recorded none either."""
    capture = load(name)
    assert capture.logs == []
    for scenario, spans in capture.scenarios.items():
        for span in spans:
            assert convention_for(span.attributes, span.scope_name) is CONVENTION
            result = CONVENTION.conversation(
                span.attributes, events=span.stored_events, logs=capture.logs_of(span)
            )
            assert result["input_messages"] == result["output_messages"] == []
            assert result["provider"] == "openai"
            if scenario != "error_400":
                assert result["usage"]["input_tokens"] == 135
                assert summary_columns(span.attributes)["llm_input_tokens"] == 135
            reasons = span.attributes.get("gen_ai.response.finish_reasons", [])
            assert result["finish_reasons"] == reasons


# --- through the collector -----------------------------------------------------------------------


def post(client: TestClient, message: Any, path: str) -> None:
    reply = client.post(
        path,
        content=message.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.content


def test_log_events_are_joined_to_their_span(client: TestClient) -> None:
    trace, ident = otlp.trace_id(), otlp.span_id()
    post(
        client,
        otlp.request(otlp.span("chat gpt-4o", trace=trace, ident=ident, attributes=V1_26)),
        "/v1/traces",
    )
    records = [
        otlp.log_record(
            record["body"],
            trace=trace,
            ident=ident,
            time_ns=otlp.BASE_NS + n * 1000,
            event_name=record["event_name"],
            attributes={"gen_ai.system": "openai"},
        )
        for n, record in enumerate(LOG_EVENTS)
    ]
    # A record of another span is not this call's.
    records.append(
        otlp.log_record(
            {"content": "elsewhere"},
            trace=trace,
            ident=otlp.span_id(),
            event_name="gen_ai.user.message",
        )
    )
    post(client, otlp.logs_request(*records), "/v1/logs")

    reply = client.get(f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}/conversation")
    assert reply.status_code == 200
    result = reply.json()
    assert result["convention"] == "otel-genai"
    assert result["system_instructions"] == [{"type": "text", "content": "You are a weather bot."}]
    assert result["input_messages"] == EXPECTED_INPUTS[1:]
    assert [m["parts"] for m in result["output_messages"]] == [
        [{"type": "text", "content": "Sunny, 18°C."}]
    ]


def test_the_details_record_is_joined_through_the_collector(client: TestClient) -> None:
    span = LATEST.spans("tool_use")[1]
    trace, ident = bytes.fromhex(span.trace_id), bytes.fromhex(span.span_id)
    bare = {k: v for k, v in span.attributes.items() if k not in CONTENT_KEYS}
    post(
        client,
        otlp.request(otlp.span(span.name, trace=trace, ident=ident, attributes=bare)),
        "/v1/traces",
    )
    [record] = [r for r in LATEST.logs if r["span_id"] == span.span_id]
    post(
        client,
        otlp.logs_request(
            otlp.log_record(
                None,
                trace=trace,
                ident=ident,
                event_name=record["event_name"],
                attributes=record["attributes"],
            )
        ),
        "/v1/logs",
    )

    reply = client.get(f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}/conversation")
    assert reply.status_code == 200
    expected = CONVENTION.conversation(span.attributes)
    result = reply.json()
    for key in ("system_instructions", "input_messages", "output_messages", "finish_reasons"):
        assert result[key] == expected[key], key
