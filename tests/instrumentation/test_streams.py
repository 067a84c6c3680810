"""Streams read to the end: the request span, and the stream span with the assembled output.

Every test drives the real client, sync and async, over real HTTP to the fake API. How a stream
that does not run to the end is recorded is in `test_stream_endings.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.fake_anthropic import (
    FakeAnthropic,
    Reply,
    char_location_citation,
    message_events,
    text_block,
    thinking_block,
    tool_use_block,
)
from tests.instrumentation.conftest import MODEL, Captured

pytestmark = pytest.mark.usefixtures("instrumented")

PARAMS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
}
THINKING = "The user asks about Paris; I should look the weather up."
TEXT = "Paris is the capital of France. Let me check."
CITATION = char_location_citation("Paris is the capital", document_title="Atlas")
TOOL_INPUT = {"city": "Paris", "days": [1, 2], "units": "celsius"}
CONTENT = [
    thinking_block(THINKING, "sig_Ab12"),
    text_block(TEXT, [CITATION]),
    tool_use_block("get_weather", TOOL_INPUT),
]
CHUNK_SIZE = 16
CHUNK_DELAY = 0.02  # seconds, on the server, before each delta
# What the recorder counts as output: text, thinking and tool input JSON, as streamed.
OUTPUT_CHARS = len(THINKING) + len(TEXT) + len(json.dumps(TOOL_INPUT))
# The content_block_delta events the fake sends for CONTENT.
DELTAS = [
    data
    for name, data in message_events({"content": CONTENT}, chunk_size=CHUNK_SIZE)
    if name == "content_block_delta"
]


@pytest.fixture(autouse=True)
def no_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No span is ended twice: OpenTelemetry only logs a warning when one is."""
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []


def sync_client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)


