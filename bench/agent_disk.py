"""Disk used by agent loops: each call re-sends the whole conversation so far.

N conversations of 20 calls each (`bench/llm_spans.py`: a system prompt shared by all, a task,
then tool call after tool call, each call sending the growing history), as OpenTelemetry
GenAI attributes by default, are exported to a real `spyglass serve` on a fresh data
directory in gzip protobuf batches. The calls of all conversations are interleaved, as the
exports of concurrent agents are, so a batch holds a call or two of each conversation rather
than whole conversations. Every reply must be 200 and every span must be stored.

It prints the naive size (the attribute JSON of every span as sent, summed: what a store
keeping each span's attributes whole would hold before indexes), the bytes on disk (every
file of the database once the collector has stopped) and their ratio. Storing each distinct
message once should bring the ratio to 0.2× or less.

    .venv/bin/python bench/agent_disk.py --conversations 100
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import llm_spans  # noqa: E402
from bench.raw_pipeline import attributes_json  # noqa: E402
from tests.collector_process import Collector  # noqa: E402

SCOPES = {
    llm_spans.GENAI: (llm_spans.GENAI_SCOPE, llm_spans.genai_span),
    llm_spans.OPENINFERENCE: (llm_spans.OPENINFERENCE_SCOPE, llm_spans.openinference_span),
}


def interleaved_spans(
    conversations: int, calls: int, convention: str, seed: int
) -> list[tuple[str, llm_spans.Span]]:
    """Call 1 of every conversation, then call 2 of every conversation, and so on."""
    rng = random.Random(seed)
    scope, make = SCOPES[convention]
    now = time.time_ns()
    runs = [list(llm_spans.conversation(rng, calls, now)) for _ in range(conversations)]
    return [(scope, make(run[index])) for index in range(calls) for run in runs]


def checkpointed(db: Path) -> tuple[int, int]:
    """The spans stored, and the bytes of the database's files once its write-ahead log is
    checkpointed into it and truncated: what the data takes, whatever the log held when the
    collector stopped."""
    connection = sqlite3.connect(db)
    try:
        count = connection.execute("select count(*) from spans").fetchone()[0]
        connection.execute("pragma wal_checkpoint(truncate)")
    finally:
        connection.close()
    return count, sum(p.stat().st_size for p in db.parent.glob("spyglass.db*"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20, help="calls per conversation")
    parser.add_argument("--batch", type=int, default=100, help="spans per export")
    parser.add_argument("--convention", choices=sorted(SCOPES), default=llm_spans.GENAI)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    spans = interleaved_spans(args.conversations, args.calls, args.convention, args.seed)
    naive = sum(len(attributes_json(span.attributes)) for _, span in spans)
    protobuf = sum(span.ByteSize() for _, span in spans)
    headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}

    with tempfile.TemporaryDirectory() as tmp:
        collector = Collector(Path(tmp) / "data").start()
        try:
            with httpx.Client(timeout=120) as client:
                for start in range(0, len(spans), args.batch):
                    request = llm_spans.export_request(spans[start : start + args.batch])
                    body = gzip.compress(request.SerializeToString(), compresslevel=1)
                    reply = client.post(f"{collector.url}/v1/traces", content=body, headers=headers)
                    if reply.status_code != 200:
                        raise SystemExit(f"export failed: {reply.status_code} {reply.text[:300]}")
        finally:
            collector.stop()
        db = Path(tmp) / "data" / "spyglass.db"
        as_left = sum(p.stat().st_size for p in db.parent.glob("spyglass.db*"))
        count, disk = checkpointed(db)
        tables = table_bytes(db)
    if count != len(spans):
        raise SystemExit(f"stored {count} spans, sent {len(spans)}: spans were lost")

    sent = len(spans)
    print(
        f"agent loop: {args.conversations} conversations × {args.calls} calls = {sent} spans"
        f" ({args.convention} attributes, each call re-sending the growing history, calls of"
        f" all conversations interleaved in {args.batch}-span batches)"
    )
    print(
        f"naive size: {naive / 1e6:.1f} MB of attribute JSON as sent ({naive / sent:,.0f} bytes"
        f" per span; protobuf {protobuf / sent:,.0f} bytes per span)"
    )
    print(
        f"disk: {disk / 1e6:.1f} MB ({disk / sent:,.0f} bytes per span, the database after a"
        f" WAL checkpoint; {as_left / 1e6:.1f} MB as the collector left it)"
    )
    print(f"ratio: {disk / naive:.2f}× the naive size (target ≤ 0.2×)")
    print(
        "by table and index, bytes per span: "
        + ", ".join(f"{name} {size / sent:,.0f}" for name, size in tables if size / sent >= 5)
    )


def table_bytes(db: Path) -> list[tuple[str, int]]:
    """The bytes of each table and index of the database, largest first (SQLite's dbstat)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()


if __name__ == "__main__":
    main()
