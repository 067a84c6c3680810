"""The raw limit of this machine for durable span ingest, measured in one Python process.

Over the same gzip protobuf batches the ingest bench sends, one process does the least a
durable collector must: gunzip, `ExportTraceServiceRequest.ParseFromString`, turn each span
into a row (ids, name, times, kind, status, service, and its attributes as JSON: orjson of a
dict built from the KeyValues), and `executemany` the rows into an SQLite table with a primary
key on (trace_id, span_id) and an index on the start time, in WAL mode with
`synchronous=FULL`, committing each batch. No HTTP, no threads, no search index, no
conventions: what is left is the floor cost of decoding and storing. `bench/ingest.py` prints
the collector's throughput as a ratio of this, measured in the same run.

It then runs the same pipeline again with the one extra the product cannot drop, full-text
search (`--no-search` skips it): each span's search text made by the collector's own
`app.search.search_pieces`, each long piece kept once per trace as the collector keeps it, and
inserted into a contentless FTS5 index in the same transaction. Its ratio to the raw pipeline
is the most the collector could reach on this machine with search, before conventions, call
links, shared chunks, compression, trace summaries, HTTP or a second process.

    .venv/bin/python bench/raw_pipeline.py --spans 20000
"""

from __future__ import annotations

import argparse
import base64
import gzip
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.search import join, search_pieces  # noqa: E402

SCHEMA = """
create table spans (
    trace_id blob not null,
    span_id blob not null,
    parent_span_id blob,
    service text,
    name text not null,
    kind integer not null,
    start_ns integer not null,
    end_ns integer not null,
    status_code integer not null,
    status_message text,
    attributes blob not null,
    primary key (trace_id, span_id)
);
create index spans_start on spans (start_ns);
create virtual table span_text using fts5(body, content='');
"""
INSERT = "insert into spans values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "string_value":
        return any_value.string_value
    if kind == "int_value":
        return any_value.int_value
    if kind == "double_value":
        return any_value.double_value
    if kind == "bool_value":
        return any_value.bool_value
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: value(pair.value) for pair in pairs}


def attributes_json(pairs: Iterable[KeyValue]) -> bytes:
    """A span's attributes as the JSON the raw pipeline stores (also the agent bench's
    measure of a span's naive size)."""
    return orjson.dumps(attributes(pairs))


def rows(request: ExportTraceServiceRequest) -> list[tuple[Any, ...]]:
    found = []
    for resource_spans in request.resource_spans:
        service = next(
            (
                kv.value.string_value
                for kv in resource_spans.resource.attributes
                if kv.key == "service.name"
            ),
            None,
        )
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    (
                        span.trace_id,
                        span.span_id,
                        span.parent_span_id or None,
                        service,
                        span.name,
                        span.kind,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        span.status.code,
                        span.status.message,
                        attributes_json(span.attributes),
                    )
                )
    return found


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("pragma journal_mode = wal")
    connection.execute("pragma synchronous = full")
    connection.executescript(SCHEMA)
    return connection


def search_texts(
    request: ExportTraceServiceRequest, indexed: set[tuple[bytes, bytes]]
) -> list[str]:
    """The search text of each span of `request` that has one, each long piece once per trace
    (`indexed` holds the trace and digest of those already indexed), as the collector does."""
    texts = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kept = []
                for digest, text in search_pieces(span.name, attributes(span.attributes)):
                    if digest is not None:
                        if (span.trace_id, digest) in indexed:
                            continue
                        indexed.add((span.trace_id, digest))
                    kept.append((digest, text))
                body = join(kept)
                if body:
                    texts.append(body)
    return texts


def pipeline(batches: Sequence[bytes], database: Path, search: bool = False) -> dict[str, float]:
    """Store every gzipped batch durably, one commit each, with its search text too when
    `search`; returns spans and seconds."""
    connection = connect(database)
    spans = 0
    indexed: set[tuple[bytes, bytes]] = set()
    started = time.perf_counter()
    for body in batches:
        request = ExportTraceServiceRequest()
        request.ParseFromString(gzip.decompress(body))
        found = rows(request)
        texts = search_texts(request, indexed) if search else []
        connection.execute("begin")
        connection.executemany(INSERT, found)
        connection.executemany("insert into span_text (body) values (?)", zip(texts))
        connection.execute("commit")
        spans += len(found)
    seconds = time.perf_counter() - started
    stored = connection.execute("select count(*) from spans").fetchone()[0]
    connection.close()
    if stored != spans:
        raise SystemExit(f"raw pipeline stored {stored} spans of {spans}")
    return {"spans": spans, "seconds": seconds, "spans_per_s": spans / seconds}


def parse_rate(batches: Sequence[bytes]) -> dict[str, float]:
    """`ParseFromString` alone, over the batches already gunzipped."""
    bodies = [gzip.decompress(body) for body in batches]
    spans = 0
    started = time.perf_counter()
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    seconds = time.perf_counter() - started
    return {"spans": spans, "seconds": seconds, "spans_per_s": spans / seconds}


def measure(
    batches: Sequence[bytes], workdir: Path | None = None, search: bool = False
) -> dict[str, float]:
    """The raw pipeline over `batches` (with search texts when `search`) into a new database
    under `workdir` (or a temporary folder), which is deleted afterwards."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        return pipeline(batches, Path(tmp) / "raw.db", search)


def describe(result: dict[str, float]) -> str:
    return (
        f"raw pipeline: {result['spans']:.0f} spans in {result['seconds']:.2f}s ="
        f" {result['spans_per_s']:,.0f} spans/s (one process: gunzip, parse, rows with orjson"
        " attributes, executemany, SQLite WAL synchronous=FULL, a commit per batch)"
    )


def main() -> None:
    from bench.llm_spans import gzipped_batch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--no-parse", action="store_true", help="skip the bare parse rate")
    parser.add_argument("--no-search", action="store_true", help="skip the run with search")
    args = parser.parse_args()
    batches = [gzipped_batch(args.batch) for _ in range(args.spans // args.batch)]
    raw = measure(batches)
    print(describe(raw))
    if not args.no_search:
        searched = measure(batches, search=True)
        print(
            f"raw pipeline with search: {searched['spans_per_s']:,.0f} spans/s, "
            f"{searched['spans_per_s'] / raw['spans_per_s']:.2f}× the raw pipeline (the same,"
            " plus each span's search text from app.search into a contentless FTS5 index)"
        )
    if not args.no_parse:
        parsed = parse_rate(batches)
        print(
            f"parse only: {parsed['spans_per_s']:,.0f} spans/s (ParseFromString of gunzipped batches)"
        )


if __name__ == "__main__":
    main()
