"""A collector killed with SIGKILL under load loses no acknowledged span and leaves no half-write.

Several senders, each with its own HTTP client, post agent-loop batches (`bench.llm_spans`: 50
spans a request, long message texts that take the compressed long-value path, traces cut
across requests so that their summaries are recomputed by several commits) and note which
spans got a 200. The collector is killed at several points of that load: as the first requests
arrive, early, and under full load. After each kill it is started again on the same database,
which must then hold every acknowledged span, with its long values intact, and be consistent
in itself: every trace summary agrees with its stored spans, nothing points at a row that is
not there, and on SQLite the file, its foreign keys and the FTS5 index pass their own checks.
Unacknowledged spans may be there or not; a span that is there must be whole.

A SIGKILL is a process crash, not a power cut: the WAL's pages written before it are in the
kernel's page cache and survive it. `PRAGMA synchronous=FULL` is what covers the power cut.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app import long_values, queries
from app.schema import spans
from bench.llm_spans import AgentTraces
from tests.collector_process import Collector

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SENDERS = 4
SPANS_PER_REQUEST = 50
PROTOBUF = {"content-type": "application/x-protobuf"}
# Acknowledged requests (of all senders) before the kill: 0 is as soon as the first request is
# on its way; 40 is 2,000 spans in, with every sender busy.
KILL_AFTER = (0, 6, 40)
LOAD_TIMEOUT_S = 30

SpanKey = tuple[bytes, bytes]


def _long_digest(attributes: dict) -> str:
    """A digest of a span's long string values, the ones stored compressed apart."""
    digest = hashlib.sha256()
    for key in sorted(attributes):
        value = attributes[key]
        if isinstance(value, str) and len(value) >= long_values.LONG_VALUE_CHARS:
            digest.update(key.encode() + b"\0" + value.encode() + b"\0")
    return digest.hexdigest()


def _sent_spans(request: ExportTraceServiceRequest) -> dict[SpanKey, str]:
    """Each span of a request, with the digest of its long values."""
    found = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = {kv.key: kv.value.string_value for kv in span.attributes}
                found[(span.trace_id, span.span_id)] = _long_digest(attributes)
    return found


@dataclass
class Load:
    """Senders posting batches until told to stop or the collector goes away."""

    url: str
    kill_after: int
    seed: int
    acked: dict[SpanKey, str] = field(default_factory=dict)
    acked_requests: int = 0
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reached: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def send(self, number: int) -> None:
        traces = AgentTraces(seed=self.seed * 100 + number)
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                request = traces.request(SPANS_PER_REQUEST, service=f"sender-{number}")
                spans = _sent_spans(request)
                if self.kill_after == 0:
                    self.reached.set()  # the first request is about to go
                try:
                    reply = client.post(
                        f"{self.url}/v1/traces",
                        content=request.SerializeToString(),
                        headers=PROTOBUF,
                    )
                except httpx.TransportError:
                    return  # the collector is gone
                if reply.status_code != 200:
                    with self.lock:
                        self.unexpected.append(f"{reply.status_code}: {reply.text[:200]}")
                    continue
                with self.lock:
                    self.acked.update(spans)
                    self.acked_requests += 1
                    if self.acked_requests >= self.kill_after:
                        self.reached.set()

    def run_until_killed(self, collector: Collector) -> None:
        threads = [
            threading.Thread(target=self.send, args=(number,), daemon=True)
            for number in range(SENDERS)
        ]
        for thread in threads:
            thread.start()
        try:
            assert self.reached.wait(LOAD_TIMEOUT_S), (
                f"only {self.acked_requests} requests acknowledged:\n{collector.log()[-3000:]}"
            )
            assert collector.process is not None
            collector.process.kill()
            collector.process.wait(10)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(15)
        assert not any(thread.is_alive() for thread in threads)


@pytest.fixture
def collectors(tmp_path: Path) -> Iterator[list[Collector]]:
    started: list[Collector] = []
    yield started
    for collector in started:
        collector.stop()


def test_acknowledged_spans_survive_sigkill(
    database_url: str, tmp_path: Path, collectors: list[Collector]
) -> None:
    data_dir = tmp_path / "collector-data"
    acked: dict[SpanKey, str] = {}
    for round_number, kill_after in enumerate(KILL_AFTER):
        collector = Collector(data_dir, database_url=database_url)
        collectors.append(collector.start())
        load = Load(collector.url, kill_after, seed=round_number)
        load.run_until_killed(collector)
        assert load.unexpected == [], load.unexpected
        acked.update(load.acked)

        # Started again on the same database: what a crashed collector's user does.
        collector = Collector(data_dir, database_url=database_url)
        collectors.append(collector.start())
        check_database(database_url, acked)
        check_api(collector.url, acked)
        collector.stop()
    # Every round acknowledged something but the first, whose kill came with the first request.
    assert len(acked) >= SPANS_PER_REQUEST * (KILL_AFTER[-1] + KILL_AFTER[-2])


