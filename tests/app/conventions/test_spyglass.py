"""Spyglass's own spans: every part its client emits, and the request and stream spans of a call.

The parts are made by the client's real converter from Anthropic's block JSON, so a change to
what the client emits that the collector does not follow fails here. The calls are recorded
by the client's real `Call` and `StreamRecorder`, and read back through real OTLP.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from app.conventions import convention_for, summary_columns
from app.conventions.pairing import pair_tool_calls
from app.conventions.spyglass import CONVENTION, MAX_TIMELINE_POINTS, timeline
from spyglass._settings import Settings
from tests.app.conventions.client_spans import (
    CHUNK_SIZE,
    MODEL,
    ClientSpans,
    body,
    converted,
    input_messages,
    output_messages,
    response,
)
from tests.app.conventions.encodings import encoded, structured
from tests.fake_anthropic import (
    char_location_citation,
    message_events,
    redacted_thinking_block,
    server_tool_use_block,
    text_block,
    thinking_block,
    tool_use_block,
    web_search_tool_result_block,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PNG_B64 = base64.b64encode(PNG).decode()
PNG_SHA = hashlib.sha256(PNG).hexdigest()
CITATION = char_location_citation("Paris is the capital", document_title="Atlas")
SEARCH_RESULT = {
    "type": "search_result",
    "source": "https://example.com/guide",
    "title": "The guide",
    "content": [{"type": "text", "text": "Step one."}],
}


def request_span(**attributes: Any) -> dict[str, Any]:
    return {
        "spyglass.span.type": "llm.request",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        **attributes,
    }


# --- every part the client emits ------------------------------------------------------------------

# (Anthropic block, the part the conversation shows, client settings)
BLOCKS: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {
    "text": (text_block("Hi there"), {"type": "text", "content": "Hi there"}, {}),
    "bare string": ("Hi there", {"type": "text", "content": "Hi there"}, {}),
    "text with citations": (
        text_block("Paris is the capital.", [CITATION]),
        {"type": "text", "content": "Paris is the capital.", "citations": [CITATION]},
        {},
    ),
    "truncated text": (
        text_block("x" * 500),
        {"type": "text", "content": "x" * 100, "truncated": True, "original_length": 500},
        {"max_text_chars": 100},
    ),
    "reasoning": (
        thinking_block("Think first.", "sig_Think"),
        {"type": "reasoning", "content": "Think first.", "signature": "sig_Think"},
        {},
    ),
    "reasoning redacted": (
        redacted_thinking_block("ZW5jcnlwdGVk"),
        {"type": "reasoning", "redacted": True, "data": "ZW5jcnlwdGVk", "data_length": 12},
        {},
    ),
    "tool_call": (
        tool_use_block("get_weather", {"city": "Paris", "days": [1, 2]}, "toolu_1"),
        {
            "type": "tool_call",
            "id": "toolu_1",
            "name": "get_weather",
            "arguments": {"city": "Paris", "days": [1, 2]},
        },
        {},
    ),
    "tool_call with partial arguments": (
        {**tool_use_block("f", {}, "toolu_2"), "partial_input_json": '{"city": "Pa'},
        {
            "type": "tool_call",
            "id": "toolu_2",
            "name": "f",
            "arguments": {},
            "partial_arguments": '{"city": "Pa',
        },
        {},
    ),
    "tool_call_response string": (
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21°C"},
        {"type": "tool_call_response", "id": "toolu_1", "response": "21°C", "is_error": False},
        {},
    ),
    "tool_call_response parts": (
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": [
                text_block("The map:"),
                {"type": "image", "source": {"type": "url", "url": "https://x/m.png"}},
            ],
        },
        {
            "type": "tool_call_response",
            "id": "toolu_1",
            "response": [
                {"type": "text", "content": "The map:"},
                {"type": "uri", "modality": "image", "uri": "https://x/m.png"},
            ],
            "is_error": False,
        },
        {},
    ),
    "tool_call_response error": (
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "down", "is_error": True},
        {"type": "tool_call_response", "id": "toolu_1", "response": "down", "is_error": True},
        {},
    ),
    "server_tool_call": (
        server_tool_use_block({"query": "weather"}, tool_use_id="srvtoolu_1"),
        {
            "type": "server_tool_call",
            "id": "srvtoolu_1",
            "name": "web_search",
            "arguments": {"query": "weather"},
            "anthropic_type": "server_tool_use",
        },
        {},
    ),
    "mcp server_tool_call": (
        {
            "type": "mcp_tool_use",
            "id": "mcptoolu_1",
            "name": "lookup",
            "server_name": "docs",
            "input": {"q": "x"},
        },
        {
            "type": "server_tool_call",
            "id": "mcptoolu_1",
            "name": "lookup",
            "arguments": {"q": "x"},
            "anthropic_type": "mcp_tool_use",
            "server_name": "docs",
        },
        {},
    ),
    "server_tool_call_response": (
        web_search_tool_result_block([("https://w.example", "Weather")], "srvtoolu_1"),
        {
            "type": "server_tool_call_response",
            "id": "srvtoolu_1",
            "anthropic_type": "web_search_tool_result",
            "response": [
                {
                    "type": "web_search_result",
                    "url": "https://w.example",
                    "title": "Weather",
                    "encrypted_content": "ZmFrZQ==",
                }
            ],
        },
        {},
    ),
    "mcp server_tool_call_response error": (
        {
            "type": "mcp_tool_result",
            "tool_use_id": "mcptoolu_1",
            "is_error": True,
            "content": [text_block("no")],
        },
        {
            "type": "server_tool_call_response",
            "id": "mcptoolu_1",
            "anthropic_type": "mcp_tool_result",
            "response": [{"type": "text", "text": "no"}],
            "is_error": True,
        },
        {},
    ),
    "blob without content": (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": len(PNG),
            "sha256": PNG_SHA,
        },
        {},
    ),
    "blob with content": (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": len(PNG),
            "sha256": PNG_SHA,
            "content": PNG_B64,
        },
        {"keep_media": True},
    ),
    "blob too large to keep": (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": len(PNG),
            "sha256": PNG_SHA,
            "truncated": True,
        },
        {"keep_media": True, "max_text_chars": 100},
    ),
    "document blob": (
        {
            "type": "document",
            "title": "Report",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PNG_B64},
        },
        {
            "type": "blob",
            "modality": "document",
            "mime_type": "application/pdf",
            "size": len(PNG),
            "sha256": PNG_SHA,
            "title": "Report",
        },
        {},
    ),
    "uri": (
        {"type": "image", "source": {"type": "url", "url": "https://x/cat.jpg"}},
        {"type": "uri", "modality": "image", "uri": "https://x/cat.jpg"},
        {},
    ),
    "file": (
        {"type": "document", "source": {"type": "file", "file_id": "file_01"}},
        {"type": "file", "modality": "document", "file_id": "file_01"},
        {},
    ),
    "document text": (
        {
            "type": "document",
            "title": "Notes",
            "citations": {"enabled": True},
            "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."},
        },
        {
            "type": "document",
            "content": "Plain notes.",
            "mime_type": "text/plain",
            "title": "Notes",
            "citations": {"enabled": True},
        },
        {},
    ),
    "document content": (
        {"type": "document", "source": {"type": "content", "content": [text_block("Chunk.")]}},
        {"type": "document", "content": [{"type": "text", "content": "Chunk."}]},
        {},
    ),
    "search_result": (
        SEARCH_RESULT,
        {
            "type": "search_result",
            "source": "https://example.com/guide",
            "title": "The guide",
            "content": [{"type": "text", "content": "Step one."}],
        },
        {},
    ),
    "unknown kind": (
        {"type": "container_upload", "file_id": "file_9", "extra": [1, None]},
        {
            "type": "container_upload",
            "raw": {"type": "container_upload", "file_id": "file_9", "extra": [1, None]},
        },
        {},
    ),
    "unknown media source": (
        {"type": "image", "source": {"type": "s3", "key": "k"}},
        {"type": "image", "raw": {"type": "image", "source": {"type": "s3", "key": "k"}}},
        {},
    ),
    "not a block": (5, {"type": "unknown", "raw": 5}, {}),
    "unparsed deltas": (
        {**text_block("Hi"), "unparsed_deltas": [{"type": "future_delta", "x": 1}]},
        {"type": "text", "content": "Hi", "unparsed_deltas": [{"type": "future_delta", "x": 1}]},
        {},
    ),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_every_part_of_the_input(name: str, encoding: str) -> None:
    block, part, settings = BLOCKS[name]
    messages = input_messages({"role": "user", "content": [block]}, settings=Settings(**settings))
    attributes = request_span(**{"gen_ai.input.messages": encoded(messages, encoding)})

    result = CONVENTION.conversation(attributes)

    assert result["input_messages"] == [{"role": "user", "parts": [part]}]


@pytest.mark.parametrize("name", BLOCKS)
def test_every_part_of_the_output(name: str, encoding: str) -> None:
    block, part, settings = BLOCKS[name]
    messages = output_messages(block, stop_reason="end_turn", **settings)
    attributes = request_span(
        **{
            "gen_ai.output.messages": encoded(messages, encoding),
            "gen_ai.response.finish_reasons": structured(["end_turn"]),
        }
    )

    result = CONVENTION.conversation(attributes)

    assert result["output_messages"] == [
        {"role": "assistant", "parts": [part], "finish_reason": "end_turn"}
    ]
    assert result["finish_reasons"] == ["end_turn"]


def test_system_instructions_and_tools(encoding: str) -> None:
    system = converted(lambda c: c.system([text_block("Be terse."), text_block("Be kind.")]))
    tools = converted(
        lambda c: c.tools(
            [
                {"name": "get_weather", "description": "Weather.", "input_schema": {}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
            ]
        )
    )
    attributes = request_span(
        **{
            "gen_ai.system_instructions": encoded(system, encoding),
            "gen_ai.tool.definitions": encoded(tools, encoding),
        }
    )

    result = CONVENTION.conversation(attributes)

    assert result["system_instructions"] == [
        {"type": "text", "content": "Be terse."},
        {"type": "text", "content": "Be kind."},
    ]
    assert result["tools"] == [
        {"type": "function", "name": "get_weather", "description": "Weather.", "parameters": {}},
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "raw": {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
        },
    ]


def test_a_tool_round_trip_pairs_each_call_with_its_result() -> None:
    messages = input_messages(
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                tool_use_block("get_weather", {"city": "Paris"}, "toolu_1"),
                tool_use_block("get_news", {}, "toolu_2"),
                server_tool_use_block({"query": "q"}, tool_use_id="srvtoolu_1"),
                web_search_tool_result_block([("https://x", "X")], "srvtoolu_1"),
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "no",
                    "is_error": True,
                },
            ],
        },
    )
    result = CONVENTION.conversation(request_span(**{"gen_ai.input.messages": messages}))

    pairs = pair_tool_calls(result)

    assert set(pairs) == {"toolu_1", "toolu_2", "srvtoolu_1"}
    assert pairs["toolu_1"]["response"] == "18°C"
    assert pairs["toolu_2"]["is_error"] is True
    assert pairs["srvtoolu_1"]["type"] == "server_tool_call_response"


# --- which spans, and their summaries -----------------------------------------------------------


def test_spyglass_spans_are_claimed_before_the_genai_convention() -> None:
    assert convention_for(request_span()) is CONVENTION
    assert convention_for({"spyglass.span.type": "llm.stream"}) is CONVENTION
    assert convention_for({"spyglass.span.type": "other", "gen_ai.system": "x"}) is not CONVENTION


def test_the_request_span_is_the_call_and_the_stream_span_a_part_of_it(
    client_spans: ClientSpans,
) -> None:
    request, stream = client_spans.streamed_call(body(), response(text_block("Hello there")))

    call, part = summary_columns(request), summary_columns(stream)

    assert (call["llm_convention"], part["llm_convention"]) == ("spyglass", "spyglass")
    assert (call["llm_is_call"], part["llm_is_call"]) == (True, False)
    assert (call["llm_streaming"], part["llm_streaming"]) == (True, True)
    assert part["llm_ttft_ms"] == stream["spyglass.stream.time_to_first_token_ms"]
    assert part["llm_input_tokens"] == 135  # the client counts the whole input
    assert part["llm_finish_reasons"] == ["end_turn"]


# --- whole calls, from the client's real spans ----------------------------------------------------


def test_a_call(client_spans: ClientSpans) -> None:
    params = body(
        {"role": "user", "content": "Weather in Paris?"},
        system="Be terse.",
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "u1"},
        stop_sequences=["###"],
        tools=[{"name": "get_weather", "description": "W.", "input_schema": {}}],
    )
    message = response(
        thinking_block("Look it up."),
        tool_use_block("get_weather", {"city": "Paris"}, "toolu_1"),
        stop_reason="tool_use",
    )
    attributes = client_spans.call(params, message)

    result = CONVENTION.conversation(attributes)

    assert result == {
        "provider": "anthropic",
        "operation": "chat",
        "request_model": MODEL,
        "response_model": f"{MODEL}-20260101",
        "system_instructions": [{"type": "text", "content": "Be terse."}],
        "input_messages": [
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
        ],
        "output_messages": [
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "Look it up.", "signature": "sig_fake"},
                    {
                        "type": "tool_call",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                    },
                ],
                "finish_reason": "tool_use",
            }
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "description": "W.", "parameters": {}}
        ],
        # Every parameter sent, by its API name; the model is the call's, not a parameter.
        "request_params": {
            "max_tokens": 1000,
            "stop_sequences": ["###"],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "u1"},
        },
        "usage": {
            "input_tokens": 135,
            "output_tokens": 9,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 10,
        },
        "finish_reasons": ["tool_use"],
        "finish_reasons_normalized": ["tool_call"],
        "error": None,
        "streaming": None,
    }


def test_a_call_recorded_without_content(client_spans: ClientSpans) -> None:
    client_spans.settings(Settings(capture_content=False))
    params = body(
        thinking={"type": "enabled", "budget_tokens": 1024},
        tool_choice={"type": "tool", "name": "get_weather"},
        service_tier="auto",
        metadata={"user_id": "u1"},
    )
    attributes = client_spans.call(params, response(text_block("Hi")))

    result = CONVENTION.conversation(attributes)

    assert result["input_messages"] == result["output_messages"] == []
    assert result["request_params"] == {
        "max_tokens": 1000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tool_choice": {"type": "tool"},  # the forced tool's name is content
        "service_tier": "auto",
    }
    assert result["usage"]["input_tokens"] == 135


STREAMED = response(
    thinking_block("Let me see."),
    text_block("It is sunny."),
    tool_use_block("get_weather", {"city": "Paris"}, "toolu_1"),
    stop_reason="tool_use",
)


def test_a_streamed_call_is_its_request_with_the_output_and_timing_of_its_stream(
    client_spans: ClientSpans,
) -> None:
    request, stream = client_spans.streamed_call(body(system="Be terse."), STREAMED)

    result = CONVENTION.conversation(request, [stream])

    assert result["system_instructions"] == [{"type": "text", "content": "Be terse."}]
    assert result["input_messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    ]
    [output] = result["output_messages"]
    assert [part["type"] for part in output["parts"]] == ["reasoning", "text", "tool_call"]
    assert output["parts"][2]["arguments"] == {"city": "Paris"}
    assert output["finish_reason"] == "tool_use"
    assert result["finish_reasons"] == ["tool_use"]
    assert result["response_model"] == f"{MODEL}-20260101"
    assert result["usage"]["input_tokens"] == 135
    assert result["request_params"] == {"max_tokens": 1000, "stream": True}

    streaming = result["streaming"]
    assert streaming["complete"] is True
    assert streaming["outcome"] == "complete"
    assert streaming["chunk_count"] == stream["spyglass.stream.chunk_count"] > 0
    assert streaming["output_chars"] == stream["spyglass.stream.output_chars"]
    assert streaming["time_to_first_token_ms"] == stream["spyglass.stream.time_to_first_token_ms"]
    assert 0 < streaming["time_to_first_token_ms"] <= streaming["duration_ms"]
    assert streaming["output_tokens_per_second"] > 0
    assert streaming["timeline"] == json.loads(stream["spyglass.stream.timeline"])
    assert streaming["timeline"][-1][1] == streaming["output_chars"]


def test_the_stream_span_alone_is_the_output(client_spans: ClientSpans) -> None:
    """Its request span not stored (yet): what the stream span knows is still shown."""
    request, stream = client_spans.streamed_call(body(), STREAMED)

    alone = CONVENTION.conversation(stream)
    together = CONVENTION.conversation(request, [stream])

    assert alone["input_messages"] == []
    for key in ("output_messages", "usage", "finish_reasons", "response_model", "streaming"):
        assert alone[key] == together[key], key
    assert alone["request_model"] == MODEL


def test_a_streamed_request_whose_stream_span_has_not_arrived(client_spans: ClientSpans) -> None:
    """It streamed, so `streaming` is not None; nothing is known of the stream yet."""
    request, _ = client_spans.streamed_call(body(), STREAMED)

    result = CONVENTION.conversation(request)

    assert result["input_messages"] != []
    assert result["output_messages"] == []
    assert result["usage"]["input_tokens"] is None
    assert result["streaming"] == {
        "time_to_first_token_ms": None,
        "duration_ms": None,
        "chunk_count": None,
        "output_chars": None,
        "output_tokens_per_second": None,
        "complete": None,
        "outcome": None,
        "timeline": [],
    }


def test_a_stream_closed_before_its_end(client_spans: ClientSpans) -> None:
    # Closed after the first piece of the tool call's input JSON.
    sent = [event for _, event in message_events(STREAMED, chunk_size=CHUNK_SIZE)]
    json_delta = next(
        n
        for n, event in enumerate(sent)
        if event.get("delta", {}).get("type") == "input_json_delta"
    )
    request, stream = client_spans.streamed_call(body(), STREAMED, events=json_delta + 1)

    result = CONVENTION.conversation(request, [stream])

    assert result["streaming"]["complete"] is False
    assert result["streaming"]["outcome"] == "closed"
    [output] = result["output_messages"]
    assert output["incomplete"] is True
    assert output["finish_reason"] is None
    assert result["finish_reasons"] == []
    assert output["parts"][-1]["type"] == "tool_call"
    assert "partial_arguments" in output["parts"][-1]


def test_other_child_spans_are_not_the_stream() -> None:
    request = request_span(**{"gen_ai.request.stream": True})
    other = {"spyglass.span.type": "llm.request", "gen_ai.output.messages": "[]"}

    result = CONVENTION.conversation(request, [other, "junk", None])  # type: ignore[list-item]

    assert result["streaming"]["outcome"] is None


# --- the timeline ----------------------------------------------------------------------------------

POINTS = [[0.0, 0], [412.0, 12], [455.25, 31]]


@pytest.mark.parametrize("value", [json.dumps(POINTS), structured(POINTS), POINTS])
def test_the_timeline_as_json_text_or_a_structured_list(value: Any) -> None:
    assert timeline(value) == POINTS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("not json", []),
        ("[[1, 2], [3]", []),
        ({"a": 1}, []),
        (
            [[1, 2], [3], "x", None, [1, 2, 3], ["a", 1], [2.5, 3.0], [True, 1]],
            [[1.0, 2], [2.5, 3]],
        ),
        ([[float("nan"), 1], [1, -5], [2, "NaN"], [3, 4]], [[3.0, 4]]),
    ],
)
def test_points_that_are_not_pairs_of_numbers_are_left_out(value: Any, expected: list) -> None:
    assert timeline(value) == expected


def test_a_very_long_timeline_is_thinned_keeping_the_first_and_last_points() -> None:
    points = [[float(n), n] for n in range(100_001)]

    thinned = timeline(points)

    assert len(thinned) <= MAX_TIMELINE_POINTS
    assert thinned[0] == [0.0, 0]
    assert thinned[-1] == [100_000.0, 100_000]
    assert thinned == sorted(thinned)


def test_the_stream_span_attributes_as_structured_values() -> None:
    stream = {
        "spyglass.span.type": "llm.stream",
        "spyglass.stream.complete": True,
        "spyglass.stream.outcome": "complete",
        "spyglass.stream.chunk_count": 3,
        "spyglass.stream.duration_ms": 500.5,
        "spyglass.stream.timeline": structured(POINTS),
        "gen_ai.response.time_to_first_chunk": 0.412,  # when the spyglass key is missing
    }

    streaming = CONVENTION.conversation(request_span(), [stream])["streaming"]

    assert streaming["timeline"] == POINTS
    assert streaming["time_to_first_token_ms"] == pytest.approx(412.0)
    assert (streaming["chunk_count"], streaming["duration_ms"]) == (3, 500.5)
