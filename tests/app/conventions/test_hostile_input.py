"""Whatever a span's attributes hold, the conventions layer never raises, and what it returns
is JSON that any encoder writes, in the shapes the contract promises.

A hand-written table of the malformations we thought of, then many random attribute dicts
from a generator with a fixed seed, so that a failure is reproducible.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import orjson
import pytest

from app.conventions import CONVENTIONS, summary_columns
from app.conventions.common import MAX_COUNT
from app.conventions.pairing import pair_tool_calls
from tests.app.conventions.encodings import structured

CONTENT_KEYS = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
)
KEYS = (
    *CONTENT_KEYS,
    "spyglass.span.type",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.request.max_tokens",
    "gen_ai.request.stream",
    "gen_ai.request.stop_sequences",
    "gen_ai.output.type",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.response.finish_reasons",
    "gen_ai.response.time_to_first_chunk",
    "anthropic.request.parameters",
    "anthropic.thinking.type",
    "anthropic.tool_choice.name",
    "anthropic.request.service_tier",
    "spyglass.stream.complete",
    "spyglass.stream.outcome",
    "spyglass.stream.chunk_count",
    "spyglass.stream.output_chars",
    "spyglass.stream.duration_ms",
    "spyglass.stream.time_to_first_token_ms",
    "spyglass.stream.output_tokens_per_second",
    "spyglass.stream.timeline",
)
BASE = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic"}
REQUEST = {**BASE, "spyglass.span.type": "llm.request"}
STREAM = {"spyglass.span.type": "llm.stream"}
NAN, INF = float("nan"), float("inf")


def nested(depth: int, leaf: Any = "leaf") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def tool_results(depth: int) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": "bottom"}
    for n in range(depth):
        part = {"type": "tool_call_response", "id": f"t{n}", "response": [part]}
    return part


# --- what must hold of any answer ------------------------------------------------------------


def check(attributes: Any, parts: Any = ()) -> None:
    """Every convention answers for `attributes` without raising, in the contract's shapes."""
    columns = summary_columns(attributes) if isinstance(attributes, dict) else None
    if columns is not None:
        json.dumps(columns, allow_nan=False)
        for key in ("llm_input_tokens", "llm_output_tokens", "llm_cache_read_tokens"):
            assert columns[key] is None or 0 <= columns[key] <= MAX_COUNT
    for convention in CONVENTIONS:
        if isinstance(attributes, dict):
            convention.summarize(attributes)
        conversation = convention.conversation(attributes, parts)
        check_conversation(conversation)
        pair_tool_calls(conversation)


def check_conversation(conversation: dict[str, Any]) -> None:
    json.dumps(conversation, allow_nan=False)
    orjson.dumps(conversation)  # stricter: 64-bit integers, 255 levels
    for key in ("provider", "operation", "request_model", "response_model"):
        assert conversation[key] is None or isinstance(conversation[key], str)
    for part in conversation["system_instructions"]:
        check_part(part)
    for key in ("input_messages", "output_messages"):
        for message in conversation[key]:
            assert isinstance(message, dict)
            assert isinstance(message["role"], str) and message["role"]
            assert isinstance(message["parts"], list)
            for part in message["parts"]:
                check_part(part)
    assert isinstance(conversation["tools"], list)
    assert isinstance(conversation["request_params"], dict)
    for value in conversation["usage"].values():
        assert value is None or (type(value) is int and 0 <= value <= MAX_COUNT)
    assert all(isinstance(reason, str) for reason in conversation["finish_reasons"])
    streaming = conversation["streaming"]
    assert streaming is None or isinstance(streaming, dict)
    if streaming is not None:
        for offset, chars in streaming["timeline"]:
            assert math.isfinite(offset) and type(chars) is int


def check_part(part: Any) -> None:
    assert isinstance(part, dict)
    assert isinstance(part["type"], str) and part["type"]


# --- the table -----------------------------------------------------------------------------------

HOSTILE_VALUES: dict[str, Any] = {
    "nan": NAN,
    "infinity": -INF,
    "huge int": 2**200,
    "negative int": -(2**70),
    "bool": True,
    "empty string": "",
    "number text": "42",
    "cut json": '[{"role": "user", "parts": [{"type": "text", "content": "Hi',
    "json with NaN": '[{"role": "user", "parts": [NaN]}]',
    "json past the parser's depth": "[" * 5000 + "]" * 5000,
    "json deep but parsed": "[" * 900 + "]" * 900,
    "json huge number": '[{"role": "user", "parts": [{"type": "x", "n": 1e999}]}]',
    "json big int": '[{"role": "user", "parts": [{"type": "x", "n": 123456789012345678901234567890}]}]',
    "dict": {"role": "user"},
    "parts not a list": [{"role": "user", "parts": 5}],
    "parts of anything": [{"role": 5, "parts": [None, 5, NAN, "x", [], {}, {"type": None}]}],
    "messages as json text in a list": ['{"role": "user", "parts": []}', "{broken", 7],
    "deep list": nested(10_000),
    "deep dict": {"a": nested(3000, {"b": NAN})},
    "parts nested deep": [{"role": "user", "parts": [tool_results(2000)]}],
    "tool arguments deep": [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t", "arguments": nested(5000)}],
        }
    ],
    "wide": [{"role": "user", "parts": [{"type": "text", "content": "x"}] * 5_000}],
    "non-string keys": [{1: "a", None: "b", (1, 2): "c", "parts": []}],
    "objects": [{"role": "user", "parts": [{"type": "x", "value": object(), "set": {1, 2}}]}],
    "bytes": b"\x00\xff",
    "tuple": ({"role": "user", "parts": ()},),
    "surrogates": "\ud800[{}]",
}


