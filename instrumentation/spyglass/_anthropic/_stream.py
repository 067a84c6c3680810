"""The streamed response: a span from the first read to the end of the stream.

The SDK builds its `Stream` from the `stream_cls` that `request()` is given. We hand it a
subclass that feeds every event to a `StreamRecorder` as the caller reads it. The recorder
assembles the output the way the API would have returned it whole (text, thinking with its
signature, tool input from `input_json_delta`, citations), times each delta against the start
of the request, and ends the span exactly once, whichever comes first: the stream runs out, the
caller closes it (or leaves its `with`), it is garbage-collected, or it fails.
"""

from __future__ import annotations

import json
import sys
import time
import types
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from spyglass._anthropic import _attributes as attrs
from spyglass._anthropic._content import plain
from spyglass._internal import internal_error

if TYPE_CHECKING:
    from spyglass._anthropic._call import Call

TIMELINE_POINTS = 256  # bounded, whatever the number of chunks


class Timeline:
    """(ms since the request started, cumulative output characters), at most ~`limit` points.

    When the list fills up, every other point is dropped and only every other chunk is kept
    from then on, so memory stays bounded; the first and the last chunk are always exact.
    """

    def __init__(self, limit: int = TIMELINE_POINTS) -> None:
        self.limit = limit
        self.points: list[tuple[float, int]] = []
        self.stride = 1
        self.count = 0  # chunks added
        self.next_kept = 1  # the count of the next chunk to keep in `points`
        self.last: tuple[float, int] | None = None

    def add(self, offset_ms: float, chars: int) -> None:
        self.last = last = (offset_ms, chars)
        self.count += 1
        if self.count < self.next_kept:
            return
        self.next_kept += self.stride
        points = self.points
        points.append(last)
        if len(points) > self.limit:
            self.points = points[::2]
            self.stride *= 2
            # The kept points are every stride-th chunk from the first: the next one is the
            # first multiple of the new stride after the last kept.
            self.next_kept = (self.count - 1) // self.stride * self.stride + self.stride + 1

    def json(self) -> str:
        """`result()` as compact JSON, written directly: a long stream has hundreds of points,
        and this runs on the caller's thread as its stream ends."""
        return "[" + ",".join([f"[{offset:.3f},{chars}]" for offset, chars in self._kept()]) + "]"

    def _kept(self) -> list[tuple[float, int]]:
        points = list(self.points)
        if self.last is not None and points[-1] != self.last:
            points.append(self.last)
        return points

    def result(self) -> list[list[float]]:
        return [[round(offset, 3), chars] for offset, chars in self._kept()]


class _View(dict):
    """An event written as a dict (in tests, or by a caller), read like the SDK's objects."""

    __getattr__ = dict.get


class Accumulator:
    """Rebuilds the whole message from the raw stream events, as the API would have sent it.

    This runs once per chunk on the caller's thread, between the SDK's own parsing of each
    event, so a delta's fields are read straight off it (with a default: the SDK builds events
    without validating them, so a field may be missing) and its text collected in a list,
    joined once at the end.
    """

    # delta type → (its field that holds the text, the block field the text goes to, whether
    # it counts as output)
    TEXT_DELTAS = {
        "text_delta": ("text", "text", True),
        "thinking_delta": ("thinking", "thinking", True),
        "input_json_delta": ("partial_json", "partial_json", True),
        "signature_delta": ("signature", "signature", False),
    }

    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.pieces: dict[tuple[int, str], list[str]] = {}
        self.chars = 0
        self.stopped = False
        self._last_key: tuple[int, str] | None = None
        self._last_pieces: list[str] = []

    def feed(self, event: Any) -> bool:
        """Take one event; True when it was a content delta (a chunk of output)."""
        if type(event) is dict:
            event = _View(event)
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            delta = getattr(event, "delta", None)
            if type(delta) is dict:
                delta = _View(delta)
            known = self.TEXT_DELTAS.get(getattr(delta, "type", None))
            if known is None:
                self._other_delta(getattr(event, "index", None), delta)
                return True
            source, field, counts = known
            text = getattr(delta, source, None) or ""
            key = (getattr(event, "index", None), field)
            if key != self._last_key:  # not another chunk of the same block as the last
                self._last_key = key
                self._last_pieces = self.pieces.setdefault(key, [])
            self._last_pieces.append(text)
            if counts:
                self.chars += len(text)
            return True
        if kind == "message_start":
            message = plain(getattr(event, "message", None)) or {}
            self.message = {k: v for k, v in message.items() if k not in ("content", "usage")}
            self.usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            self.blocks[getattr(event, "index", None)] = (
                plain(getattr(event, "content_block", None)) or {}
            )
        elif kind == "content_block_stop":
            self._finish_block(getattr(event, "index", None))
        elif kind == "message_delta":
            delta = plain(getattr(event, "delta", None)) or {}
            self.message.update({k: v for k, v in delta.items() if v is not None})
            # Usage in message_delta is cumulative: later values replace earlier ones.
            usage = plain(getattr(event, "usage", None)) or {}
            self.usage.update({k: v for k, v in usage.items() if v is not None})
        elif kind == "message_stop":
            self.stopped = True
        return False

    def _other_delta(self, index: int, delta: Any) -> None:
        block = self.blocks.setdefault(index, {})
        if getattr(delta, "type", None) == "citations_delta":
            block.setdefault("citations", []).append(plain(getattr(delta, "citation", None)))
        else:  # a delta this version does not know: keep it rather than lose it
            block.setdefault("unparsed_deltas", []).append(plain(delta))

    def _join(self, index: int) -> None:
        """Move the collected text of a block into the block."""
        block = self.blocks.setdefault(index, {})
        for (piece_index, field), pieces in list(self.pieces.items()):
            if piece_index == index:
                block[field] = block.get(field, "") + "".join(pieces)
                del self.pieces[(piece_index, field)]
        self._last_key = None

    def _finish_block(self, index: int) -> None:
        self._join(index)
        block = self.blocks[index]
        if "partial_json" not in block:
            return
        text = block.pop("partial_json")
        try:
            block["input"] = json.loads(text) if text else {}
        except ValueError:
            block["input"] = {}
            block["partial_input_json"] = text

    def content(self) -> list[dict[str, Any]]:
        for index in {index for index, _ in self.pieces}:  # blocks the stream never finished
            self._finish_block(index)
        return [self.blocks[index] for index in sorted(self.blocks)]


