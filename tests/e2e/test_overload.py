"""An overloaded collector answers 503 with Retry-After instead of growing, and loses nothing.

The collector runs as its own process (`tests/slow_collector.py`) with its store slowed down
and a small queue bound (`SPYGLASS_MAX_PENDING_SPANS`). Exporters of the real OpenTelemetry
SDK (`OTLPSpanExporter`, one per thread, as one per app) all send at once far more than the
slowed store takes in the time. The collector must refuse what it cannot queue with 503 and
Retry-After, the exporters' own retries must then bring every span in, and the collector's
peak memory must stay near its baseline, well below what holding the whole load would take.

The installed exporter retries 429, 502, 503 and 504 up to six times within its timeout, and
waits what Retry-After says (1 s here) where it is given, 1, 2, 4... seconds with jitter where
not. The load is sized so that every batch gets in within those six tries either way: the
queue takes three batches at a time, each write takes about a tenth of a second, and the
exporters' timeout is long enough for all their tries.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests import otlp_builders as otlp
from tests.collector_process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SPANS_PER_BATCH = 100
# A long prompt of random text: it takes the compressed long-value path.
PROMPT_BYTES = 2_000
MAX_PENDING_SPANS = 3 * SPANS_PER_BATCH
WRITE_DELAY_S = 0.1
# The exporters' test: eight apps sending three batches each, at once. The queue takes three
# batches at a time, so five of the first eight are refused and come back after Retry-After.
EXPORTERS = 8
BATCHES_PER_EXPORTER = 3
EXPORT_TIMEOUT_S = 30
# The memory test: 64 requests at once, 6,400 spans, more than the writer can take in their
# time. Measured on this load (2 cores): the peak RSS grows 53 MB over the baseline with the
# bound (the 13 MB of bodies being read and decoded, three batches queued, SQLite's page cache
# for what was written, the allocator's slack), and 153 MB with the bound lifted
# (SPYGLASS_MAX_PENDING_SPANS=1000000: every decoded span queued, about 16 KB each).
BURST_REQUESTS = 64
PEAK_GROWTH_BOUND_MB = 80
STARTUP_TIMEOUT_S = 30


class SlowCollector:
    """`tests/slow_collector.py` as a process; its RSS is read from /proc."""

    def __init__(
        self, tmp_path: Path, database_url: str, max_pending: int = MAX_PENDING_SPANS
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / "slow-collector.log"
        env = {**os.environ, "SPYGLASS_MAX_PENDING_SPANS": str(max_pending)}
        # As a module: run as a script, tests/ would come first on the path, and tests/app with it.
        command = [sys.executable, "-m", "tests.slow_collector"]
        command += ["--port", str(self.port), "--database-url", database_url]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--delay", str(WRITE_DELAY_S)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"slow collector exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"slow collector did not start:\n{self.log()}")

    def memory_mb(self, field: str) -> float:
        """VmRSS (now) or VmHWM (the peak so far), in MB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1)) / 1024

    def statuses(self) -> list[int]:
        """The status of every POST /v1/traces so far, from the access log."""
        found = re.findall(r'"POST /v1/traces HTTP/1.1" (\d{3})', self.log())
        return [int(status) for status in found]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def slow_collector(tmp_path: Path, database_url: str) -> Iterator[SlowCollector]:
    collector = SlowCollector(tmp_path, database_url)
    yield collector
    collector.stop()


