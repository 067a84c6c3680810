"""Retention end to end: a real `spyglass serve` with SPYGLASS_MAX_DB_MB, fed over OTLP/HTTP,
keeps its SQLite file under the limit and its newest traces."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest

from tests import otlp_builders as otlp
from tests.collector_process import Collector

LIMIT_MB = 1
PROTOBUF = {"content-type": "application/x-protobuf"}


def _body(rnd: random.Random, traces: list[tuple[bytes, int]]) -> bytes:
    """One export of these traces (id, start), four spans each."""
    spans = [
        otlp.span(
            f"step {number}",
            trace=trace,
            start_ns=start_ns + number * 1_000_000,
            # Under the length of long values, so that each span's weight is in its own rows.
            attributes={
                f"note.{k}": " ".join(
                    "".join(rnd.choices("bcdfghjkmnpqrstvwz", k=7)) for _ in range(25)
                )
                for k in range(4)
            },
        )
        for trace, start_ns in traces
        for number in range(4)
    ]
    return otlp.request(*spans).SerializeToString()


@pytest.mark.sqlite_only  # the size of the file on disk
def test_the_database_file_ends_under_the_limit_with_the_newest_traces(tmp_path: Path) -> None:
    rnd = random.Random(3)
    data_dir = tmp_path / "data"
    database = data_dir / "spyglass.db"
    env = {"SPYGLASS_MAX_DB_MB": str(LIMIT_MB)}
    # Over an hour old, so that none is a trace still receiving spans.
    first_ns = time.time_ns() - 3 * 3600 * 10**9
    traces = [otlp.trace_id() for _ in range(200)]
    collector = Collector(data_dir, env=env).start()
    try:
        with httpx.Client(base_url=collector.url, timeout=30) as client:
            starts = [(trace, first_ns + n * 10**9) for n, trace in enumerate(traces)]
            for first in range(0, len(starts), 25):
                body = _body(rnd, starts[first : first + 25])
                assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    finally:
        collector.stop()
    assert database.stat().st_size > 1.5 * LIMIT_MB * 2**20  # well past the limit first

    # The pass at start runs before the collector answers (the next would come in a minute).
    collector = Collector(data_dir, port=collector.port, env=env).start()
    try:
        newest = httpx.get(f"{collector.url}/api/v1/traces", params={"limit": 20}).json()
        oldest = httpx.get(f"{collector.url}/api/v1/traces/{traces[0].hex()}")
    finally:
        collector.stop()
    assert [t["trace_id"] for t in newest["traces"]] == [t.hex() for t in traces[::-1][:20]]
    assert oldest.status_code == 404
    wal = database.with_name(database.name + "-wal")
    on_disk = database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    assert on_disk < LIMIT_MB * 2**20, on_disk
