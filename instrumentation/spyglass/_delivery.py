"""The exporter Spyglass sends with: OTLP/HTTP, in requests a collector accepts.

Two things would make the OTLP exporter drop a whole batch, every small span in it included:

- **Size.** The batch processor hands its exporter up to 512 spans at a time with no bound on
  their size, and the span of one LLM call may carry a few MB of content. A collector refuses a
  body past its limit (Spyglass's: 16 MiB, before and after decompression). Each batch goes out
  in groups whose text stays under `MAX_REQUEST_CHARS`, counted in characters as the spans hold
  it: cheap to count, and at most four bytes each once encoded, so a group stays under 16 MiB
  whatever its script. One span larger than that goes alone (the content attributes of a call
  are bounded, so a span is a few MB at most).
- **Text UTF-8 cannot carry.** A lone surrogate (half an emoji cut by someone's slicing, or
  bytes decoded with `surrogateescape`) in any string of any span makes protobuf refuse to
  encode the batch. Such a span is sent as a copy with each lone surrogate replaced by U+FFFD.

All of it runs on the batch processor's thread, never on the app's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link
from opentelemetry.trace.status import Status

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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _is_valid(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _valid(value: Any) -> Any:
    if isinstance(value, str):
        return value if _is_valid(value) else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, tuple | list):
        return type(value)(_valid(item) for item in value)
    return value


def _valid_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {_valid(key): _valid(value) for key, value in (attributes or {}).items()}


def _texts(span: ReadableSpan) -> Iterator[str]:
    """Every string a span's encoding holds: name, status, and the keys and text values of its
    attributes, events', links' and resource's."""
    yield span.name
    if span.status.description:
        yield span.status.description
    sources: list[Mapping[str, Any]] = [span.attributes or {}, span.resource.attributes]
    sources += [event.attributes or {} for event in span.events]
    sources += [link.attributes or {} for link in span.links]
    yield from (event.name for event in span.events)
    for attributes in sources:
        for key, value in attributes.items():
            yield key
            if isinstance(value, str):
                yield value
            elif isinstance(value, tuple | list):
                yield from (item for item in value if isinstance(item, str))


def deliverable(span: ReadableSpan) -> ReadableSpan:
    """`span`, or a copy of it whose strings UTF-8 can carry."""
    if all(_is_valid(text) for text in _texts(span)):
        return span
    return ReadableSpan(
        name=_valid(span.name),
        context=span.context,
        parent=span.parent,
        resource=Resource(_valid_attributes(span.resource.attributes), span.resource.schema_url),
        attributes=_valid_attributes(span.attributes),
        events=[
            Event(_valid(e.name), _valid_attributes(e.attributes), e.timestamp) for e in span.events
        ],
        links=[Link(link.context, _valid_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=Status(span.status.status_code, _valid(span.status.description)),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class SizedExporter(SpanExporter):
    """Sends what it is given through `inner`, a request per group of spans (`groups`), each
    span as UTF-8 can carry it (`deliverable`)."""

    def __init__(self, inner: SpanExporter, max_chars: int = MAX_REQUEST_CHARS) -> None:
        self.inner = inner
        self.max_chars = max_chars

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = SpanExportResult.SUCCESS
        # Every group is tried: one refused does not keep the others from the collector.
        for group in groups(spans, self.max_chars):
            sent = self.inner.export([deliverable(span) for span in group])
            if sent is not SpanExportResult.SUCCESS:
                result = SpanExportResult.FAILURE
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
