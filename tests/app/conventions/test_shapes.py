"""Fitting whatever an emitter sent into the normalised messages and parts, losing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.conventions import shapes
from tests.app.conventions.encodings import encoded

MESSAGES = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "name": "helper",
        "parts": [
            {"type": "text", "content": "Let me check."},
            {"type": "tool_call", "id": "t1", "name": "get_weather", "arguments": {"city": "P"}},
        ],
        "finish_reason": "tool_use",
    },
]


def raw(value: Any) -> dict[str, Any]:
    return {"type": "unknown", "raw": value}


def test_messages_of_the_normalised_shape_are_kept_exactly(encoding: str) -> None:
    assert shapes.messages(encoded(MESSAGES, encoding)) == MESSAGES


def test_no_messages() -> None:
    assert shapes.messages(None) == []
    assert shapes.messages([]) == []
    assert shapes.messages("[]") == []


def test_one_message_where_a_list_was_expected(encoding: str) -> None:
    assert shapes.messages(encoded(MESSAGES[0], encoding)) == MESSAGES[:1]


def test_a_message_written_as_json_text_inside_the_list() -> None:
    assert shapes.messages([json.dumps(MESSAGES[0]), MESSAGES[1]]) == MESSAGES


@pytest.mark.parametrize("text", ["[not json", '{"role": "user", "parts": [', "hello"])
def test_messages_that_are_not_json_are_kept_as_raw_text(text: str) -> None:
    assert shapes.messages(text) == [{"role": "unknown", "parts": [raw(text)]}]


@pytest.mark.parametrize("value", [42, 1.5, True, ["nested", "list"], "plain words"])
def test_a_message_that_is_not_one_is_kept_raw(value: Any) -> None:
    assert shapes.messages([value]) == [{"role": "unknown", "parts": [raw(value)]}]


def test_a_message_with_neither_parts_nor_content_is_kept_raw() -> None:
    message = {"role": "user", "text": "hi"}
    assert shapes.messages([message]) == [{"role": "user", "parts": [raw(message)]}]


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("Hi", [{"type": "text", "content": "Hi"}]),
        (
            [{"type": "text", "text": "Hi"}, {"type": "image", "source": {"type": "url"}}],
            [{"type": "text", "content": "Hi"}, {"type": "image", "source": {"type": "url"}}],
        ),
        ({"type": "text", "content": "Hi"}, [{"type": "text", "content": "Hi"}]),
        (None, []),
        (7, [raw(7)]),
    ],
)
def test_a_message_written_with_content_has_it_read_as_parts(content: Any, parts: list) -> None:
    """The older form, `{role, content}`, of the GenAI events and the provider APIs."""
    message = {"role": "assistant", "content": content, "name": "x"}
    assert shapes.messages([message]) == [{"role": "assistant", "name": "x", "parts": parts}]


def test_parts_written_as_json_text_are_read() -> None:
    message = {"role": "user", "parts": json.dumps(MESSAGES[0]["parts"])}
    assert shapes.messages([message]) == MESSAGES[:1]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, {"role": "unknown"}),
        (5, {"role": "unknown", "raw_role": 5}),
        ("", {"role": "unknown", "raw_role": ""}),
    ],
)
def test_a_message_without_a_usable_role(role: Any, expected: dict[str, Any]) -> None:
    message = {"role": role, "parts": []}
    assert shapes.messages([message]) == [{**expected, "parts": []}]
    assert shapes.messages([{"parts": []}]) == [{"role": "unknown", "parts": []}]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("plain text", {"type": "text", "content": "plain text"}),
        ('{"type": "text", "content": "hi"}', {"type": "text", "content": "hi"}),
        ('{"no": "type"}', {"type": "text", "content": '{"no": "type"}'}),
        ("[1, 2]", {"type": "text", "content": "[1, 2]"}),
        (42, raw(42)),
        (None, raw(None)),
        ([{"type": "text"}], raw([{"type": "text"}])),
        ({"content": "no type"}, raw({"content": "no type"})),
        ({"type": 3, "content": "x"}, raw({"type": 3, "content": "x"})),
        ({"type": "", "content": "x"}, raw({"type": "", "content": "x"})),
        ({"type": "compaction", "content": "x"}, {"type": "compaction", "content": "x"}),
    ],
)
def test_parts_are_fitted_or_kept_raw(item: Any, expected: dict[str, Any]) -> None:
    assert shapes.messages([{"role": "user", "parts": [item]}])[0]["parts"] == [expected]


def test_a_text_part_written_the_anthropic_way_is_read_as_text() -> None:
    assert shapes.part({"type": "text", "text": "hi", "citations": []}) == {
        "type": "text",
        "citations": [],
        "content": "hi",
    }
    # Anything else about a text part is left as it came.
    assert shapes.part({"type": "text", "content": 5}) == {"type": "text", "content": 5}
    both = {"type": "text", "content": None, "text": "hi"}
    assert shapes.part(both) == both


@pytest.mark.parametrize("kind", ["tool_call", "server_tool_call"])
def test_tool_arguments_sent_as_json_text_are_read(kind: str) -> None:
    call = {"type": kind, "id": "t", "name": "f", "arguments": '{"city": "Paris"}'}
    assert shapes.part(call)["arguments"] == {"city": "Paris"}
    for kept in ('{"city": "Par', "[1, 2]", "plain"):
        assert shapes.part({**call, "arguments": kept})["arguments"] == kept


def test_nested_parts_are_fitted_too() -> None:
    """The anthropic SDK sends a tool result as Anthropic blocks."""
    result = {
        "type": "tool_call_response",
        "id": "t",
        "response": [{"type": "text", "text": "18°C"}],
    }
    assert shapes.part(result)["response"] == [{"type": "text", "content": "18°C"}]
    document = {"type": "document", "content": [{"type": "text", "text": "page"}]}
    assert shapes.part(document)["content"] == [{"type": "text", "content": "page"}]


@pytest.mark.parametrize(
    "response", ["text", {"temperature": 18}, [1, 2], [{"type": "text", "text": "a"}, 3], []]
)
def test_a_tool_response_that_is_not_a_list_of_parts_is_left_alone(response: Any) -> None:
    result = {"type": "tool_call_response", "id": "t", "response": response}
    assert shapes.part(result) == result


def test_parts_nested_past_the_limit_are_kept_as_they_are() -> None:
    part: dict[str, Any] = {"type": "text", "text": "bottom"}
    for _ in range(shapes.MAX_NESTING + 5):
        part = {"type": "tool_call_response", "response": [part]}
    fitted = shapes.part(part)
    for _ in range(shapes.MAX_NESTING):
        fitted = fitted["response"][0]
    assert fitted["response"][0]["response"][0]["type"] == "tool_call_response"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("You are terse.", [{"type": "text", "content": "You are terse."}]),
        ([{"type": "text", "content": "A"}], [{"type": "text", "content": "A"}]),
        ({"type": "text", "content": "A"}, [{"type": "text", "content": "A"}]),
        (["A", "B"], [{"type": "text", "content": "A"}, {"type": "text", "content": "B"}]),
        ({"role": "system", "content": "A"}, [{"type": "text", "content": "A"}]),
        (
            [{"role": "system", "parts": [{"type": "text", "content": "A"}]}],
            [{"type": "text", "content": "A"}],
        ),
        # More than a role and content: kept whole.
        (
            {"role": "system", "content": "A", "name": "n"},
            [raw({"role": "system", "content": "A", "name": "n"})],
        ),
        ([7], [raw(7)]),
        (None, []),
    ],
)
def test_system_instructions(value: Any, expected: list[dict[str, Any]]) -> None:
    assert shapes.parts(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('[{"name": "f"}]', [{"name": "f"}]),
        ([{"name": "f"}], [{"name": "f"}]),
        ({"name": "f"}, [{"name": "f"}]),
        (['{"name": "f"}', 3], [{"name": "f"}, 3]),
        (None, []),
    ],
)
def test_tool_definitions_are_kept_as_sent(value: Any, expected: list[Any]) -> None:
    assert shapes.tools(value) == expected


# --- OpenAI chat messages ------------------------------------------------------------------------

WEATHER_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
FITTED_CALL = {
    "type": "tool_call",
    "id": "call_1",
    "name": "get_weather",
    "arguments": {"city": "Paris"},
}


def test_a_tool_message_answers_its_call() -> None:
    message = {"role": "tool", "tool_call_id": "call_1", "content": "18°C"}
    expected = {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}],
    }
    assert shapes.openai_message(message) == expected
    assert shapes.messages([message]) == [expected]  # the generic reader knows the shape too


def test_a_tool_message_with_content_parts() -> None:
    message = {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "18°C"}]}
    [response] = shapes.openai_message(message)["parts"]
    assert response["response"] == [{"type": "text", "content": "18°C"}]


def test_a_legacy_function_message() -> None:
    message = {"role": "function", "name": "get_weather", "content": "18°C"}
    assert shapes.openai_message(message) == {
        "role": "function",
        "name": "get_weather",
        "parts": [{"type": "tool_call_response", "response": "18°C"}],
    }


def test_assistant_tool_calls_follow_its_text(encoding: str) -> None:
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": encoded([WEATHER_CALL], encoding),
        "refusal": None,
    }
    assert shapes.openai_message(message) == {
        "role": "assistant",
        "refusal": None,  # every other key stays
        "parts": [{"type": "text", "content": "Let me check."}, FITTED_CALL],
    }


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (WEATHER_CALL, FITTED_CALL),
        (json.dumps(WEATHER_CALL), FITTED_CALL),
        (
            {**WEATHER_CALL, "function": {"name": "f", "arguments": "not json"}},
            {"type": "tool_call", "id": "call_1", "name": "f", "arguments": "not json"},
        ),
        (
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}},
            {"type": "tool_call", "id": "c", "name": "f", "arguments": {"a": 1}},
        ),
        (
            {"id": "c", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
            {"type": "tool_call", "id": "c", "name": "sql", "arguments": "SELECT 1"},
        ),
        (
            {"index": 0, "function": {"name": "f", "arguments": "{}"}},
            {"type": "tool_call", "name": "f", "arguments": {}, "index": 0},
        ),
        (
            {"id": "c", "name": "f", "arguments": '{"a": 1}'},
            {"type": "tool_call", "id": "c", "name": "f", "arguments": {"a": 1}},
        ),
        ({"id": "c", "type": "mystery"}, raw({"id": "c", "type": "mystery"})),
        (7, raw(7)),
    ],
)
def test_tool_calls(call: Any, expected: dict[str, Any]) -> None:
    assert shapes.openai_tool_calls([call]) == [expected]


def test_a_legacy_function_call() -> None:
    message = {"role": "assistant", "content": None, "function_call": WEATHER_CALL["function"]}
    assert shapes.openai_message(message) == {
        "role": "assistant",
        "parts": [{"type": "tool_call", "name": "get_weather", "arguments": {"city": "Paris"}}],
    }


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"type": "text", "text": "Hi"}, {"type": "text", "content": "Hi"}),
        (
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "uri", "modality": "image", "uri": "https://x/cat.png", "detail": "low"},
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBORw=="},
        ),
        (
            {"type": "image_url", "image_url": "https://x/old.png"},
            {"type": "uri", "modality": "image", "uri": "https://x/old.png"},
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
            {"type": "blob", "modality": "audio", "mime_type": "audio/wav", "content": "UklGR"},
        ),
        (
            {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}},
            {"type": "file", "modality": "document", "file_id": "file-1", "filename": "a.pdf"},
        ),
        (
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER"}},
            {
                "type": "blob",
                "modality": "document",
                "mime_type": "application/pdf",
                "content": "JVBER",
            },
        ),
        (
            {"type": "file", "file": {"file_data": "JVBER"}},
            {"type": "blob", "modality": "document", "content": "JVBER"},
        ),
        # Kinds with no GenAI equal, or not as expected: kept as they came.
        ({"type": "refusal", "refusal": "No."}, {"type": "refusal", "refusal": "No."}),
        ({"type": "image_url", "image_url": None}, {"type": "image_url", "image_url": None}),
        ({"type": "input_audio", "input_audio": 5}, {"type": "input_audio", "input_audio": 5}),
        ({"no": "type"}, raw({"no": "type"})),
    ],
)
def test_content_parts(item: Any, expected: dict[str, Any]) -> None:
    assert shapes.openai_content([item]) == [expected]
    message = {"role": "user", "content": [item]}
    assert shapes.messages([message]) == [{"role": "user", "parts": [expected]}]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Hi", [{"type": "text", "content": "Hi"}]),
        # Text stays text, even when it looks like JSON, unless it spells parts.
        ("[1, 2]", [{"type": "text", "content": "[1, 2]"}]),
        ('{"a": 1}', [{"type": "text", "content": '{"a": 1}'}]),
        ('[{"type": "text", "text": "Hi"}]', [{"type": "text", "content": "Hi"}]),
        (None, []),
        ([], []),
        (5, [raw(5)]),
    ],
)
def test_message_content(content: Any, expected: list[dict[str, Any]]) -> None:
    assert shapes.openai_content(content) == expected


def test_openai_messages_from_json_text() -> None:
    sent = [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": None, "tool_calls": [WEATHER_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
    ]
    assert shapes.openai_messages(json.dumps(sent)) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "assistant", "parts": [FITTED_CALL]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18°C"}],
        },
    ]
    assert shapes.openai_messages(None) == []


def test_genai_messages_are_kept_by_the_openai_reader(encoding: str) -> None:
    assert shapes.openai_messages(encoded(MESSAGES, encoding)) == MESSAGES


@pytest.mark.parametrize("value", [None, 5, "plain", ["x"], {"role": "user"}])
def test_what_is_not_an_openai_message_is_kept_raw(value: Any) -> None:
    [message] = shapes.openai_messages([value])
    assert message["parts"] == [raw(value)]


def test_what_else_a_content_part_says_is_kept_beside_it() -> None:
    item = {"type": "image_url", "image_url": {"url": "https://x/a.png", "type": 5}, "n": 1}
    assert shapes.openai_part(item) == {
        "type": "uri",
        "modality": "image",
        "uri": "https://x/a.png",
        "raw_type": 5,  # the fitted type stays; the emitter's is kept under another name
        "n": 1,
    }
