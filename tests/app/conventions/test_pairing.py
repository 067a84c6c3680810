"""Matching each tool call with the part that answers it."""

from __future__ import annotations

from typing import Any

import pytest

from app.conventions.pairing import iter_parts, pair_tool_calls


def call(ident: Any, kind: str = "tool_call") -> dict[str, Any]:
    return {"type": kind, "id": ident, "name": "f", "arguments": {}}


def answer(ident: Any, kind: str = "tool_call_response", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": ident, "response": f"result of {ident}", **extra}


def conversation(*messages: list[dict[str, Any]], output: Any = (), system: Any = ()) -> dict:
    return {
        "system_instructions": list(system),
        "input_messages": [{"role": "user", "parts": parts} for parts in messages],
        "output_messages": [{"role": "assistant", "parts": list(output)}] if output else [],
    }


def test_a_call_is_paired_with_its_result_in_a_later_message() -> None:
    result = answer("t1")
    pairs = pair_tool_calls(conversation([call("t1")], [result]))
    assert pairs == {"t1": result}
    assert pairs["t1"] is result  # the part itself, to show beside the call


def test_a_server_tool_call_and_its_result_in_the_output() -> None:
    result = answer("s1", "server_tool_call_response")
    output = [call("s1", "server_tool_call"), result, {"type": "text", "content": "Found it."}]
    assert pair_tool_calls(conversation(output=output)) == {"s1": result}


def test_a_failed_call_is_told_by_its_result() -> None:
    pairs = pair_tool_calls(conversation([call("t1")], [answer("t1", is_error=True)]))
    assert pairs["t1"]["is_error"] is True


def test_calls_and_results_anywhere() -> None:
    """Input, output and instructions alike; the order of the messages does not matter."""
    first, second, third = answer("a"), answer("b"), answer("c")
    pairs = pair_tool_calls(
        conversation([second], [call("a"), call("b")], output=[call("c"), third], system=[first])
    )
    assert pairs == {"a": first, "b": second, "c": third}
    assert list(pairs) == ["a", "b", "c"]  # in the order of the calls


def test_unanswered_calls_and_unasked_results_are_left_out() -> None:
    pairs = pair_tool_calls(conversation([call("asked")], [answer("other")]))
    assert pairs == {}


def test_the_first_answer_wins() -> None:
    first, again = answer("t1"), answer("t1", retried=True)
    assert pair_tool_calls(conversation([call("t1")], [first], [again])) == {"t1": first}


def test_a_call_is_answered_only_by_its_own_kind_of_result() -> None:
    server_result = answer("t1", "server_tool_call_response")
    assert pair_tool_calls(conversation([call("t1")], [server_result])) == {}
    assert pair_tool_calls(conversation([call("s1", "server_tool_call")], [answer("s1")])) == {}


@pytest.mark.parametrize("ident", [None, "", 5, ["t"], {"id": "t"}])
def test_ids_that_are_not_strings_are_not_paired(ident: Any) -> None:
    assert pair_tool_calls(conversation([call(ident)], [answer(ident)])) == {}


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        "text",
        {},
        {"input_messages": "not a list"},
        {"input_messages": [None, 5, "x", {"parts": None}, {"parts": [None, 1, "s", [call("t")]]}]},
        {"output_messages": {"parts": [call("t")]}},
        {"system_instructions": {"type": "tool_call"}},
        {"input_messages": [{"parts": [{"type": None, "id": "t"}, {"type": 5, "id": "t"}]}]},
    ],
)
def test_anything_malformed_pairs_nothing(value: Any) -> None:
    assert pair_tool_calls(value) == {}


def test_iter_parts_walks_every_part_in_order() -> None:
    a, b, c = ({"type": "text", "content": x} for x in "abc")
    parts = list(iter_parts(conversation([b], output=[c], system=[a])))
    assert parts == [a, b, c]