def check_database(url: str, acked: dict[SpanKey, str]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            check_spans(connection, acked)
            check_summaries(connection)
            check_references(connection)
            if connection.dialect.name == "sqlite":
                check_sqlite_file(connection)
    finally:
        engine.dispose()


def check_spans(connection: sa.Connection, acked: dict[SpanKey, str]) -> None:
    """Every acknowledged span is there with its long values; every span there is readable."""
    stored: dict[SpanKey, str] = {}
    s = spans.c
    rows = connection.execute(
        sa.select(s.trace_id, s.span_id, s.attributes, s.long_attributes)
    ).all()
    # A torn compressed value would fail here, for acknowledged spans or not; a chunk that a
    # span refers to and the database lacks reads as the marker.
    for row, attributes in zip(rows, queries._attributes(connection, rows), strict=True):
        assert long_values.MISSING_CHUNK not in attributes.values(), (row.trace_id, row.span_id)
        stored[(row.trace_id, row.span_id)] = _long_digest(attributes)
    missing = acked.keys() - stored.keys()
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans are lost"
    changed = [key for key, digest in acked.items() if stored[key] != digest]
    assert not changed, f"{len(changed)} acknowledged spans lost long values"


SUMMARY_FROM_SPANS = """
SELECT trace_id,
       COUNT(*),
       MIN(start_ns),
       MAX(end_ns),
       SUM(CASE WHEN status_code = 2 THEN 1 ELSE 0 END),
       SUM(CASE WHEN llm_is_call THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN llm_is_call THEN llm_input_tokens END), 0),
       COALESCE(SUM(CASE WHEN llm_is_call THEN llm_output_tokens END), 0)
FROM spans GROUP BY trace_id
"""
SUMMARY_STORED = """
SELECT trace_id, span_count, start_ns, end_ns, error_count, llm_call_count, input_tokens,
       output_tokens
FROM traces
"""


def check_summaries(connection: sa.Connection) -> None:
    """Each trace's summary is what its stored spans add up to: none was left half-written."""

    def by_trace(sql: str) -> dict[bytes, tuple]:
        return {bytes(row[0]): tuple(row[1:]) for row in connection.execute(sa.text(sql))}

    from_spans, stored = by_trace(SUMMARY_FROM_SPANS), by_trace(SUMMARY_STORED)
    assert from_spans.keys() == stored.keys(), "traces without spans, or spans without a trace"
    wrong = {t.hex(): (stored[t], s) for t, s in from_spans.items() if stored[t] != s}
    assert not wrong, f"{len(wrong)} summaries disagree with their spans: {list(wrong.items())[:3]}"


ORPHANS = {
    "spans without their resource": "SELECT COUNT(*) FROM spans s WHERE NOT EXISTS"
    " (SELECT 1 FROM resources r WHERE r.resource_hash = s.resource_hash)",
    "spans without their scope": "SELECT COUNT(*) FROM spans s WHERE NOT EXISTS"
    " (SELECT 1 FROM scopes c WHERE c.scope_hash = s.scope_hash)",
    "search text without its span": "SELECT COUNT(*) FROM span_search x WHERE NOT EXISTS"
    " (SELECT 1 FROM spans s WHERE s.trace_id = x.trace_id AND s.span_id = x.span_id)",
    "search pieces without their span": "SELECT COUNT(*) FROM search_pieces p WHERE NOT EXISTS"
    " (SELECT 1 FROM spans s WHERE s.trace_id = p.trace_id AND s.span_id = p.span_id)",
    "LLM spans without search text": "SELECT COUNT(*) FROM spans s WHERE s.llm_convention"
    " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM span_search x"
    " WHERE s.trace_id = x.trace_id AND s.span_id = x.span_id)",
}


def check_references(connection: sa.Connection) -> None:
    """The schema has no foreign keys (bulk upserts would pay for them): check them here."""
    found = {name: connection.execute(sa.text(sql)).scalar_one() for name, sql in ORPHANS.items()}
    assert found == dict.fromkeys(ORPHANS, 0)


def check_sqlite_file(connection: sa.Connection) -> None:
    assert connection.exec_driver_sql("PRAGMA integrity_check").all() == [("ok",)]
    assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    # Raises SQLITE_CORRUPT_VTAB when the index disagrees with span_search (migration 0003).
    connection.exec_driver_sql(
        "INSERT INTO span_search_fts(span_search_fts) VALUES ('integrity-check')"
    )
    indexed = connection.exec_driver_sql("SELECT COUNT(*) FROM span_search_fts").scalar_one()
    assert indexed == connection.exec_driver_sql("SELECT COUNT(*) FROM span_search").scalar_one()


def check_api(url: str, acked: dict[SpanKey, str]) -> None:
    """A few acknowledged traces read back whole through the REST API."""
    for trace_id in sorted({trace for trace, _ in acked})[:3]:
        reply = httpx.get(f"{url}/api/v1/traces/{trace_id.hex()}", timeout=10)
        assert reply.status_code == 200, reply.text
        found = reply.json()
        assert found["trace"]["span_count"] == len(found["spans"])
        ids = {span["span_id"] for span in found["spans"]}
        assert {span.hex() for trace, span in acked if trace == trace_id} <= ids
        for span in found["spans"]:
            key = (trace_id, bytes.fromhex(span["span_id"]))
            if key in acked:
                assert _long_digest(span["attributes"]) == acked[key]
