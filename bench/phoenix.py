"""Side by side with Arize Phoenix: the same OTLP load against Phoenix and against Spyglass.

Phoenix runs from its own virtual environment, bench/.venv-phoenix (make it with --install),
as `phoenix serve` on a free port with its SQLite database in a temporary working directory.
The load is bench/ingest.py's: several concurrent exporters posting pre-built 100-span gzip
protobuf batches of realistic LLM spans (bench/llm_spans.py) to /v1/traces; both servers get
the very same bytes.

Phoenix answers 200 as soon as a batch is parsed and writes the spans later, so two rates are
printed for it: acknowledged (spans / time until the last reply) and written (spans / time
from the first request until `select count(*) from spans` on its database, read-only, reaches
the number sent). Spyglass answers 200 only once a batch is committed, and its count is
checked afterwards. Also printed: peak RSS of each server's process tree and bytes per span
on disk (what the database files grew by, after the server stopped, over the spans stored),
then the ratios.

    .venv/bin/python bench/phoenix.py --install --spans 20000 --exporters 4 --batch 100
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402
from bench.llm_spans import gzipped_batch  # noqa: E402
from tests.collector_process import Collector, free_port  # noqa: E402

PHOENIX_VERSION = "20.26.1"
VENV = Path(__file__).resolve().parent / ".venv-phoenix"
PHOENIX = VENV / "bin" / "phoenix"
STARTUP_TIMEOUT_S = 300


def install() -> None:
    if not PHOENIX.exists():
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print(f"installing arize-phoenix=={PHOENIX_VERSION} into {VENV}", file=sys.stderr)
    subprocess.run(
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"arize-phoenix=={PHOENIX_VERSION}",
        ],
        check=True,
    )


# --- process tree memory ---------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _tree(pid: int) -> dict[int, int]:
    """The process and its descendants: pid -> start time."""
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))):
            children.setdefault(stat[0], []).append(int(entry.name))
            started[int(entry.name)] = stat[1]
    found, todo = {}, [pid]
    while todo:
        current = todo.pop()
        if current in started:
            found[current] = started[current]
        todo.extend(children.get(current, []))
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Peak of the summed RSS of a process and its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kb = 0
        self.pids: dict[int, int] = {}  # every descendant seen: pid -> start time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _sample(self) -> None:
        tree = _tree(self.pid)
        self.pids.update(tree)
        self.peak_kb = max(self.peak_kb, sum(_status_kb(pid, "VmRSS:") for pid in tree))
        # A single process's own high-water mark catches peaks between samples.
        self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmHWM:"))

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def stop(self) -> float:
        self._sample()
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


# --- load ------------------------------------------------------------------------------------


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("select count(*) from spans").fetchone()[0]
    except sqlite3.Error:
        return 0


class CountWatcher:
    """Polls a database's span count until it reaches `target`; records when it did."""

    def __init__(self, db: Path, target: int, interval: float = 0.25):
        self.db, self.target, self.interval = db, target, interval
        self.count = 0
        self.reached_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CountWatcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.count = _count(self.db)
            if self.count >= self.target:
                self.reached_at = time.perf_counter()
                return
            self._stop.wait(self.interval)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(1)
            if time.monotonic() - last_report >= 15:
                last_report = time.monotonic()
                print(f"  phoenix: {self.count:,}/{self.target:,} spans written", file=sys.stderr)
        self._stop.set()
        self._thread.join()


def _db_bytes(directory: Path, name: str) -> int:
    return sum(path.stat().st_size for path in directory.glob(f"{name}*") if path.is_file())


# --- Phoenix ---------------------------------------------------------------------------------


def start_phoenix(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port, grpc_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PHOENIX_", "OTEL_", "VIRTUAL_ENV"))
    }
    env.update(
        PHOENIX_WORKING_DIR=str(workdir),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
    )
    log_path = workdir.parent / "phoenix.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(PHOENIX), "serve"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"phoenix exited at start:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, log_path
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_tree(process, _tree(process.pid))
    raise SystemExit(f"phoenix did not start in {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()}")


