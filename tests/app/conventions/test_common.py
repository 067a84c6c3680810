"""The coercions every convention shares: counts, text, JSON that may be text, output bounds."""

from __future__ import annotations

import json
import math

import orjson
import pytest

from app.conventions.common import (
    MAX_COUNT,
    MAX_DEPTH,
    as_float,
    as_int,
    as_str_list,
    clipped,
    jsonable,
    structured,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        ("12", 12),
        (" 12 ", 12),
        (True, None),
        ("x", None),
        (None, None),
        (-1, None),
        (MAX_COUNT + 1, None),
        (1e30, None),
        ("99999999999999999999999", None),
        ("9" * 5000, None),  # int() refuses past 4300 digits
        (float("nan"), None),
        ([5], None),
    ],
)
def test_token_counts_are_read_defensively(value: object, expected: int | None) -> None:
    assert as_int(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, 1.5),
        (2, 2.0),
        (False, None),
        (float("inf"), None),
        (float("nan"), None),
        (10**400, None),  # float() of it overflows
        ("1.5", None),
        ("NaN", None),  # how the OTLP decoder writes a NaN double
    ],
)
def test_floats_are_read_defensively(value: object, expected: float | None) -> None:
    assert as_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["end_turn"], ["end_turn"]),
        ("end_turn", ["end_turn"]),
        ('["end_turn", "max_tokens"]', ["end_turn", "max_tokens"]),  # Logfire's JSON text
        (["stop", 3, None, "", "length"], ["stop", "length"]),
        ([], []),
        (None, []),
        (42, []),
        ({"reason": "stop"}, []),
        ("[not json", ["[not json"]),
        (["x" * 10_000], ["x" * 200]),
    ],
)
def test_string_lists(value: object, expected: list[str]) -> None:
    assert as_str_list(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a": 1}]', [{"a": 1}]),
        (' {"a": 1}', {"a": 1}),
        ("null", "null"),
        ("42", "42"),
        ("plain words", "plain words"),
        ("[not json", "[not json"),
        ("[" * 2000 + "]" * 2000, "[" * 2000 + "]" * 2000),  # past the parser's depth limit
        ("[1e999]", "[1e999]"),
    ],
)
def test_only_json_arrays_and_objects_are_parsed(text: str, expected: object) -> None:
    assert structured(text) == expected


def test_structured_values_pass_through() -> None:
    value = [{"type": "text", "content": "hi"}]
    assert structured(value) is value


def _encodes(value: object) -> None:
    json.dumps(value, allow_nan=False)
    orjson.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (-float("inf"), "-Infinity"),
        (2**64 - 1, 2**64 - 1),
        (2**64, str(2**64)),
        (-(2**63) - 1, str(-(2**63) - 1)),
        pytest.param(10**20000, "<integer of 66439 bits>", id="past str()'s limit"),
        ({1: "a", (1, 2): "b", None: "c"}, {"1": "a", "[1, 2]": "b", "null": "c"}),
        ((1, 2), [1, 2]),
        (b"\x00\x01", "AAE="),
        (object, "<class 'object'>"),
        ({"a": [1.5, None, True]}, {"a": [1.5, None, True]}),
        ("lone \ud800 surrogate", "lone ? surrogate"),
        ("héllo", "héllo"),
    ],
)
def test_jsonable(value: object, expected: object) -> None:
    result = jsonable(value)
    assert result == expected
    _encodes(result)


def test_jsonable_keeps_deep_nesting_as_text() -> None:
    deep: list = ["bottom"]
    for _ in range(MAX_DEPTH + 10):
        deep = [deep]
    result = jsonable(deep)
    _encodes(result)
    inner, original = result, deep
    for _ in range(MAX_DEPTH):
        inner, original = inner[0], original[0]
    assert isinstance(inner, str)
    assert json.loads(inner) == original


def test_jsonable_survives_nesting_past_the_interpreter_limit() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    _encodes(jsonable(deep))


def test_jsonable_survives_an_object_whose_str_raises() -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert jsonable(Hostile()) == "<Hostile>"


def test_clipped_cuts_large_values_only() -> None:
    assert clipped("short", 10) == "short"
    assert clipped("x" * 20, 10) == "x" * 10 + "…"
    assert clipped([1, 2], 10) == [1, 2]
    big = list(range(100))
    cut = clipped(big, 10)
    assert cut == json.dumps(big, ensure_ascii=False)[:10] + "…"
    assert clipped(3, 1) == 3
    assert math.isnan(clipped(float("nan"), 1))
