"""End to end: a real `spyglass serve`, fed by the real OpenTelemetry SDK and OTLP exporter."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tests.collector_process import Collector

ATTRIBUTES = {
    "app.int": 42,
    "app.big_int": 2**62,
    "app.double": 1.0,
    "app.ratio": 0.25,
    "app.flag": True,
    "app.text": "héllo <b>world</b>",
    "app.ints": [1, 2, 3],
    "app.texts": ["a", "b"],
    "app.flags": [True, False],
}


def record_spans(service: str = "e2e-app") -> list:
    """Spans made by the real SDK: a root with typed attributes, an event and an error child."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.e2e", "1.2.3")
    with tracer.start_as_current_span("handle request", attributes=ATTRIBUTES) as root:
        root.add_event("cache miss", {"key": "user:1"})
        with tracer.start_as_current_span("call model") as child:
            child.set_status(Status(StatusCode.ERROR, "model overloaded"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def export(url: str, spans: list, compression: Compression = Compression.NoCompression) -> None:
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=compression, timeout=10)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def fetch_trace(url: str, trace_id: int) -> dict:
    reply = httpx.get(f"{url}/api/v1/traces/{trace_id:032x}", timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


def assert_stored(url: str, spans: list) -> None:
    root = next(s for s in spans if s.parent is None)
    child = next(s for s in spans if s.parent is not None)
    found = fetch_trace(url, root.context.trace_id)
    assert found["trace"]["name"] == "handle request"
    assert found["trace"]["service_name"] == "e2e-app"
    assert found["trace"]["span_count"] == 2
    assert found["trace"]["error_count"] == 1
    stored = {s["span_id"]: s for s in found["spans"]}
    stored_root = stored[f"{root.context.span_id:016x}"]
    # Types survive the trip: 1.0 stays a float, booleans stay booleans, lists stay lists.
    assert stored_root["attributes"] == ATTRIBUTES
    assert isinstance(stored_root["attributes"]["app.double"], float)
    assert stored_root["events"][0]["name"] == "cache miss"
    assert stored_root["events"][0]["attributes"] == {"key": "user:1"}
    assert stored_root["scope_name"] == "tests.e2e"
    assert stored_root["scope_version"] == "1.2.3"
    assert stored_root["resource_attributes"]["service.name"] == "e2e-app"
    assert stored_root["start_time_unix_nano"] == root.start_time
    assert stored_root["end_time_unix_nano"] == root.end_time
    stored_child = stored[f"{child.context.span_id:016x}"]
    assert stored_child["parent_span_id"] == f"{root.context.span_id:016x}"
    assert stored_child["status_code"] == "error"
    assert stored_child["status_message"] == "model overloaded"


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_exported_spans_are_stored_with_their_types(collector: Collector, compression) -> None:
    spans = record_spans()
    export(collector.url, spans, compression)
    assert_stored(collector.url, spans)


def test_spans_survive_a_restart(collector: Collector) -> None:
    spans = record_spans()
    export(collector.url, spans, Compression.Gzip)
    # uvicorn finishes a graceful shutdown, then re-raises SIGTERM as the exit status.
    assert collector.stop() in (0, -signal.SIGTERM), collector.log()
    assert "Application shutdown complete" in collector.log()
    collector.start()
    assert_stored(collector.url, spans)
    listed = httpx.get(f"{collector.url}/api/v1/traces", timeout=10).json()
    assert [t["trace_id"] for t in listed["traces"]] == [f"{spans[0].context.trace_id:032x}"]


def test_retried_export_stores_each_span_once(collector: Collector) -> None:
    spans = record_spans()
    export(collector.url, spans)
    export(collector.url, spans)
    found = fetch_trace(collector.url, spans[0].context.trace_id)
    assert found["trace"]["span_count"] == 2
    assert len(found["spans"]) == 2


def test_default_exporter_needs_no_configuration(tmp_path: Path) -> None:
    """The SDK's stock exporter, built with no arguments, reaches a collector on its defaults."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 4318)) == 0:
            pytest.fail("port 4318 is taken by another process: stop it to run this test")
    collector = Collector(tmp_path / "default", port=4318).start()
    try:
        spans = record_spans()
        exporter = OTLPSpanExporter()  # no endpoint: the SDK's default, localhost:4318
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
        assert_stored(collector.url, spans)
    finally:
        collector.stop()


def test_spyglass_client_package_delivers_spans_at_exit(collector: Collector) -> None:
    """An app that configures the spyglass package and exits has its spans flushed."""
    app = textwrap.dedent(
        f"""
        import spyglass
        spyglass.configure(endpoint={collector.url!r}, service_name="client-app")
        with spyglass.span("Asking Claude to write some code", user="ada", attempt=2):
            pass
        """
    )
    subprocess.run([sys.executable, "-c", app], check=True, timeout=60)
    listed = httpx.get(f"{collector.url}/api/v1/spans", params={"service": "client-app"}).json()
    assert [s["name"] for s in listed["spans"]] == ["Asking Claude to write some code"]
    assert listed["spans"][0]["attributes"] == {"user": "ada", "attempt": 2}


def test_configuring_twice_sends_each_span_once(collector: Collector) -> None:
    app = textwrap.dedent(
        f"""
        import spyglass
        first = spyglass.configure(endpoint={collector.url!r}, service_name="twice")
        second = spyglass.configure(endpoint={collector.url!r}, capture_content=False)
        assert first is second
        with spyglass.span("once"):
            pass
        """
    )
    subprocess.run([sys.executable, "-c", app], check=True, timeout=60)
    listed = httpx.get(f"{collector.url}/api/v1/spans", params={"service": "twice"}).json()
    assert [s["name"] for s in listed["spans"]] == ["once"]
