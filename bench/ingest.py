"""Durable ingest throughput: concurrent exporters posting protobuf batches to a real collector.

Starts `spyglass serve` on a free port with a fresh data directory (or uses --url), sends
pre-built 100-span batches of agent-loop LLM spans (`bench/llm_spans.py`, ~9 KB each) from
several concurrent exporters, and prints spans/s, request latency percentiles, the collector's
memory and bytes per span on disk. Every reply must be 200, and at the end the stored span
count must equal the number sent, so the figure is spans committed, not spans acknowledged.

Before the collector starts, the same batches go through the raw pipeline of this machine
(`bench/raw_pipeline.py`: one process doing gunzip, parse, rows and `executemany` into SQLite
with `synchronous=FULL`), and the collector's spans/s is printed as a ratio of it: the machine
is noisy, so only figures measured in one run compare.

    .venv/bin/python bench/ingest.py --spans 40000 --exporters 4 --batch 100
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import raw_pipeline  # noqa: E402
from bench.agent_disk import checkpointed  # noqa: E402
from bench.llm_spans import batch  # noqa: E402
from tests.collector_process import Collector  # noqa: E402


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """The proportional set size: each page shared with other processes (the worker forked
    from its server, the libraries) counted once across them, as RSS summed would not."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, in case the collector runs workers."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


def _cpu_ticks(pid: int) -> int:
    """CPU time a process has used so far, user and system, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


class RssSampler:
    """Samples the RSS and PSS of a process and its children every `interval` seconds, and
    the CPU time they use meanwhile: a figure the noise of a shared machine moves less than
    the wall-clock rate."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self.processes = 1
        self.samples = 0
        self._first_ticks: dict[int, int] = {}  # of the processes alive at the first sample
        self._last_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _process_tree(self.pid)
            self.processes = max(self.processes, len(tree))
            self.peak_kb = max(self.peak_kb, sum(_status_kb(pid, "VmRSS") for pid in tree))
            self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(pid) for pid in tree))
            for pid in tree:
                ticks = _cpu_ticks(pid)
                if self.samples == 0:
                    self._first_ticks[pid] = ticks
                self._last_ticks[pid] = max(ticks, self._last_ticks.get(pid, 0))
            self.samples += 1
            self._stop.wait(self.interval)

    @property
    def cpu_s(self) -> float:
        """CPU seconds the collector's processes used while sampled (a process that started
        meanwhile, such as a decoding worker, counts whole)."""
        return sum(self.cpu_by_process().values())

    @property
    def main_cpu_s(self) -> float:
        """Of `cpu_s`, the collector's own process: the receiver and the writer."""
        return self.cpu_by_process().get(self.pid, 0.0)

    def cpu_by_process(self) -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        return {
            pid: (last - self._first_ticks.get(pid, 0)) / tick
            for pid, last in self._last_ticks.items()
        }

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_batches(spans: int, batch_size: int, service: str) -> list[bytes]:
    return [
        gzip.compress(batch(batch_size, service), compresslevel=1)
        for _ in range(spans // batch_size)
    ]


HEADERS = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}
# Replies an OTLP exporter retries after a pause (Spyglass and Phoenix answer 503 when full).
RETRYABLE = {429, 502, 503, 504}