def async_client(fake: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test", max_retries=0)


def read_create_stream(fake: FakeAnthropic, flavor: str) -> list[Any]:
    """`messages.create(stream=True)` iterated to the end; the events the caller saw."""
    if flavor == "sync":
        with sync_client(fake) as client:
            return list(client.messages.create(stream=True, **PARAMS))

    async def main() -> list[Any]:
        async with async_client(fake) as client:
            stream = await client.messages.create(stream=True, **PARAMS)
            return [event async for event in stream]

    return asyncio.run(main())


def stream_spans(spans: Captured) -> tuple[ReadableSpan, ReadableSpan]:
    assert len(spans.spans) == 2, [s.name for s in spans.spans]
    return spans.one("llm.request"), spans.one("llm.stream")


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_stream_read_to_the_end_gives_a_request_span_and_its_stream_child(
    fake: FakeAnthropic, spans: Captured, flavor: str
) -> None:
    fake.enqueue(
        Reply.stream(
            CONTENT, stop_reason="tool_use", usage={"output_tokens": 40}, chunk_size=CHUNK_SIZE
        )
    )

    events = read_create_stream(fake, flavor)

    request, stream = stream_spans(spans)
    assert request.name == f"chat {MODEL}"
    assert stream.name == f"chat {MODEL} stream"
    assert stream.parent is not None
    assert stream.parent.span_id == request.context.span_id
    assert stream.context.trace_id == request.context.trace_id
    assert request.kind == SpanKind.CLIENT
    assert request.end_time <= stream.start_time  # the request ends with the headers
    assert stream.status.status_code == StatusCode.UNSET
    attributes = stream.attributes
    assert attributes["spyglass.stream.complete"] is True
    assert attributes["spyglass.stream.outcome"] == "complete"
    assert attributes["gen_ai.response.id"] == events[0].message.id == "msg_fake0001"
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("tool_use",)
    assert attributes["gen_ai.usage.input_tokens"] == 135  # 25 + 100 cache read + 10 written
    assert attributes["gen_ai.usage.output_tokens"] == 40  # from message_delta, not the start
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 10
    received = [e for e in events if e.type == "content_block_delta"]
    assert attributes["spyglass.stream.chunk_count"] == len(DELTAS) == len(received)
    assert attributes["spyglass.stream.output_chars"] == OUTPUT_CHARS
    assert Captured.json(stream, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": THINKING, "signature": "sig_Ab12"},
                {"type": "text", "content": TEXT, "citations": [CITATION]},
                {
                    "type": "tool_call",
                    "id": "toolu_fake0001",
                    "name": "get_weather",
                    "arguments": TOOL_INPUT,
                },
            ],
            "finish_reason": "tool_use",
        }
    ]


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_lone_surrogate_in_the_answer_costs_the_stream_span_nothing(
    fake: FakeAnthropic, spans: Captured, flavor: str
) -> None:
    # Half an emoji: UTF-8 cannot carry it, and measuring the content once raised, which lost
    # the stream span's usage, timing and output. The exporter replaces it (spyglass._delivery).
    fake.enqueue(Reply.stream([text_block("ok \ud83d")], usage={"output_tokens": 3}))
    read_create_stream(fake, flavor)
    _, stream = stream_spans(spans)
    assert stream.attributes["gen_ai.usage.output_tokens"] == 3
    assert stream.attributes["spyglass.stream.complete"] is True
    [message] = Captured.json(stream, "gen_ai.output.messages")
    assert message["parts"] == [{"type": "text", "content": "ok \ud83d"}]


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_the_request_span_of_a_stream_carries_the_request_only(
    fake: FakeAnthropic, spans: Captured, flavor: str
) -> None:
    # Slow headers, then a slow stream: the request span waits for the first, not the second.
    headers_delay = 0.05
    stream_reply = Reply.stream(CONTENT, chunk_size=CHUNK_SIZE, chunk_delay=CHUNK_DELAY)
    fake.enqueue(Reply.hang(headers_delay, stream_reply))

    read_create_stream(fake, flavor)

    request, stream = stream_spans(spans)
    attributes = request.attributes
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["spyglass.span.type"] == "llm.request"
    assert json.loads(attributes["gen_ai.input.messages"])[0]["role"] == "user"
    assert not [key for key in attributes if key.startswith("gen_ai.usage.")]
    assert "gen_ai.output.messages" not in attributes
    assert "gen_ai.response.id" not in attributes
    assert request.end_time <= stream.end_time
    request_ms = (request.end_time - request.start_time) / 1e6
    assert request_ms >= 0.8 * headers_delay * 1000
    # It ended before the first chunk came, and the time to that counts from the request's start.
    assert stream.attributes["spyglass.stream.time_to_first_token_ms"] > request_ms
    # So does the stream's duration: from the request's start (not the first read) to its end.
    whole_ms = (stream.end_time - request.start_time) / 1e6
    assert stream.attributes["spyglass.stream.duration_ms"] >= 0.9 * whole_ms


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_stream_records_its_timing(fake: FakeAnthropic, spans: Captured, flavor: str) -> None:
    fake.enqueue(Reply.stream(CONTENT, chunk_size=CHUNK_SIZE, chunk_delay=CHUNK_DELAY))

    read_create_stream(fake, flavor)

    _, stream = stream_spans(spans)
    attributes = stream.attributes
    ttft_ms = attributes["spyglass.stream.time_to_first_token_ms"]
    duration_ms = attributes["spyglass.stream.duration_ms"]
    delay_ms = CHUNK_DELAY * 1000
    assert 0.8 * delay_ms <= ttft_ms <= duration_ms  # the server waits before the first delta
    assert attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(ttft_ms / 1000)
    assert attributes["spyglass.stream.output_tokens_per_second"] > 0

    timeline = Captured.json(stream, "spyglass.stream.timeline")
    assert len(timeline) == len(DELTAS)  # a short stream keeps every chunk
    offsets = [offset for offset, _ in timeline]
    chars = [count for _, count in timeline]
    assert timeline[0] == [round(ttft_ms, 3), CHUNK_SIZE]  # the first chunk, exactly
    assert offsets == sorted(offsets)
    assert offsets[-1] - offsets[0] >= 0.8 * (len(DELTAS) - 1) * delay_ms
    assert offsets[-1] <= duration_ms
    assert chars == sorted(chars)
    assert chars[-1] == attributes["spyglass.stream.output_chars"] == OUTPUT_CHARS


