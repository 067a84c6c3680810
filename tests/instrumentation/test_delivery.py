"""SizedExporter: a batch goes out in requests a collector accepts, and none is dropped whole."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spyglass._delivery import SizedExporter, deliverable, groups, span_chars


def _spans(*sizes: int) -> list[ReadableSpan]:
    """Finished spans, each with one attribute of `size` characters."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index, size in enumerate(sizes):
        with tracer.start_as_current_span(f"span {index}") as span:
            span.set_attribute("content", "x" * size)
    return list(memory.get_finished_spans())


class Recording(SpanExporter):
    """Keeps each request it is asked to send; refuses the ones listed."""

    def __init__(self, refuse: tuple[int, ...] = ()) -> None:
        self.requests: list[list[str]] = []
        self.refuse = refuse

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.requests.append([span.name for span in spans])
        refused = len(self.requests) - 1 in self.refuse
        return SpanExportResult.FAILURE if refused else SpanExportResult.SUCCESS


def test_a_span_counts_its_text() -> None:
    [small, large] = _spans(10, 1_000_000)
    assert 1_000_000 < span_chars(large) < 1_000_000 + 1_000
    assert span_chars(small) < 1_000


def test_a_batch_is_cut_into_groups_in_order_under_the_bound() -> None:
    spans = _spans(*[400_000] * 10)
    cut = list(groups(spans, 1_000_000))
    assert [len(group) for group in cut] == [2, 2, 2, 2, 2]
    assert [span for group in cut for span in group] == spans
    assert all(sum(span_chars(s) for s in group) <= 1_000_000 for group in cut)


def test_a_span_larger_than_the_bound_goes_alone() -> None:
    spans = _spans(10, 2_000_000, 10, 10)
    assert [len(group) for group in groups(spans, 1_000_000)] == [1, 1, 2]


def test_small_batches_are_one_request() -> None:
    exporter = Recording()
    assert SizedExporter(exporter).export(_spans(10, 10, 10)) is SpanExportResult.SUCCESS
    assert exporter.requests == [["span 0", "span 1", "span 2"]]


def test_one_refused_request_does_not_keep_the_others_back() -> None:
    exporter = Recording(refuse=(0,))
    result = SizedExporter(exporter, max_chars=500_000).export(_spans(*[400_000] * 3))
    assert result is SpanExportResult.FAILURE
    assert exporter.requests == [["span 0"], ["span 1"], ["span 2"]]


def test_a_span_with_a_lone_surrogate_is_sent_with_a_replacement_character() -> None:
    # protobuf refuses to encode a lone surrogate, and the OTLP exporter then drops the batch.
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("half \ud83d") as span:
        span.set_attribute("text", "ok \ud83d")
        span.set_attribute("list", ["fine", "bad \udc00"])
        span.set_attribute("k\ud800", 1)
        span.add_event("event \ud83d", {"message": "x \ud800"})
        span.set_status(Status(StatusCode.ERROR, "oops \ud83d"))
    [bad] = memory.get_finished_spans()
    [good] = _spans(10)
    sent = deliverable(bad)
    assert sent.name == "half \ufffd"
    assert dict(sent.attributes) == {
        "text": "ok \ufffd",
        "list": ("fine", "bad \ufffd"),
        "k\ufffd": 1,
    }
    assert [(e.name, dict(e.attributes)) for e in sent.events] == [
        ("event \ufffd", {"message": "x \ufffd"})
    ]
    assert sent.status.description == "oops \ufffd"
    assert (sent.context, sent.start_time, sent.end_time) == (
        bad.context,
        bad.start_time,
        bad.end_time,
    )
    assert deliverable(good) is good  # nothing copied when nothing needs it
    # What the OTLP exporter encodes: the whole batch, with the copy in place.
    encode_spans([sent, good]).SerializeToString()
