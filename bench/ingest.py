"""Durable ingest throughput: concurrent exporters posting protobuf batches to a real collector.

Starts `spyglass serve` on a free port with a fresh data directory (or uses --url), sends
pre-built 100-span batches from several concurrent exporters, and prints spans/s, request
latency percentiles, the collector's peak memory and bytes per span on disk. Every reply must
be 200, and at the end the stored span count must equal the number sent, so the figure is
spans committed, not spans acknowledged.

    .venv/bin/python bench/ingest.py --spans 40000 --exporters 4 --batch 100
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.llm_spans import gzipped_batch  # noqa: E402
from tests.collector_process import Collector  # noqa: E402


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(url: str, spans: int, exporters: int, batch_size: int) -> dict[str, float]:
    batches = [gzipped_batch(batch_size) for _ in range(spans // batch_size)]
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(batches)))
    headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}

    def exporter() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                started = time.perf_counter()
                reply = client.post(f"{url}/v1/traces", content=batches[index], headers=headers)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if reply.status_code != 200:
                        failures.append(f"{reply.status_code} {reply.text[:200]}")

    threads = [threading.Thread(target=exporter) for _ in range(exporters)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "spans": len(batches) * batch_size,
        "seconds": wall,
        "spans_per_s": len(batches) * batch_size / wall,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=40_000)
    parser.add_argument("--exporters", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        collector = Collector(Path(tmp) / "data").start()
        try:
            result = run(collector.url, args.spans, args.exporters, args.batch)
            rss = _peak_rss_mb(collector.process.pid)
        finally:
            collector.stop()
        db = Path(tmp) / "data" / "spyglass.db"
        size = sum(p.stat().st_size for p in db.parent.glob("spyglass.db*"))
        with sqlite3.connect(db) as connection:
            count = connection.execute("select count(*) from spans").fetchone()[0]
    if count != result["spans"]:
        raise SystemExit(f"stored {count} spans, sent {result['spans']}: spans were lost")
    print(
        f"ingest: {result['spans']} spans in {result['seconds']:.2f}s = {result['spans_per_s']:,.0f} spans/s"
        f" ({args.exporters} exporters, {args.batch}-span gzip protobuf batches, all committed)\n"
        f"latency per request: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms,"
        f" p99 {result['p99_ms']:.1f} ms\n"
        f"collector peak RSS: {rss:.0f} MB\n"
        f"disk: {size / count:,.0f} bytes per span ({size / 1e6:.1f} MB for {count} spans)"
    )


if __name__ == "__main__":
    main()
