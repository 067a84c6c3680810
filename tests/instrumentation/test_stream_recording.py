"""The stream recorder's parts on their own: the bounded `Timeline` and the `Accumulator` that
rebuilds a message from raw stream events (plain dicts here, as the API sends them)."""

from __future__ import annotations

import json
from random import Random
from types import SimpleNamespace
from typing import Any

import pytest

from spyglass._anthropic._stream import Accumulator, Timeline

# --- Timeline ------------------------------------------------------------------------------------


def filled(count: int, limit: int) -> Timeline:
    """Chunk n arrives at n ms, bringing the output to n + 1 characters."""
    timeline = Timeline(limit)
    for n in range(count):
        timeline.add(float(n), n + 1)
    return timeline


def test_an_empty_timeline_has_no_points() -> None:
    assert Timeline().result() == []


def test_a_short_timeline_keeps_every_chunk() -> None:
    assert filled(5, limit=8).result() == [[0.0, 1], [1.0, 2], [2.0, 3], [3.0, 4], [4.0, 5]]


def test_offsets_are_rounded_to_the_microsecond() -> None:
    timeline = Timeline()
    timeline.add(12.3456789, 3)

    assert timeline.result() == [[12.346, 3]]


def test_a_full_timeline_drops_every_other_point_and_doubles_its_stride() -> None:
    timeline = filled(5, limit=4)  # the fifth point overflows it

    assert timeline.stride == 2
    assert timeline.result() == [[0.0, 1], [2.0, 3], [4.0, 5]]

    timeline.add(5.0, 6)  # off the stride: only remembered as the last chunk
    assert timeline.result() == [[0.0, 1], [2.0, 3], [4.0, 5], [5.0, 6]]
    timeline.add(6.0, 7)  # on the stride: kept, and the previous last one is gone
    assert timeline.result() == [[0.0, 1], [2.0, 3], [4.0, 5], [6.0, 7]]


@pytest.mark.parametrize("count", [257, 1000, 4097, 100_000])
def test_a_long_timeline_is_bounded_and_keeps_the_first_and_last_chunk(count: int) -> None:
    timeline = filled(count, limit=256)
    points = timeline.result()

    assert len(points) <= 257
    assert len(points) > 128  # halving never leaves it less than half full
    assert points[0] == [0.0, 1]
    assert points[-1] == [float(count - 1), count]
    # Evenly spaced by the stride, the last chunk apart.
    stride = timeline.stride
    assert stride > 1 and stride & (stride - 1) == 0  # a power of two
    inner = points[:-1] if points[-1][0] % stride else points
    assert [offset for offset, _ in inner] == [float(n * stride) for n in range(len(inner))]


def test_the_timeline_as_json_is_its_points_rounded_to_the_microsecond() -> None:
    timeline = Timeline(limit=64)
    random = Random(3)
    offset = 0.0
    for chars in range(1, 500):
        offset += random.uniform(0, 80)
        timeline.add(offset, chars)
    timeline.add(offset + 0.0004999, 500)  # the last chunk, off the stride

    assert json.loads(timeline.json()) == timeline.result()
    assert Timeline().json() == "[]"


# --- Accumulator ---------------------------------------------------------------------------------


def feed(*events: dict[str, Any]) -> Accumulator:
    accumulator = Accumulator()
    for event in events:
        accumulator.feed(event)
    return accumulator


def start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


MESSAGE_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 25, "cache_read_input_tokens": 100, "output_tokens": 1},
    },
}


