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
