"""A stream span ends exactly once, however its stream ends: closed early, left by `with`,
dropped, never read, failed mid-stream or cancelled; sync and async.

The output read so far is kept and marked incomplete. The async tests run their own event loop
with `asyncio.run`; one whose stream is dropped leaves the stream's generators to that loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from spyglass._anthropic import _stream
from tests.fake_anthropic import FakeAnthropic, Reply, text_block, tool_use_block
from tests.instrumentation.conftest import MODEL, Captured

pytestmark = pytest.mark.usefixtures("instrumented")

PARAMS: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Tell me a story."}],
}
CHUNK_SIZE = 8
TEXT = "".join(f"Chunk {n:02d}." for n in range(12))  # 12 chunks of 8 characters
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@pytest.fixture(autouse=True)
def no_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No span is ended twice: OpenTelemetry only logs a warning when one is."""
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []


def story(fake: FakeAnthropic, **options: Any) -> None:
    """Queue TEXT as the next stream; `options` are `Reply.stream`'s."""
    fake.enqueue(Reply.stream([text_block(TEXT)], chunk_size=CHUNK_SIZE, **options))


def sync_client(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)


def async_client(fake: FakeAnthropic) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="test", max_retries=0)


def stream_span(spans: Captured) -> ReadableSpan:
    """The stream span, after checking it is the request span's only companion."""
    request = spans.one("llm.request")
    stream = spans.one("llm.stream")
    assert len(spans.spans) == 2, [s.name for s in spans.spans]
    assert stream.parent is not None and stream.parent.span_id == request.context.span_id
    assert request.status.status_code == StatusCode.UNSET  # the request itself went fine
    return stream


def assert_ended_early(
    stream: ReadableSpan,
    outcome: str,
    chunks: int,
    *,
    started: bool | None = None,
    status: StatusCode = StatusCode.UNSET,
) -> None:
    """Ended with `outcome` after `chunks` deltas, keeping the text so far as incomplete.

    `started`: whether the text block had started; by default, whether any chunk came.
    """
    attributes = stream.attributes
    assert attributes["spyglass.stream.outcome"] == outcome
    assert attributes["spyglass.stream.complete"] is False
    assert attributes["spyglass.stream.chunk_count"] == chunks
    assert attributes["spyglass.stream.output_chars"] == chunks * CHUNK_SIZE
    assert stream.status.status_code == status
    started = chunks > 0 if started is None else started
    parts = [{"type": "text", "content": TEXT[: chunks * CHUNK_SIZE]}] if started else []
    assert Captured.json(stream, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": parts, "finish_reason": None, "incomplete": True}
    ]


def until_deltas(events: Iterator[Any], count: int) -> None:
    seen = 0
    for event in events:
        seen += event.type == "content_block_delta"
        if seen == count:
            return


async def until_deltas_async(events: Any, count: int) -> None:
    seen = 0
    async for event in events:
        seen += event.type == "content_block_delta"
        if seen == count:
            return


# --- closed early --------------------------------------------------------------------------------


def test_a_stream_closed_after_a_break_ends_as_closed(fake: FakeAnthropic, spans: Captured) -> None:
    story(fake)
    with sync_client(fake) as client:
        stream = client.messages.create(stream=True, **PARAMS)
        until_deltas(stream, 2)
        assert spans.spans == [spans.one("llm.request")]  # still open while unread
        stream.close()

    assert_ended_early(stream_span(spans), "closed", 2)


def test_an_async_stream_closed_after_a_break_ends_as_closed(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake)

    async def main() -> None:
        async with async_client(fake) as client:
            stream = await client.messages.create(stream=True, **PARAMS)
            await until_deltas_async(stream, 2)
            assert spans.spans == [spans.one("llm.request")]
            await stream.close()

    asyncio.run(main())

    assert_ended_early(stream_span(spans), "closed", 2)


def test_leaving_messages_stream_early_ends_as_closed(fake: FakeAnthropic, spans: Captured) -> None:
    story(fake)
    with sync_client(fake) as client, client.messages.stream(**PARAMS) as stream:
        next(iter(stream))
        assert spans.spans == [spans.one("llm.request")]

    assert_ended_early(stream_span(spans), "closed", 0)


def test_leaving_async_messages_stream_early_ends_as_closed(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake)

    async def main() -> None:
        async with async_client(fake) as client, client.messages.stream(**PARAMS) as stream:
            await stream.__anext__()
            assert spans.spans == [spans.one("llm.request")]

    asyncio.run(main())

    assert_ended_early(stream_span(spans), "closed", 0)


def test_a_stream_closed_after_its_last_event_is_complete(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake)
    with sync_client(fake) as client, client.messages.create(stream=True, **PARAMS) as stream:
        for event in stream:
            if event.type == "message_stop":
                break  # before the stream itself runs out

    attributes = stream_span(spans).attributes
    assert attributes["spyglass.stream.outcome"] == "complete"
    assert attributes["spyglass.stream.complete"] is True
    [message] = Captured.json(stream_span(spans), "gen_ai.output.messages")
    assert "incomplete" not in message


# --- dropped -------------------------------------------------------------------------------------


def test_a_dropped_stream_ends_as_closed(fake: FakeAnthropic, spans: Captured) -> None:
    story(fake)
    with sync_client(fake) as client:
        stream = client.messages.create(stream=True, **PARAMS)
        until_deltas(stream, 1)
        assert spans.spans == [spans.one("llm.request")]
        del stream
        gc.collect()

        assert_ended_early(stream_span(spans), "closed", 1)


