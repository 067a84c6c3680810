"""Scale out: three collectors on different ports write to one PostgreSQL at the same time.

Each trace's spans are spread over all three collectors and exported in parallel, and some
spans are sent to two of them (as a retry through a load balancer would), so the collectors
race on the same traces and the same rows. Every span must be stored exactly once, every
trace summary must count all its spans, and every collector must answer for every trace.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.database import create_engine
from tests.collector_process import Collector

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

COLLECTORS = 3
EXPORTERS_PER_COLLECTOR = 2
TRACES = 60
CHILDREN = 9
CALLS_PER_TRACE = 2
INPUT_TOKENS = 11
BATCH = 20


def record_traces() -> list[ReadableSpan]:
    """TRACES traces of a root and CHILDREN children, CALLS_PER_TRACE of them LLM calls."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "scale-out"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.scale_out")
    for number in range(TRACES):
        with tracer.start_as_current_span(f"job {number}"):
            for child in range(CHILDREN):
                attributes = {}
                if child < CALLS_PER_TRACE:
                    attributes = {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "anthropic",
                        "gen_ai.request.model": "claude-x",
                        "gen_ai.response.id": f"msg_{number}_{child}",
                        "gen_ai.usage.input_tokens": INPUT_TOKENS,
                        "gen_ai.usage.output_tokens": 1,
                    }
                with tracer.start_as_current_span(f"step {child}", attributes=attributes):
                    pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def share_out(spans: list[ReadableSpan]) -> list[list[ReadableSpan]]:
    """Each span to one exporter, round robin, so that every trace reaches every collector;
    every fifth span also to an exporter of the next collector, as a retry would be."""
    exporters = COLLECTORS * EXPORTERS_PER_COLLECTOR
    shares: list[list[ReadableSpan]] = [[] for _ in range(exporters)]
    for index, span in enumerate(spans):
        shares[index % exporters].append(span)
        if index % 5 == 0:
            shares[(index + EXPORTERS_PER_COLLECTOR) % exporters].append(span)
    return shares


@pytest.fixture
def collectors(tmp_path: Path, database_url: str) -> Iterator[list[Collector]]:
    # Started together, so that they also race to migrate the database.
    started = [
        Collector(tmp_path / f"collector-{n}", database_url=database_url) for n in range(COLLECTORS)
    ]
    threads = [threading.Thread(target=collector.start) for collector in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        for collector in started:
            assert httpx.get(f"{collector.url}/healthz", timeout=5).status_code == 200
        yield started
    finally:
        for collector in started:
            collector.stop()


def export_all(collectors: list[Collector], shares: list[list[ReadableSpan]]) -> list[str]:
    """Every share exported by its own thread, all starting at once; the failures found."""
    start = threading.Barrier(len(shares))
    failures: list[str] = []

    def run(index: int) -> None:
        url = collectors[index // EXPORTERS_PER_COLLECTOR].url
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=30)
        start.wait()
        try:
            for first in range(0, len(shares[index]), BATCH):
                result = exporter.export(shares[index][first : first + BATCH])
                if result is not SpanExportResult.SUCCESS:
                    failures.append(f"exporter {index} to {url}: {result}")
        finally:
            exporter.shutdown()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(shares))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_three_collectors_on_one_postgres_store_every_span_once(
    collectors: list[Collector], database_url: str
) -> None:
    spans = record_traces()
    assert export_all(collectors, share_out(spans)) == []

    expected = defaultdict(set)
    for span in spans:
        expected[f"{span.context.trace_id:032x}"].add(f"{span.context.span_id:016x}")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT trace_id, span_id FROM spans")).all()
    engine.dispose()
    # Exactly once: as many rows as distinct spans sent, and the very same ones.
    assert len(stored) == len(spans)
    assert {(t.hex(), s.hex()) for t, s in stored} == {
        (trace, span) for trace, ids in expected.items() for span in ids
    }

    for collector in collectors:
        for trace_id, span_ids in expected.items():
            reply = httpx.get(f"{collector.url}/api/v1/traces/{trace_id}", timeout=10)
            assert reply.status_code == 200, reply.text
            found = reply.json()
            assert {span["span_id"] for span in found["spans"]} == span_ids
            # The summary was recomputed after the last write of the trace, whichever
            # collector made it, so it counts every span and every call.
            summary = found["trace"]
            assert summary["span_count"] == 1 + CHILDREN, trace_id
            assert summary["llm_call_count"] == CALLS_PER_TRACE, trace_id
            assert summary["input_tokens"] == CALLS_PER_TRACE * INPUT_TOKENS, trace_id
            assert summary["name"].startswith("job ")