def stop_tree(process: subprocess.Popen[bytes], pids: dict[int, int]) -> None:
    """SIGTERM the process we started, then kill by id any descendant of it still running."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid, started in pids.items():
        # The same start time: still that descendant, not a new process that reused its id.
        if pid != process.pid and (stat := _stat(pid)) and stat[1] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def run_phoenix(tmp: Path, batches: list[bytes], spans: int, exporters: int, timeout: float):
    workdir = tmp / "phoenix"
    workdir.mkdir()
    process, url, log_path = start_phoenix(workdir)
    db = workdir / "phoenix.db"
    empty = _db_bytes(workdir, "phoenix.db")
    sampler = RssSampler(process.pid).start()
    try:
        watcher = CountWatcher(db, spans).start()
        load = ingest.run(url, batches, exporters, spans // len(batches))
        print(
            f"  phoenix acknowledged {spans:,} spans in {load['seconds']:.1f}s; waiting for writes",
            file=sys.stderr,
        )
        watcher.wait(timeout)
        if process.poll() is not None:
            raise SystemExit(f"phoenix exited during the run:\n{log_path.read_text()[-3000:]}")
    finally:
        rss = sampler.stop()
        stop_tree(process, sampler.pids)
    written = watcher.count
    if watcher.reached_at is not None:
        written_seconds = watcher.reached_at - load["started"]
    else:
        written_seconds = time.perf_counter() - load["started"]
    size = _db_bytes(workdir, "phoenix.db") - empty
    return {
        **load,
        "written": written,
        "complete": watcher.reached_at is not None,
        "written_seconds": written_seconds,
        "written_per_s": written / written_seconds,
        "acked_per_s": spans / load["seconds"],
        "lag_s": written_seconds - load["seconds"],
        "rss_mb": rss,
        "bytes": size,
        "bytes_per_span": size / written if written else float("nan"),
    }


# --- Spyglass --------------------------------------------------------------------------------


def run_spyglass(tmp: Path, batches: list[bytes], spans: int, exporters: int):
    data = tmp / "spyglass"
    collector = Collector(data).start()
    assert collector.process is not None
    empty = _db_bytes(data, "spyglass.db")
    sampler = RssSampler(collector.process.pid).start()
    try:
        load = ingest.run(collector.url, batches, exporters, spans // len(batches))
    finally:
        rss = sampler.stop()
        collector.stop()
    db = data / "spyglass.db"
    count = _count(db)
    if count != spans:
        raise SystemExit(f"spyglass stored {count} spans, sent {spans}: spans were lost")
    size = _db_bytes(data, "spyglass.db") - empty
    return {
        **load,
        "written": count,
        "written_per_s": spans / load["seconds"],
        "rss_mb": rss,
        "bytes": size,
        "bytes_per_span": size / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--install", action="store_true", help=f"pip-install Phoenix into {VENV}")
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--exporters", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for Phoenix to write them all"
    )
    args = parser.parse_args()

    if args.install:
        install()
    elif not PHOENIX.exists():
        print(
            f"Phoenix is not installed in {VENV}; run once with --install"
            f" (python3 -m venv and pip install arize-phoenix=={PHOENIX_VERSION}).",
            file=sys.stderr,
        )
        raise SystemExit(2)

    batches = [gzipped_batch(args.batch) for _ in range(args.spans // args.batch)]
    spans = len(batches) * args.batch
    with tempfile.TemporaryDirectory(prefix="bench-phoenix-") as name:
        tmp = Path(name)
        print(f"phoenix {PHOENIX_VERSION}: sending {spans:,} spans", file=sys.stderr)
        phoenix = run_phoenix(tmp, batches, spans, args.exporters, args.timeout)
        print(f"spyglass: sending {spans:,} spans", file=sys.stderr)
        spyglass = run_spyglass(tmp, batches, spans, args.exporters)

    load = f"{spans:,} spans, {args.exporters} exporters, {args.batch}-span gzip protobuf batches"
    if phoenix["complete"]:
        written = (
            f"written {phoenix['written_per_s']:,.0f} spans/s (all {spans:,} in the database"
            f" {phoenix['written_seconds']:.1f}s after the first request,"
            f" {phoenix['lag_s']:.1f}s after the last reply)"
        )
    else:
        written = (
            f"written only {phoenix['written']:,} of {spans:,} spans in"
            f" {phoenix['written_seconds']:.0f}s = {phoenix['written_per_s']:,.0f} spans/s"
            f" (gave up after {args.timeout:.0f}s)"
        )
    ratio = spyglass["written_per_s"] / phoenix["written_per_s"]
    print(
        f"load: {load}\n"
        f"phoenix {PHOENIX_VERSION} (SQLite): {written};"
        f" acknowledged {phoenix['acked_per_s']:,.0f} spans/s ({phoenix['seconds']:.1f}s"
        f" to the last reply, p50 {phoenix['p50_ms']:.0f} ms, p99 {phoenix['p99_ms']:.0f} ms,"
        f" {phoenix['retries']:.0f} retried replies);"
        f" peak RSS {phoenix['rss_mb']:,.0f} MB;"
        f" disk {phoenix['bytes_per_span']:,.0f} bytes per span"
        f" ({phoenix['bytes'] / 1e6:.1f} MB added)\n"
        f"spyglass: committed {spyglass['written_per_s']:,.0f} spans/s ({spyglass['seconds']:.1f}s,"
        f" p50 {spyglass['p50_ms']:.0f} ms, p99 {spyglass['p99_ms']:.0f} ms,"
        f" {spyglass['retries']:.0f} retried replies, all {spans:,} counted);"
        f" peak RSS {spyglass['rss_mb']:,.0f} MB;"
        f" disk {spyglass['bytes_per_span']:,.0f} bytes per span"
        f" ({spyglass['bytes'] / 1e6:.1f} MB added)\n"
        f"ratio: {ratio:,.1f}× Phoenix's written spans/s (target ≥ 50×:"
        f" {'met' if ratio >= 50 else 'not met'}),"
        f" {spyglass['written_per_s'] / phoenix['acked_per_s']:,.1f}× its acknowledged spans/s;"
        f" memory {spyglass['rss_mb'] / phoenix['rss_mb']:.2f}×;"
        f" disk {spyglass['bytes_per_span'] / phoenix['bytes_per_span']:.2f}×"
        f" (Spyglass bytes/span ÷ Phoenix bytes/span)"
    )


if __name__ == "__main__":
    main()