class StreamRecorder:
    def __init__(self, call: Call) -> None:
        self.call = call
        self.started_ns = call.started_monotonic_ns
        self.accumulator = Accumulator()
        self.timeline = Timeline()
        self.span: trace.Span | None = None
        self.first_chunk_ns: int | None = None
        self.chunks = 0
        self.done = False

    def begin(self) -> None:
        if self.span is None and not self.done:
            self.span = self.call.tracer.start_span(
                f"{self.call.span_name} stream",
                context=trace.set_span_in_context(self.call.span),
                kind=SpanKind.INTERNAL,
                attributes=self.call.stream_span_attributes(),
            )

    def on_event(self, event: Any) -> None:
        try:
            if self.accumulator.feed(event):
                now = time.monotonic_ns()
                if self.first_chunk_ns is None:
                    self.first_chunk_ns = now
                self.chunks += 1
                self.timeline.add((now - self.started_ns) / 1e6, self.accumulator.chars)
        except Exception:
            internal_error("reading a stream event")

    def finish(self, outcome: str, error: BaseException | None = None) -> None:
        """End the span once: outcome is complete, closed, cancelled or error."""
        if self.done:
            return
        if outcome == "closed" and self.accumulator.stopped:
            outcome = "complete"  # closed after `message_stop`: nothing was lost
        try:
            self.begin()
            self.done = True
            span = self.span
            assert span is not None
            try:
                complete = outcome == "complete" and self.accumulator.stopped
                span.set_attributes(self._result_attributes(complete, outcome))
                if error is not None and outcome == "error":
                    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                    span.set_attributes(attrs.error_attributes(error))
                    span.record_exception(error)
            finally:
                span.end()  # even when recording the result failed: an open span is lost
        except Exception:
            internal_error("ending a stream span")

    def _result_attributes(self, complete: bool, outcome: str) -> dict[str, Any]:
        call = self.call
        ended = time.monotonic_ns()
        started = call.started_monotonic_ns
        message = self.accumulator.message
        result: dict[str, Any] = {
            "spyglass.stream.complete": complete,
            "spyglass.stream.outcome": outcome,
            "spyglass.stream.chunk_count": self.chunks,
            "spyglass.stream.output_chars": self.accumulator.chars,
            "spyglass.stream.duration_ms": (ended - started) / 1e6,
            "spyglass.stream.timeline": self.timeline.json(),
        }
        if self.first_chunk_ns is not None:
            ttft_ms = (self.first_chunk_ns - started) / 1e6
            result["spyglass.stream.time_to_first_token_ms"] = ttft_ms
            result["gen_ai.response.time_to_first_chunk"] = ttft_ms / 1000
            generating_s = (ended - self.first_chunk_ns) / 1e9
            output_tokens = self.accumulator.usage.get("output_tokens")
            if isinstance(output_tokens, int) and generating_s > 0:
                result["spyglass.stream.output_tokens_per_second"] = output_tokens / generating_s
        capture = call.settings.capture_content
        result.update(attrs.response_attributes(message, self.accumulator.usage, capture))
        if call.settings.capture_content:
            extra = {} if complete else {"incomplete": True}
            result.update(
                call.content_attribute(
                    "gen_ai.output.messages",
                    lambda c: c.output(
                        self.accumulator.content(), message.get("stop_reason"), **extra
                    ),
                )
            )
        return result