def test_an_async_stream_dropped_in_its_loop_ends_as_closed(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake)

    async def main() -> None:
        async with async_client(fake) as client:
            stream = await client.messages.create(stream=True, **PARAMS)
            await until_deltas_async(stream, 1)
            assert spans.spans == [spans.one("llm.request")]
            del stream

    asyncio.run(main())

    assert_ended_early(stream_span(spans), "closed", 1)


# --- never read ----------------------------------------------------------------------------------


def test_a_stream_closed_unread_ends_with_no_chunks(fake: FakeAnthropic, spans: Captured) -> None:
    story(fake)
    with sync_client(fake) as client:
        stream = client.messages.create(stream=True, **PARAMS)
        stream.close()

    assert_ended_early(stream_span(spans), "closed", 0)


def test_an_async_stream_closed_unread_ends_with_no_chunks(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake)

    async def main() -> None:
        async with async_client(fake) as client:
            stream = await client.messages.create(stream=True, **PARAMS)
            await stream.close()

    asyncio.run(main())

    assert_ended_early(stream_span(spans), "closed", 0)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_stream_dropped_unread_ends_with_no_chunks(
    fake: FakeAnthropic, spans: Captured, flavor: str
) -> None:
    story(fake)
    if flavor == "sync":
        with sync_client(fake) as client:
            client.messages.create(stream=True, **PARAMS)
            gc.collect()
    else:

        async def main() -> None:
            async with async_client(fake) as client:
                await client.messages.create(stream=True, **PARAMS)
                gc.collect()

        asyncio.run(main())

    assert_ended_early(stream_span(spans), "closed", 0)


# --- failed or cancelled ---------------------------------------------------------------------------


def assert_failed(stream: ReadableSpan, error: anthropic.APIStatusError) -> None:
    assert type(error) is anthropic.APIStatusError  # the SDK's own error, as it raised it
    assert error.body == OVERLOADED
    assert_ended_early(stream, "error", 3, status=StatusCode.ERROR)
    assert stream.attributes["error.type"] == "overloaded_error"
    [event] = stream.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "anthropic.APIStatusError"
    assert event.attributes["exception.message"] == str(error)


def test_a_stream_failing_midway_records_the_error_and_the_partial_output(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake, fail_after=3)
    with sync_client(fake) as client:
        stream = client.messages.create(stream=True, **PARAMS)
        with pytest.raises(anthropic.APIStatusError) as raised:
            for _ in stream:
                pass
        stream.close()  # after the failure: changes nothing

    assert_failed(stream_span(spans), raised.value)


def test_an_async_stream_failing_midway_records_the_error_and_the_partial_output(
    fake: FakeAnthropic, spans: Captured
) -> None:
    story(fake, fail_after=3)

    async def main() -> None:
        async with async_client(fake) as client:
            stream = await client.messages.create(stream=True, **PARAMS)
            try:
                async for _ in stream:
                    pass
            finally:
                await stream.close()  # after the failure: changes nothing

    with pytest.raises(anthropic.APIStatusError) as raised:
        asyncio.run(main())

    assert_failed(stream_span(spans), raised.value)


def test_a_tool_call_cut_short_keeps_its_partial_arguments(
    fake: FakeAnthropic, spans: Captured
) -> None:
    arguments = {"city": "Paris", "days": [1, 2, 3], "units": "celsius"}
    fake.enqueue(
        Reply.stream([tool_use_block("get_weather", arguments)], chunk_size=8, fail_after=3)
    )
    with sync_client(fake) as client, pytest.raises(anthropic.APIStatusError):
        for _ in client.messages.create(stream=True, **PARAMS):
            pass

    stream = stream_span(spans)
    assert stream.attributes["spyglass.stream.outcome"] == "error"
    assert Captured.json(stream, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_fake0001",
                    "name": "get_weather",
                    "arguments": {},
                    "partial_arguments": json.dumps(arguments)[:24],
                }
            ],
            "finish_reason": None,
            "incomplete": True,
        }
    ]


def test_a_cancelled_async_stream_ends_as_cancelled(fake: FakeAnthropic, spans: Captured) -> None:
    story(fake, chunk_delay=60)  # only the cancel ends the wait for the first chunk

    async def main() -> None:
        async with async_client(fake) as client:
            reading = asyncio.Event()

            async def read() -> None:
                stream = await client.messages.create(stream=True, **PARAMS)
                async for event in stream:
                    if event.type == "content_block_start":
                        reading.set()

            task = asyncio.create_task(read())
            await reading.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())

    assert_ended_early(stream_span(spans), "cancelled", 0, started=True)


def test_a_failure_to_record_the_result_still_ends_the_span(
    fake: FakeAnthropic, spans: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> dict[str, Any]:
        raise ValueError("a bug in the recorder")

    monkeypatch.setattr(_stream.StreamRecorder, "_result_attributes", broken)
    story(fake)
    # Internal errors are raised under the test suite (logged and swallowed in an app).
    with sync_client(fake) as client, pytest.raises(ValueError, match="a bug in the recorder"):
        for _ in client.messages.create(stream=True, **PARAMS):
            pass

    assert stream_span(spans).attributes["spyglass.span.type"] == "llm.stream"


def test_the_warning_check_sees_a_span_ended_twice(caplog: pytest.LogCaptureFixture) -> None:
    span = trace.get_tracer("tests").start_span("twice")
    span.end()
    span.end()

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