def test_a_long_stream_keeps_a_bounded_timeline(fake: FakeAnthropic, spans: Captured) -> None:
    chunks = 20_000
    fake.enqueue(Reply.stream([text_block("x" * chunks)], chunk_size=1))

    with sync_client(fake) as client:
        for _ in client.messages.create(stream=True, **PARAMS):
            pass

    _, stream = stream_spans(spans)
    attributes = stream.attributes
    assert attributes["spyglass.stream.chunk_count"] == chunks
    assert attributes["spyglass.stream.output_chars"] == chunks
    raw = attributes["spyglass.stream.timeline"]
    assert len(raw.encode()) < 10_000
    timeline = json.loads(raw)
    assert 128 <= len(timeline) <= 257
    assert timeline[0] == [round(attributes["spyglass.stream.time_to_first_token_ms"], 3), 1]
    assert timeline[-1][1] == chunks  # the last chunk, exactly
    assert timeline[-1][0] <= attributes["spyglass.stream.duration_ms"]
    assert [p[0] for p in timeline] == sorted(p[0] for p in timeline)
    assert [p[1] for p in timeline] == sorted(p[1] for p in timeline)


# --- messages.stream() and its helpers -----------------------------------------------------------


def _text_stream(stream: Any) -> None:
    assert "".join(stream.text_stream) == TEXT


def _final_message(stream: Any) -> None:
    assert stream.get_final_message().content[0].text == TEXT


def _until_done(stream: Any) -> None:
    stream.until_done()


async def _text_stream_async(stream: Any) -> None:
    assert "".join([text async for text in stream.text_stream]) == TEXT


async def _final_message_async(stream: Any) -> None:
    assert (await stream.get_final_message()).content[0].text == TEXT


async def _until_done_async(stream: Any) -> None:
    await stream.until_done()


HELPERS: dict[str, tuple[Callable[[Any], None], Callable[[Any], Any]]] = {
    "text_stream": (_text_stream, _text_stream_async),
    "get_final_message": (_final_message, _final_message_async),
    "until_done": (_until_done, _until_done_async),
}


@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
@pytest.mark.parametrize("helper", sorted(HELPERS))
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_messages_stream_gives_one_complete_stream_span(
    fake: FakeAnthropic, spans: Captured, flavor: str, helper: str, beta: bool
) -> None:
    fake.enqueue(Reply.stream([text_block(TEXT)], chunk_size=CHUNK_SIZE))
    read, read_async = HELPERS[helper]

    if flavor == "sync":
        with sync_client(fake) as client:
            messages = client.beta.messages if beta else client.messages
            with messages.stream(**PARAMS) as stream:
                read(stream)
    else:

        async def main() -> None:
            async with async_client(fake) as client:
                messages = client.beta.messages if beta else client.messages
                async with messages.stream(**PARAMS) as stream:
                    await read_async(stream)

        asyncio.run(main())

    helper_header = fake.requests[-1].headers["x-stainless-stream-helper"]
    assert helper_header == ("beta.messages" if beta else "messages")
    request, stream = stream_spans(spans)
    assert request.attributes["gen_ai.request.stream"] is True
    assert stream.parent is not None and stream.parent.span_id == request.context.span_id
    assert stream.attributes["spyglass.stream.complete"] is True
    assert stream.attributes["spyglass.stream.outcome"] == "complete"
    assert stream.attributes["spyglass.stream.chunk_count"] == -(-len(TEXT) // CHUNK_SIZE)
    assert Captured.json(stream, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": TEXT}],
            "finish_reason": "end_turn",
        }
    ]


def test_unknown_blocks_and_deltas_are_kept(fake: FakeAnthropic, spans: Captured) -> None:
    start = {
        "id": "msg_future",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    fake.enqueue(
        Reply.events(
            [
                ("message_start", {"type": "message_start", "message": start}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "hologram", "frames": []},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "frame_delta", "frame": "f1"},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 1,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "text_delta", "text": "Done."},
                    },
                ),
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "sparkle_delta", "sparkle": 3},
                    },
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": 1}),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": 7},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        )
    )

    with sync_client(fake) as client:
        for _ in client.messages.create(stream=True, **PARAMS):
            pass

    _, stream = stream_spans(spans)
    assert stream.attributes["spyglass.stream.complete"] is True
    assert stream.attributes["spyglass.stream.chunk_count"] == 3
    [message] = Captured.json(stream, "gen_ai.output.messages")
    assert message["parts"] == [
        {
            "type": "hologram",
            "raw": {
                "type": "hologram",
                "frames": [],
                "unparsed_deltas": [{"type": "frame_delta", "frame": "f1"}],
            },
        },
        {
            "type": "text",
            "content": "Done.",
            "unparsed_deltas": [{"type": "sparkle_delta", "sparkle": 3}],
        },
    ]