def _machine_ticks() -> tuple[int, int]:
    """Clock ticks of all cores since boot: (busy, all), idle and I/O wait being not busy;
    (0, 0) where there is no /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return 0, 0
    fields = [int(v) for v in first.split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def run(url: str, batches: list[bytes], exporters: int, batch_size: int) -> dict[str, float]:
    """Post every batch once from `exporters` threads, retrying what an exporter would retry
    with a doubling pause; any other reply but 200 ends the bench.

    It also measures the share of the machine's cores busy meanwhile, and its own CPU time:
    the load generator runs on the same cores as the collector, so when they are all busy,
    spans/s is set by the CPU time of a span summed over everything, not by one stage."""
    latencies: list[float] = []
    failures: list[str] = []
    retries = 0
    lock = threading.Lock()
    cursor = iter(range(len(batches)))

    def exporter() -> None:
        nonlocal retries
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                pause = 0.1
                while True:
                    started = time.perf_counter()
                    reply = client.post(f"{url}/v1/traces", content=batches[index], headers=HEADERS)
                    elapsed = time.perf_counter() - started
                    if reply.status_code in RETRYABLE and pause < 30:
                        with lock:
                            retries += 1
                        time.sleep(pause)
                        pause *= 2
                        continue
                    break
                with lock:
                    latencies.append(elapsed)
                    if reply.status_code != 200:
                        failures.append(f"{reply.status_code} {reply.text[:200]}")

    threads = [threading.Thread(target=exporter) for _ in range(exporters)]
    machine_before, own_before = _machine_ticks(), os.times()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.perf_counter()
    machine_after, own_after = _machine_ticks(), os.times()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    wall = finished - started
    return {
        "spans": len(batches) * batch_size,
        "started": started,
        "finished": finished,
        "seconds": wall,
        "spans_per_s": len(batches) * batch_size / wall,
        "retries": retries,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "cores_busy": (machine_after[0] - machine_before[0])
        / (machine_after[1] - machine_before[1] or float("nan")),
        "load_cpu_s": (own_after.user - own_before.user) + (own_after.system - own_before.system),
    }


def count_over_api(url: str, service: str) -> int:
    """Spans stored for `service`, summed over its traces through the REST API."""
    count, cursor = 0, None
    with httpx.Client(timeout=60) as client:
        while True:
            params = {"service": service, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{url}/api/v1/traces", params=params).raise_for_status().json()
            count += sum(trace["span_count"] for trace in page["traces"])
            cursor = page.get("next_cursor")
            if not cursor:
                return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=40_000)
    parser.add_argument("--exporters", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--url", help="a running collector to send to (no RSS or disk figures then)"
    )
    parser.add_argument(
        "--no-raw", action="store_true", help="skip the raw pipeline and the ratio to it"
    )
    args = parser.parse_args()

    service = f"bench-{os.urandom(4).hex()}"
    started = time.perf_counter()
    batches = make_batches(args.spans, args.batch, service)
    built_s = time.perf_counter() - started
    sent = len(batches) * args.batch
    wire = sum(map(len, batches)) / sent
    print(
        f"load: {sent} agent-loop LLM spans in {len(batches)} gzip protobuf batches"
        f" ({wire:,.0f} bytes a span on the wire), built in {built_s:.1f}s",
        flush=True,
    )
    load_at_start = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        # Before the collector starts, so the two do not share the cores.
        raw = None if args.no_raw else raw_pipeline.measure(batches, Path(tmp))
        sampler = None
        if args.url:
            result = run(args.url, batches, args.exporters, args.batch)
            count = count_over_api(args.url, service)
            size = None
        else:
            collector = Collector(Path(tmp) / "data").start()
            assert collector.process is not None
            pid = collector.process.pid
            try:
                with RssSampler(pid) as sampler:
                    result = run(collector.url, batches, args.exporters, args.batch)
                hwm_kb = _status_kb(pid, "VmHWM")
            finally:
                collector.stop()
            db = Path(tmp) / "data" / "spyglass.db"
            count, size = checkpointed(db)
    if count != result["spans"]:
        raise SystemExit(f"stored {count} spans, sent {result['spans']}: spans were lost")

    print(
        f"ingest: {result['spans']} spans in {result['seconds']:.2f}s ="
        f" {result['spans_per_s']:,.0f} spans/s ({args.exporters} exporters,"
        f" {args.batch}-span gzip protobuf batches, all committed)"
    )
    if raw is not None:
        print(raw_pipeline.describe(raw))
        print(f"ratio: {result['spans_per_s'] / raw['spans_per_s']:.2f}× the raw pipeline")
    print(
        f"retried replies: {result['retries']:.0f}\n"
        f"latency per request: p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms,"
        f" p99 {result['p99_ms']:.1f} ms"
    )
    if sampler is not None:
        tree = f", {sampler.processes} processes" if sampler.processes > 1 else ""
        print(
            f"collector RSS: peak sampled {sampler.peak_kb / 1024:.0f} MB ({sampler.samples}"
            f" samples every 0.1 s{tree}), VmHWM {hwm_kb / 1024:.0f} MB (main process);"
            f" PSS peak {sampler.peak_pss_kb / 1024:.0f} MB (shared pages counted once)"
        )
        per_span = 1e6 / result["spans"]
        print(
            f"collector CPU: {sampler.cpu_s * per_span:,.0f} µs per span"
            f" ({sampler.cpu_s:.1f} s over its processes; main process"
            f" {sampler.main_cpu_s * per_span:,.0f} µs, decoding worker and the rest"
            f" {(sampler.cpu_s - sampler.main_cpu_s) * per_span:,.0f} µs)"
        )
    print(
        f"machine: {result['cores_busy']:.0%} of {os.cpu_count()} cores busy during the run;"
        f" the load generator's own CPU {result['load_cpu_s'] * 1e6 / result['spans']:,.0f} µs"
        " per span"
    )
    if size is not None:
        print(
            f"disk: {size / count:,.0f} bytes per span ({size / 1e6:.1f} MB for {count} spans,"
            " after a WAL checkpoint)"
        )
    print(
        "load average: {:.2f} {:.2f} {:.2f} at start,".format(*load_at_start)
        + " {:.2f} {:.2f} {:.2f} at end".format(*os.getloadavg())
    )


if __name__ == "__main__":
    main()
