"""What a chat span records of the conversation: every block type, media, tools, and the caps.

The first half makes real calls and reads the JSON attributes; the second half tests
`_content.Converter` and `encode` directly, for the cases a call cannot reach cheaply.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import anthropic
import pytest
from anthropic.types import Message

from spyglass import _settings
from spyglass._anthropic._content import MIN_TEXT_CHARS, Converter, encode, plain
from spyglass._settings import Settings
from tests.fake_anthropic import (
    FakeAnthropic,
    Reply,
    char_location_citation,
    redacted_thinking_block,
    server_tool_use_block,
    text_block,
    thinking_block,
    tool_use_block,
    web_search_citation,
    web_search_tool_result_block,
)
from tests.instrumentation.conftest import MODEL, Captured, ask

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PNG_B64 = base64.b64encode(PNG).decode()
PDF = b"%PDF-1.7\n" + b"fake pdf body " * 50
PDF_B64 = base64.b64encode(PDF).decode()
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


def input_parts(spans: Captured) -> list[list[dict[str, Any]]]:
    return [message["parts"] for message in Captured.json(spans.one(), "gen_ai.input.messages")]


def output_parts(spans: Captured) -> list[dict[str, Any]]:
    [message] = Captured.json(spans.one(), "gen_ai.output.messages")
    return message["parts"]


def all_attribute_text(spans: Captured) -> str:
    return "\n".join(str(value) for span in spans.spans for value in span.attributes.values())


# --- response blocks ----------------------------------------------------------------------------


def test_response_blocks_text_citations_thinking_and_tool_use(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    citation = char_location_citation("Paris is the capital", document_title="Atlas")
    fake.enqueue(
        Reply.message(
            [
                thinking_block("The user asks about France.", "sig_France_42"),
                redacted_thinking_block("ZW5jcnlwdGVk"),
                text_block("Paris is the capital.", [citation]),
                tool_use_block("get_weather", {"city": "Paris", "days": [1, 2]}),
            ],
            stop_reason="tool_use",
        )
    )

    ask(client)

    [message] = Captured.json(spans.one(), "gen_ai.output.messages")
    assert message["role"] == "assistant"
    assert message["finish_reason"] == "tool_use"
    assert message["parts"] == [
        {
            "type": "reasoning",
            "content": "The user asks about France.",
            "signature": "sig_France_42",
        },
        {"type": "reasoning", "redacted": True, "data": "ZW5jcnlwdGVk", "data_length": 12},
        {"type": "text", "content": "Paris is the capital.", "citations": [citation]},
        {
            "type": "tool_call",
            "id": "toolu_fake0001",
            "name": "get_weather",
            "arguments": {"city": "Paris", "days": [1, 2]},
        },
    ]
    assert spans.one().attributes["gen_ai.response.finish_reasons"] == ("tool_use",)


def test_a_tool_round_trip_records_api_json_never_reprs(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    fake.enqueue(
        Reply.message(
            [
                text_block("Let me look."),
                tool_use_block("get_weather", {"city": "Paris"}, "toolu_1"),
                tool_use_block("get_map", {"city": "Paris"}, "toolu_2"),
                tool_use_block("get_news", {"city": "Paris"}, "toolu_3"),
            ],
            stop_reason="tool_use",
        )
    )
    question = {"role": "user", "content": "Weather, map and news for Paris?"}
    first = client.messages.create(
        model=MODEL, max_tokens=100, messages=[question], tools=[WEATHER_TOOL]
    )
    results = user(
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21°C and sunny"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": [
                {"type": "text", "text": "The map:"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                },
            ],
        },
        {
            "type": "tool_result",
            "tool_use_id": "toolu_3",
            "content": "news service unavailable",
            "is_error": True,
        },
    )
    spans.exporter.clear()

    client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[question, {"role": "assistant", "content": first.content}, results],
    )

    asked, answered, returned = Captured.json(spans.one(), "gen_ai.input.messages")
    assert asked == {
        "role": "user",
        "parts": [{"type": "text", "content": "Weather, map and news for Paris?"}],
    }
    assert answered == {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Let me look."},
            {
                "type": "tool_call",
                "id": "toolu_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            },
            {
                "type": "tool_call",
                "id": "toolu_2",
                "name": "get_map",
                "arguments": {"city": "Paris"},
            },
            {
                "type": "tool_call",
                "id": "toolu_3",
                "name": "get_news",
                "arguments": {"city": "Paris"},
            },
        ],
    }
    assert returned["role"] == "user"
    assert returned["parts"] == [
        {
            "type": "tool_call_response",
            "id": "toolu_1",
            "response": "21°C and sunny",
            "is_error": False,
        },
        {
            "type": "tool_call_response",
            "id": "toolu_2",
            "response": [
                {"type": "text", "content": "The map:"},
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "size": len(PNG),
                    "sha256": hashlib.sha256(PNG).hexdigest(),
                },
            ],
            "is_error": False,
        },
        {
            "type": "tool_call_response",
            "id": "toolu_3",
            "response": "news service unavailable",
            "is_error": True,
        },
    ]
    text = all_attribute_text(spans)
    for repr_marker in ("TextBlock(", "ToolUseBlock(", "citations=None"):
        assert repr_marker not in text
    assert PNG_B64 not in text


def test_server_tool_use_and_its_result(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    search = server_tool_use_block({"query": "capital of France"})
    results = web_search_tool_result_block([("https://example.org/paris", "Paris")])
    citation = web_search_citation("https://example.org/paris", "Paris is the capital", "Paris")
    fake.enqueue(Reply.message([search, results, text_block("Paris.", [citation])]))

    first = ask(client, tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert output_parts(spans) == [
        {
            "type": "server_tool_call",
            "id": "srvtoolu_fake0001",
            "name": "web_search",
            "arguments": {"query": "capital of France"},
            "anthropic_type": "server_tool_use",
        },
        {
            "type": "server_tool_call_response",
            "id": "srvtoolu_fake0001",
            "anthropic_type": "web_search_tool_result",
            "response": results["content"],
        },
        {"type": "text", "content": "Paris.", "citations": [citation]},
    ]

    # Passed back as SDK objects, the same blocks read the same.
    spans.exporter.clear()
    ask(
        client,
        messages=[
            user({"type": "text", "text": "Capital?"}),
            {"role": "assistant", "content": first.content},
        ],
    )
    assert input_parts(spans)[1] == [
        {
            "type": "server_tool_call",
            "id": "srvtoolu_fake0001",
            "name": "web_search",
            "arguments": {"query": "capital of France"},
            "anthropic_type": "server_tool_use",
        },
        {
            "type": "server_tool_call_response",
            "id": "srvtoolu_fake0001",
            "anthropic_type": "web_search_tool_result",
            "response": results["content"],
        },
        {"type": "text", "content": "Paris.", "citations": [citation]},
    ]


def test_search_result_blocks(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    search_result = {
        "type": "search_result",
        "source": "https://docs.example.org/guide",
        "title": "The guide",
        "content": [{"type": "text", "text": "Step one: read the guide."}],
        "citations": {"enabled": True},
    }
    ask(
        client,
        messages=[
            user(search_result, {"type": "text", "text": "Summarise."}),
            {"role": "assistant", "content": [tool_use_block("search", {"q": "guide"}, "toolu_s")]},
            user({"type": "tool_result", "tool_use_id": "toolu_s", "content": [search_result]}),
        ],
    )

    expected = {
        "type": "search_result",
        "source": "https://docs.example.org/guide",
        "title": "The guide",
        "content": [{"type": "text", "content": "Step one: read the guide."}],
        "citations": {"enabled": True},
    }
    parts = input_parts(spans)
    assert parts[0] == [expected, {"type": "text", "content": "Summarise."}]
    assert parts[2][0]["response"] == [expected]


def test_an_unknown_block_type_passes_through_raw(
    fake: FakeAnthropic, client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    hologram = {"type": "hologram", "frames": [1, 2, 3], "caption": "a cat"}
    fake.enqueue(Reply.message([hologram]))

    ask(client, messages=[user({"type": "sticker", "sticker_id": "stk_1"})])

    assert input_parts(spans) == [
        [{"type": "sticker", "raw": {"type": "sticker", "sticker_id": "stk_1"}}]
    ]
    assert output_parts(spans) == [{"type": "hologram", "raw": hologram}]


# --- images and documents -----------------------------------------------------------------------

MEDIA_MESSAGE = user(
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.png"}},
    {"type": "image", "source": {"type": "file", "file_id": "file_img1"}},
    {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "Report",
    },
    {"type": "document", "source": {"type": "url", "url": "https://example.org/report.pdf"}},
    {"type": "document", "source": {"type": "file", "file_id": "file_doc1"}},
    {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."},
        "citations": {"enabled": True},
    },
    {
        "type": "document",
        "source": {"type": "content", "content": [{"type": "text", "text": "Chunk one."}]},
        "context": "From the wiki",
    },
    {"type": "text", "text": "Describe these."},
)


def test_media_data_is_replaced_by_type_size_and_hash(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    ask(client, messages=[MEDIA_MESSAGE])

    [parts] = input_parts(spans)
    assert parts == [
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/png",
            "size": len(PNG),
            "sha256": hashlib.sha256(PNG).hexdigest(),
        },
        {"type": "uri", "modality": "image", "uri": "https://example.org/cat.png"},
        {"type": "file", "modality": "image", "file_id": "file_img1"},
        {
            "type": "blob",
            "modality": "document",
            "mime_type": "application/pdf",
            "size": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
            "title": "Report",
        },
        {"type": "uri", "modality": "document", "uri": "https://example.org/report.pdf"},
        {"type": "file", "modality": "document", "file_id": "file_doc1"},
        {
            "type": "document",
            "content": "Plain notes.",
            "mime_type": "text/plain",
            "citations": {"enabled": True},
        },
        {
            "type": "document",
            "content": [{"type": "text", "content": "Chunk one."}],
            "context": "From the wiki",
        },
        {"type": "text", "content": "Describe these."},
    ]
    text = all_attribute_text(spans)
    assert PNG_B64 not in text
    assert PDF_B64 not in text


def test_keep_media_keeps_the_base64_data(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    _settings.update(keep_media=True)

    ask(client, messages=[MEDIA_MESSAGE])

    [parts] = input_parts(spans)
    assert parts[0]["content"] == PNG_B64
    assert parts[0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert parts[3]["content"] == PDF_B64
    assert "content" not in parts[1]


# --- tool definitions ---------------------------------------------------------------------------


def test_tool_definitions(client: anthropic.Anthropic, spans: Captured, instrumented: Any) -> None:
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}

    ask(
        client,
        tools=[WEATHER_TOOL, web_search],
        tool_choice={"type": "tool", "name": "get_weather"},
    )

    span = spans.one()
    assert Captured.json(span, "gen_ai.tool.definitions") == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": WEATHER_TOOL["input_schema"],
        },
        {"type": "web_search_20250305", "name": "web_search", "raw": web_search},
    ]
    assert span.attributes["anthropic.tool_choice.type"] == "tool"
    assert span.attributes["anthropic.tool_choice.name"] == "get_weather"
    # Tools are content: they are not repeated among the parameters.
    assert "tools" not in Captured.json(span, "anthropic.request.parameters")


# --- capture off --------------------------------------------------------------------------------


def _metadata_only(spans: Captured) -> None:
    span = spans.one()
    for key in CONTENT_KEYS:
        assert key not in span.attributes
    assert span.attributes["gen_ai.request.model"] == MODEL
    assert span.attributes["gen_ai.response.model"] == MODEL
    assert span.attributes["gen_ai.usage.input_tokens"] == 135
    assert span.attributes["gen_ai.usage.output_tokens"] == 12
    assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert "Top secret" not in all_attribute_text(spans)
    assert "Hello! How can I help?" not in all_attribute_text(spans)


def test_capture_off_by_setting_records_metadata_only(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    _settings.update(capture_content=False)

    ask(client, system="Top secret system prompt", tools=[WEATHER_TOOL])

    _metadata_only(spans)


def test_capture_off_by_environment_records_metadata_only(
    client: anthropic.Anthropic,
    spans: Captured,
    instrumented: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")

    ask(client, system="Top secret system prompt", tools=[WEATHER_TOOL])

    _metadata_only(spans)


def test_capture_off_leaves_out_stop_sequences_and_the_forced_tool(
    client: anthropic.Anthropic, fake: FakeAnthropic, spans: Captured, instrumented: Any
) -> None:
    # They are the user's words and the tools' names: content, as the SDK's own tracing has it.
    _settings.update(capture_content=False)
    fake.enqueue(Reply.message(stop_reason="stop_sequence", stop_sequence="PATIENT-SSN-123"))

    ask(
        client,
        stop_sequences=["PATIENT-SSN-123"],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )

    attributes = spans.one().attributes
    assert "PATIENT-SSN-123" not in all_attribute_text(spans)
    assert "get_weather" not in all_attribute_text(spans)
    assert attributes["anthropic.tool_choice.type"] == "tool"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop_sequence",)


def test_capture_on_records_stop_sequences_and_the_forced_tool(
    client: anthropic.Anthropic, fake: FakeAnthropic, spans: Captured, instrumented: Any
) -> None:
    fake.enqueue(Reply.message(stop_reason="stop_sequence", stop_sequence="END"))

    ask(client, stop_sequences=["END"], tool_choice={"type": "tool", "name": "get_weather"})

    attributes = spans.one().attributes
    assert attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert attributes["anthropic.response.stop_sequence"] == "END"
    assert attributes["anthropic.tool_choice.name"] == "get_weather"


def test_other_parameters_are_bounded_like_any_content(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    settings = _settings.current()

    ask(client, metadata={"user_id": "u" * 3_000_000}, extra_body={"note": "kept"})

    attributes = spans.one().attributes
    text = attributes["anthropic.request.parameters"]
    assert len(text.encode()) <= settings.max_attribute_bytes
    parameters = json.loads(text)
    assert parameters["metadata"]["user_id"] == "u" * settings.max_text_chars
    assert parameters["note"] == "kept"
    assert attributes["spyglass.content.truncated"] is True


# --- size caps ----------------------------------------------------------------------------------


def test_a_giant_text_is_cut_and_marked(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    limit = _settings.current().max_text_chars
    giant = "x" * 300_000

    ask(client, messages=[{"role": "user", "content": giant}])

    span = spans.one()
    [[part]] = input_parts(spans)
    assert part == {
        "type": "text",
        "content": "x" * limit,
        "truncated": True,
        "original_length": 300_000,
    }
    assert span.attributes["spyglass.content.truncated"] is True


def test_many_medium_messages_stay_within_the_attribute_cap(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    cap = _settings.current().max_attribute_bytes
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i:03d}" + "y" * 60_000}
        for i in range(40)
    ]  # about 2.4 MB of text, no single one over the per-text limit

    ask(client, messages=messages)

    span = spans.one()
    encoded = span.attributes["gen_ai.input.messages"]
    assert len(encoded.encode()) <= cap
    assert span.attributes["spyglass.content.truncated"] is True
    recorded = input_parts(spans)
    assert len(recorded) == 40  # the structure stays whole, the texts are cut
    assert [parts[0]["content"][:3] for parts in recorded] == [f"{i:03d}" for i in range(40)]
    assert all(
        parts[0]["truncated"] and parts[0]["original_length"] == 60_003 for parts in recorded
    )


def test_a_small_call_is_not_marked_truncated(
    client: anthropic.Anthropic, spans: Captured, instrumented: Any
) -> None:
    ask(client)

    assert "spyglass.content.truncated" not in spans.one().attributes


# --- the converter, directly --------------------------------------------------------------------


def converter(**settings: Any) -> Converter:
    chosen = Settings(**settings)
    return Converter(chosen, chosen.max_text_chars)


def test_plain_reads_sdk_objects_as_api_json() -> None:
    message = Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [text_block("Hi"), tool_use_block("f", {"a": 1}, "toolu_9")],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    )

    assert plain(message.content) == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": 1}},
    ]
    assert plain({"kept": 1, "dropped": anthropic.NOT_GIVEN, "also": anthropic.omit}) == {"kept": 1}
    assert plain(b"\x00\x01") == {"type": "bytes", "size": 2}


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("just text", {"type": "text", "content": "just text"}),
        (
            thinking_block("Hmm.", "sig_1"),
            {"type": "reasoning", "content": "Hmm.", "signature": "sig_1"},
        ),
        (
            thinking_block("Hmm.", ""),
            {"type": "reasoning", "content": "Hmm."},
        ),
        (
            redacted_thinking_block("abcd"),
            {"type": "reasoning", "redacted": True, "data": "abcd", "data_length": 4},
        ),
        (
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "text", "text": "ok"}],
            },
            {
                "type": "tool_call_response",
                "id": "t1",
                "response": [{"type": "text", "content": "ok"}],
                "is_error": False,
            },
        ),
        (
            {"type": "tool_result", "tool_use_id": "t1"},
            {"type": "tool_call_response", "id": "t1", "response": [], "is_error": False},
        ),
        (
            {
                "type": "code_execution_tool_result",
                "tool_use_id": "srv_1",
                "content": {"type": "code_execution_result", "stdout": "4", "return_code": 0},
            },
            {
                "type": "server_tool_call_response",
                "id": "srv_1",
                "anthropic_type": "code_execution_tool_result",
                "response": {"type": "code_execution_result", "stdout": "4", "return_code": 0},
            },
        ),
        (
            {
                "type": "mcp_tool_use",
                "id": "m1",
                "name": "lookup",
                "server_name": "wiki",
                "input": {},
            },
            {
                "type": "server_tool_call",
                "id": "m1",
                "name": "lookup",
                "arguments": {},
                "anthropic_type": "mcp_tool_use",
                "server_name": "wiki",
            },
        ),
        (
            {"type": "image", "source": {"type": "sketch", "lines": 3}},
            {"type": "image", "raw": {"type": "image", "source": {"type": "sketch", "lines": 3}}},
        ),
        (
            {"type": "image", "source": "https://example.org/cat.png"},
            {"type": "image", "raw": {"type": "image", "source": "https://example.org/cat.png"}},
        ),
        (
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": {"type": "text", "text": "one"},
            },
            {
                "type": "tool_call_response",
                "id": "t1",
                "response": [{"type": "text", "content": "one"}],
                "is_error": False,
            },
        ),
        ({"no_type": True}, {"type": "unknown", "raw": {"no_type": True}}),
        (42, {"type": "unknown", "raw": 42}),
    ],
)
def test_converter_parts(block: Any, expected: dict[str, Any]) -> None:
    assert converter().part(block) == expected


def test_converter_hashes_what_it_can_decode() -> None:
    source = {"type": "base64", "media_type": "image/png", "data": "not base64!"}

    part = converter().part({"type": "image", "source": source})

    assert part["size"] == len(b"not base64!")
    assert part["sha256"] == hashlib.sha256(b"not base64!").hexdigest()


def test_converter_cuts_long_strings_everywhere() -> None:
    chosen = converter(max_text_chars=10)

    parts = chosen.parts(
        [
            tool_use_block("f", {"query": "q" * 50}),
            {"type": "tool_result", "tool_use_id": "t", "content": "r" * 50},
            {"type": "mystery", "blob": "m" * 50},
        ]
    )

    assert parts[0]["arguments"] == {"query": "q" * 10}
    assert parts[1]["response"] == "r" * 10
    assert parts[2]["raw"]["blob"] == "m" * 10
    assert chosen.truncated


def test_converter_messages_roles_and_system() -> None:
    chosen = converter()

    assert chosen.messages(
        [{"role": "system", "content": "Be brief."}, {"content": "no role"}]
    ) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "no role"}]},
    ]
    assert chosen.system([{"type": "text", "text": "One."}]) == [
        {"type": "text", "content": "One."}
    ]
    assert chosen.output([], "max_tokens", incomplete=True) == [
        {"role": "assistant", "parts": [], "finish_reason": "max_tokens", "incomplete": True}
    ]


def test_encode_halves_the_text_limit_until_it_fits() -> None:
    settings = Settings(max_text_chars=1_000, max_attribute_bytes=2_000)

    text, truncated = encode(settings, lambda c: c.parts(["a" * 900, "b" * 900, "c" * 900]))

    assert len(text.encode()) <= 2_000
    assert truncated
    assert [part["content"][0] for part in json.loads(text)] == ["a", "b", "c"]


def test_encode_stays_within_the_cap_with_very_many_small_items() -> None:
    settings = Settings(max_attribute_bytes=5_000)
    messages = [{"role": "user", "content": f"message {i}"} for i in range(1_000)]

    text, truncated = encode(settings, lambda c: c.messages(messages))

    assert len(text.encode()) <= 5_000
    assert truncated
    kept = json.loads(text)
    assert kept, "the latest messages are kept"
    assert kept[-1]["parts"][0]["content"] == "message 999"
    assert len("message 999") < MIN_TEXT_CHARS


def test_secrets_in_parameters_are_redacted(
    client: anthropic.Anthropic, spans, instrumented
) -> None:
    servers = [
        {
            "type": "url",
            "url": "https://mcp.example",
            "name": "m",
            "authorization_token": "SECRET-1",
        }
    ]
    ask(
        client,
        extra_body={"mcp_servers": servers, "metadata": {"user_id": "u1", "api_key": "SECRET-2"}},
    )
    span = spans.one()
    parameters = Captured.json(span, "anthropic.request.parameters")
    assert parameters["mcp_servers"][0]["authorization_token"] == "[redacted]"
    assert parameters["mcp_servers"][0]["url"] == "https://mcp.example"
    assert parameters["metadata"] == {"user_id": "u1", "api_key": "[redacted]"}
    assert "SECRET" not in json.dumps(dict(span.attributes))


def test_parameters_count_as_content(client: anthropic.Anthropic, spans, instrumented) -> None:
    _settings.update(capture_content=False)
    ask(client, extra_body={"metadata": {"user_id": "u1"}})
    span = spans.one()
    assert "anthropic.request.parameters" not in span.attributes
    assert span.attributes["gen_ai.request.max_tokens"] == 100


def test_kept_media_larger_than_the_text_limit_is_left_out_and_marked() -> None:
    data = base64.b64encode(b"\x89PNG" + bytes(300_000)).decode()
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    text, truncated = encode(Settings(keep_media=True), lambda c: c.parts([image]))
    [part] = json.loads(text)
    assert truncated and part["truncated"] is True
    assert "content" not in part
    assert part["size"] == 300_004