def make_batches(count: int) -> list[list[ReadableSpan]]:
    """`count` batches of SPANS_PER_BATCH spans made by the real SDK, each with a long prompt."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "overload"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.overload")
    for number in range(count * SPANS_PER_BATCH):
        prompt = base64.b64encode(os.urandom(PROMPT_BYTES * 3 // 4)).decode()
        attributes = {"gen_ai.request.model": "claude-sonnet-4-6", "app.prompt": prompt}
        with tracer.start_as_current_span(f"call {number}", attributes=attributes):
            pass
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    return [spans[i : i + SPANS_PER_BATCH] for i in range(0, len(spans), SPANS_PER_BATCH)]


def export_all(url: str, batches: Sequence[list[ReadableSpan]]) -> list[SpanExportResult]:
    """Each thread exports its share of the batches one after another, all threads at once."""
    shares = [batches[i::EXPORTERS] for i in range(EXPORTERS)]
    results: list[SpanExportResult] = []
    start = threading.Barrier(EXPORTERS)

    def run(share: Sequence[list[ReadableSpan]]) -> None:
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=EXPORT_TIMEOUT_S)
        start.wait()
        try:
            results.extend(exporter.export(batch) for batch in share)
        finally:
            exporter.shutdown()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(EXPORT_TIMEOUT_S * 2)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_the_exporters_retries_deliver_everything(
    slow_collector: SlowCollector, database_url: str
) -> None:
    batches = make_batches(EXPORTERS * BATCHES_PER_EXPORTER)
    started = time.monotonic()
    results = export_all(slow_collector.url, batches)
    took = time.monotonic() - started

    statuses = slow_collector.statuses()
    assert results == [SpanExportResult.SUCCESS] * len(batches), statuses
    refused = statuses.count(503) + statuses.count(429)
    assert refused > 0, f"the load never overloaded the collector: {statuses}"
    assert set(statuses) <= {200, 429, 503}, statuses

    with sa.create_engine(database_url, poolclass=sa.pool.NullPool).connect() as connection:
        stored = connection.execute(sa.text("SELECT span_id FROM spans")).scalars().all()
    sent = [span.context.span_id.to_bytes(8, "big") for batch in batches for span in batch]
    assert sorted(map(bytes, stored)) == sorted(sent)  # each once, none lost

    print(f"\n{len(statuses)} requests, {refused} refused, in {took:.1f}s")


def test_a_burst_is_refused_with_retry_after_and_memory_stays_bounded(
    slow_collector: SlowCollector,
) -> None:
    """Raw requests that find the queue full see the 503 and its Retry-After themselves, and
    the collector holds no more than its bound of them."""
    headers = {"content-type": "application/x-protobuf"}
    bodies = [
        otlp.request(*[prompted_span() for _ in range(SPANS_PER_BATCH)]).SerializeToString()
        for _ in range(BURST_REQUESTS + 1)
    ]
    # One request first, so that the baseline has every code path of the burst loaded.
    reply = httpx.post(f"{slow_collector.url}/v1/traces", content=bodies[0], headers=headers)
    assert reply.status_code == 200
    baseline = slow_collector.memory_mb("VmRSS")

    replies: list[httpx.Response] = []
    start = threading.Barrier(BURST_REQUESTS)

    def send(body: bytes) -> None:
        with httpx.Client(base_url=slow_collector.url, timeout=60) as client:
            start.wait()
            replies.append(client.post("/v1/traces", content=body, headers=headers))

    senders = [threading.Thread(target=send, args=(body,)) for body in bodies[1:]]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(90)
    peak = slow_collector.memory_mb("VmHWM")
    statuses = sorted(reply.status_code for reply in replies)
    assert len(statuses) == BURST_REQUESTS
    assert statuses.count(200) >= MAX_PENDING_SPANS // SPANS_PER_BATCH, statuses
    refused = [reply for reply in replies if reply.status_code != 200]
    assert refused, statuses
    for reply in refused:
        assert reply.status_code == 503
        assert float(reply.headers["retry-after"]) > 0
    print(f"\n{len(refused)} of {len(replies)} refused; RSS {baseline:.0f} MB, peak {peak:.0f} MB")
    assert peak - baseline < PEAK_GROWTH_BOUND_MB


def prompted_span() -> Any:
    prompt = base64.b64encode(os.urandom(PROMPT_BYTES * 3 // 4)).decode()
    return otlp.span("call", attributes={"app.prompt": prompt})