@pytest.mark.parametrize("name", HOSTILE_VALUES)
@pytest.mark.parametrize("base", [BASE, REQUEST, STREAM], ids=["genai", "request", "stream"])
def test_a_hostile_value_in_every_key(name: str, base: dict[str, Any]) -> None:
    value = HOSTILE_VALUES[name]
    check(
        {**base, **dict.fromkeys(KEYS, value), "spyglass.span.type": base.get("spyglass.span.type")}
    )
    for key in CONTENT_KEYS:
        check({**base, key: value})


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {1: "x", ("a",): 2, None: 3, "gen_ai.operation.name": "chat"},
        {**REQUEST, "gen_ai.request.stream": True},
        {
            **REQUEST,
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.cache_read.input_tokens": MAX_COUNT,
        },
        {**STREAM, "spyglass.stream.timeline": "[[NaN, 1], [1, 2]]"},
        {**STREAM, "spyglass.stream.timeline": [[1e308, 2**80], [-INF, 1], [0, 1]]},
        {**STREAM, "spyglass.stream.timeline": [[n, n] for n in range(50_000)]},
        {**REQUEST, "anthropic.request.parameters": '{"model": 1, "x": "' + "y" * 100_000 + '"}'},
        {**REQUEST, "anthropic.request.parameters": {"nested": nested(5000)}},
        {**REQUEST, "gen_ai.request.deep": nested(5000), "gen_ai.request.nan": NAN},
    ],
)
def test_hostile_attribute_dicts(attributes: dict[Any, Any]) -> None:
    check(attributes)


@pytest.mark.parametrize(
    "parts",
    [
        None,
        5,
        "text",
        [None, 5, "x"],
        [{"spyglass.span.type": "llm.stream", "gen_ai.output.messages": NAN}],
        [{"spyglass.span.type": "llm.stream", "spyglass.stream.timeline": {"a": 1}}],
        [{"spyglass.span.type": "llm.stream", **dict.fromkeys(KEYS, nested(2000))}],
    ],
)
def test_hostile_parts(parts: Any) -> None:
    check(REQUEST, parts)


@pytest.mark.parametrize("attributes", [None, 5, "text", [REQUEST]])
def test_attributes_that_are_not_a_dict(attributes: Any) -> None:
    check(attributes)


def test_the_api_serves_what_the_conventions_return() -> None:
    """The conversation endpoint's response model accepts every answer, however odd the span."""
    from app.routes.api import Conversation

    for name, value in HOSTILE_VALUES.items():
        for convention in CONVENTIONS:
            answer = convention.conversation({**REQUEST, **dict.fromkeys(KEYS[:4], value)})
            ids = {"trace_id": "ab" * 16, "span_id": "cd" * 8, "convention": convention.name}
            model = Conversation.model_validate({**ids, **answer})
            assert json.loads(model.model_dump_json())["input_messages"] == json.loads(
                json.dumps(answer["input_messages"])
            ), name


# --- random attribute dicts --------------------------------------------------------------------

PART_KEYS = ("type", "content", "id", "name", "arguments", "response", "is_error", "parts", "role")
PART_TYPES = ("text", "reasoning", "tool_call", "tool_call_response", "server_tool_call", "blob")


class Hostile:
    """Random values of every JSON type and a few that are not, biased towards our shapes."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def value(self, depth: int = 0) -> Any:
        r = self.random
        kinds = ["scalar", "scalar", "string", "list", "dict", "part", "message", "json"]
        kind = r.choice(kinds if depth < 6 else kinds[:3])
        if kind == "scalar":
            return r.choice(
                [None, True, False, 0, -1, 2**63, 2**64, -(2**100), 1.5, NAN, INF, -INF, 1e308]
            )
        if kind == "string":
            return r.choice(["", "x", "[", "{", "NaN", "end_turn", "\u0000", "é" * 3, "[1, 2"])
        if kind == "list":
            return [self.value(depth + 1) for _ in range(r.randrange(4))]
        if kind == "dict":
            keys = [r.choice((*PART_KEYS, "x", "")) for _ in range(r.randrange(4))]
            return {key: self.value(depth + 1) for key in keys}
        if kind == "part":
            part = {"type": r.choice((*PART_TYPES, None, 3, ""))}
            for key in r.sample(PART_KEYS[1:], r.randrange(4)):
                part[key] = self.value(depth + 1)
            return part
        if kind == "message":
            return {
                "role": r.choice(["user", "assistant", None, 5]),
                "parts": [self.value(depth + 1) for _ in range(r.randrange(4))],
            }
        inner = self.value(depth + 1)
        try:
            return json.dumps(inner)  # NaN written as NaN: not JSON to a strict parser
        except (TypeError, ValueError):
            return "{"

    def encoded(self, value: Any) -> Any:
        """As an OTLP attribute could carry it: itself, JSON text, or a decoded AnyValue."""
        choice = self.random.randrange(3)
        if choice == 1:
            try:
                return json.dumps(value)
            except ValueError:
                return value
        if choice == 2:
            try:
                return structured(value)
            except (TypeError, ValueError):
                return value
        return value

    def attributes(self) -> dict[str, Any]:
        r = self.random
        attributes = dict(r.choice([BASE, REQUEST, STREAM]))
        for key in r.sample(KEYS, r.randrange(len(KEYS))):
            attributes[key] = self.encoded(self.value())
        return attributes


@pytest.mark.parametrize("seed", range(20))
def test_random_attribute_dicts(seed: int) -> None:
    hostile = Hostile(seed)
    for _ in range(40):
        parts = [hostile.attributes() for _ in range(hostile.random.randrange(3))]
        check(hostile.attributes(), parts)
