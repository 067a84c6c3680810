"""The exporter Spyglass sends with: OTLP/HTTP, in requests a collector accepts.

The batch processor hands its exporter up to 512 spans at a time with no bound on their size,
and the span of one LLM call may carry a few MB of content. A collector refuses a body past
its limit (Spyglass's: 16 MiB, before and after decompression), and the exporter then drops the
whole batch, every small span in it included. `SizedExporter` sends each batch in groups of
spans whose text stays under `MAX_REQUEST_CHARS`, counted in characters as the spans hold it:
cheap to count, and at most four bytes each once encoded, so a group stays under 16 MiB
whatever its script. One span larger than that goes alone (the content attributes of a call are
bounded, so a span is a few MB at most).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

MAX_REQUEST_CHARS = 3_500_000
# What a span costs besides its text: ids, times, kind, status, and the keys' framing.
SPAN_OVERHEAD_CHARS = 200


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_chars(item) for item in value)
    return 16  # a number or a boolean


def span_chars(span: ReadableSpan) -> int:
    """About how much a span adds to a request: its name and the text of its attributes,
    events and links."""
    size = SPAN_OVERHEAD_CHARS + len(span.name)
    sources = [span.attributes or {}]
    sources += [event.attributes or {} for event in span.events]
    sources += [link.attributes or {} for link in span.links]
    for attributes in sources:
        size += sum(len(key) + _chars(value) for key, value in attributes.items())
    return size + sum(len(event.name) for event in span.events)


def groups(spans: Sequence[ReadableSpan], max_chars: int) -> Iterator[Sequence[ReadableSpan]]:
    """`spans` in order, cut into runs of at most `max_chars` (a larger span is a run alone)."""
    start, size = 0, 0
    for index, span in enumerate(spans):
        chars = span_chars(span)
        if index > start and size + chars > max_chars:
            yield spans[start:index]
            start, size = index, 0
        size += chars
    if start < len(spans):
        yield spans[start:]


class SizedExporter(SpanExporter):
    """Sends what it is given through `inner`, a request per group of spans (`groups`)."""

    def __init__(self, inner: SpanExporter, max_chars: int = MAX_REQUEST_CHARS) -> None:
        self.inner = inner
        self.max_chars = max_chars

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.SUCCESS
        # Every group is tried: one refused does not keep the others from the collector.
        for group in groups(spans, self.max_chars):
            if self.inner.export(group) is not SpanExportResult.SUCCESS:
                result = SpanExportResult.FAILURE
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