def test_a_whole_stream_becomes_the_message() -> None:
    accumulator = feed(
        MESSAGE_START,
        start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="Hmm, "),
        delta(0, type="thinking_delta", thinking="Paris."),
        delta(0, type="signature_delta", signature="sig_1"),
        stop(0),
        start(1, {"type": "text", "text": "", "citations": []}),
        delta(1, type="citations_delta", citation={"type": "char_location", "cited_text": "P"}),
        delta(1, type="text_delta", text="Paris"),
        stop(1),
        start(2, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
        delta(2, type="input_json_delta", partial_json='{"city": '),
        delta(2, type="input_json_delta", partial_json='"Paris"}'),
        stop(2),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 40, "input_tokens": None},
        },
        {"type": "message_stop"},
    )

    assert accumulator.stopped
    assert accumulator.content() == [
        {"type": "thinking", "thinking": "Hmm, Paris.", "signature": "sig_1"},
        {
            "type": "text",
            "text": "Paris",
            "citations": [{"type": "char_location", "cited_text": "P"}],
        },
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
    ]
    assert accumulator.message == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "stop_reason": "tool_use",
    }
    # message_delta's usage replaces the start's placeholder; a null leaves the known value.
    assert accumulator.usage == {
        "input_tokens": 25,
        "cache_read_input_tokens": 100,
        "output_tokens": 40,
    }
    assert accumulator.chars == len("Hmm, Paris.") + len("Paris") + len('{"city": "Paris"}')


def test_only_content_deltas_are_chunks() -> None:
    accumulator = Accumulator()
    events = [
        MESSAGE_START,
        start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Hi"),
        stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
        {"type": "message_stop"},
    ]

    assert [accumulator.feed(event) for event in events] == [
        False,
        False,
        True,
        False,
        False,
        False,
    ]


def test_an_unknown_delta_is_kept_on_its_block() -> None:
    accumulator = feed(
        start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Hi"),
        delta(0, type="sparkle_delta", sparkle={"level": 3}),
        stop(0),
    )

    assert accumulator.content() == [
        {
            "type": "text",
            "text": "Hi",
            "unparsed_deltas": [{"type": "sparkle_delta", "sparkle": {"level": 3}}],
        }
    ]
    assert accumulator.chars == 2


def test_malformed_tool_input_is_kept_as_its_raw_json() -> None:
    accumulator = feed(
        start(0, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
        delta(0, type="input_json_delta", partial_json='{"city": "Par'),
        delta(0, type="input_json_delta", partial_json="is"),
        stop(0),
    )

    assert accumulator.content() == [
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "weather",
            "input": {},
            "partial_input_json": '{"city": "Paris',
        }
    ]


def test_a_tool_call_with_no_input_deltas_has_empty_input() -> None:
    accumulator = feed(
        start(0, {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}),
        delta(0, type="input_json_delta", partial_json=""),
        stop(0),
    )

    assert accumulator.content() == [
        {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}
    ]


def test_unfinished_blocks_are_still_returned() -> None:
    accumulator = feed(
        MESSAGE_START,
        start(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Let me "),
        start(1, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}),
        delta(1, type="input_json_delta", partial_json='{"city": "Paris"}'),
        start(2, {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}),
        delta(2, type="input_json_delta", partial_json='{"ci'),
    )

    assert not accumulator.stopped
    assert accumulator.content() == [
        {"type": "text", "text": "Let me "},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        {
            "type": "tool_use",
            "id": "toolu_2",
            "name": "weather",
            "input": {},
            "partial_input_json": '{"ci',
        },
    ]
    assert accumulator.message["stop_reason"] is None


def test_events_with_missing_fields_are_read_without_failing() -> None:
    """The SDK builds events without validating them: a field the API left out is absent."""
    accumulator = Accumulator()
    assert accumulator.feed(SimpleNamespace(type="message_start")) is False
    text_delta = SimpleNamespace(
        type="content_block_delta", delta=SimpleNamespace(type="text_delta", text="hi")
    )
    assert accumulator.feed(text_delta) is True
    assert accumulator.feed(SimpleNamespace(type="content_block_delta")) is True
    assert accumulator.feed(SimpleNamespace(type="content_block_stop")) is False
    assert accumulator.chars == 2
    assert accumulator.content()[0]["text"] == "hi"