# --- the Stream subclasses the SDK is handed --------------------------------------------------

# A stream built after `request()` returned (the `with_raw_response` case: the caller parses the
# response later) finds its call through the HTTP response.
calls_by_response: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
_subclasses: dict[Any, type] = {}


def _recorder_for(response: Any) -> StreamRecorder | None:
    from spyglass._anthropic._call import current_call

    call = current_call.get() or calls_by_response.get(response)
    return StreamRecorder(call) if call is not None else None


def _end_when_dropped(stream: Any, recorder: StreamRecorder) -> None:
    """End the span as closed when `stream` is collected before it was closed or read out.

    Nothing else tells the recorder of an async stream, or of a stream never read. A finalizer
    rather than `__del__`: the SDK reads from a copy of the stream, which must not end the span
    when it is let go. Not run at interpreter exit, when the exporter may be gone.
    """
    weakref.finalize(stream, _finish_dropped, recorder).atexit = False


def _finish_dropped(recorder: StreamRecorder) -> None:
    if not sys.is_finalizing():
        recorder.finish("closed")


def _recorded(inner: Iterator[Any], recorder: StreamRecorder) -> Iterator[Any]:
    recorder.begin()
    try:
        for event in inner:
            recorder.on_event(event)
            yield event
    except GeneratorExit:  # closed before the end, or dropped and collected
        recorder.finish("closed")
        raise
    except BaseException as exc:
        recorder.finish("error", exc)
        raise
    finally:
        inner.close()  # as the SDK's generator is when not wrapped: it closes the response
    recorder.finish("complete")


class _RecordedAsyncEvents:
    """The SDK's async event generator, read through a recorder.

    Deliberately not an async generator: the event loop finalizes the async generators of a
    dropped stream concurrently, and one stacked on the SDK's would be closed at the same time
    as the SDK's, which fails ("aclose(): asynchronous generator is already running"). So the
    SDK's generator stays the outermost one, and a dropped stream's span is ended by a finalizer.
    """

    def __init__(self, inner: AsyncIterator[Any], recorder: StreamRecorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def __aiter__(self) -> _RecordedAsyncEvents:
        return self

    async def __anext__(self) -> Any:
        recorder = self.recorder
        recorder.begin()
        try:
            event = await self.inner.__anext__()
        except StopAsyncIteration:
            recorder.finish("complete")
            raise
        except BaseException as exc:
            cancelled = type(exc).__name__ == "CancelledError"
            recorder.finish("cancelled" if cancelled else "error", exc)
            raise
        recorder.on_event(event)
        return event

    async def aclose(self) -> None:
        self.recorder.finish("closed")
        await self.inner.aclose()  # type: ignore[attr-defined]


class _StreamMixin:
    """Finds the stream's recorder when the SDK builds it."""

    _spyglass: StreamRecorder | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set first: older SDKs (0.26, for one) call `__stream__` from `__init__`.
        self._spyglass = recorder = _recorder_for(kwargs.get("response"))
        super().__init__(*args, **kwargs)
        if recorder is not None:
            _end_when_dropped(self, recorder)


class _SyncStreamMixin(_StreamMixin):
    def __stream__(self) -> Iterator[Any]:
        inner = super().__stream__()  # type: ignore[misc]
        recorder = self._spyglass
        return inner if recorder is None else _recorded(inner, recorder)

    def close(self) -> None:
        if self._spyglass is not None:
            self._spyglass.finish("closed")
        super().close()  # type: ignore[misc]


class _AsyncStreamMixin(_StreamMixin):
    def __stream__(self) -> AsyncIterator[Any]:
        inner = super().__stream__()  # type: ignore[misc]
        recorder = self._spyglass
        return inner if recorder is None else _RecordedAsyncEvents(inner, recorder)

    async def close(self) -> None:
        if self._spyglass is not None:
            self._spyglass.finish("closed")
        await super().close()  # type: ignore[misc]


def instrumented_stream_class(stream_cls: Any) -> Any:
    """A subclass of the SDK's stream class (possibly a generic alias like `Stream[Event]`)."""
    cached = _subclasses.get(stream_cls)
    if cached is not None:
        return cached
    origin = getattr(stream_cls, "__origin__", stream_cls)
    is_async = hasattr(origin, "__aiter__")
    mixin = _AsyncStreamMixin if is_async else _SyncStreamMixin
    # new_class resolves a generic alias base, so the SDK still finds the event type in it.
    subclass = types.new_class(f"Spyglass{origin.__name__}", (mixin, stream_cls))
    if "__orig_bases__" in subclass.__dict__:
        # The SDK finds the event type by looking for its generic base in `__orig_bases__` and
        # reads `__origin__` off every entry on the way, which the plain mixin does not have.
        subclass.__orig_bases__ = (stream_cls,)
    _subclasses[stream_cls] = subclass
    return subclass
