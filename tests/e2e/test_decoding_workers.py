"""The collector's decoding worker processes end with it, however it ends.

A worker blocks waiting for work, and the forkserver it was forked from waits for its last
worker: if the collector is killed, nothing else would tell them. Each kill would leave a
hundred megabytes behind (app.decoding).
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import httpx

from tests.collector_process import Collector
from tests.otlp_builders import request, span

PROTOBUF = {"content-type": "application/x-protobuf"}


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                children = {int(child) for child in (task / "children").read_text().split()}
                todo.extend(children - found)
                found |= children
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def _wait_gone(pids: set[int], timeout_s: float = 15) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {pid for pid in pids if _running(pid)}
        if not left:
            return left
        time.sleep(0.05)
    return {pid for pid in pids if _running(pid)}


def _with_workers(tmp_path: Path) -> tuple[Collector, set[int]]:
    collector = Collector(tmp_path / "data").start()
    body = request(span("decoded in a worker")).SerializeToString()
    assert httpx.post(f"{collector.url}/v1/traces", content=body, headers=PROTOBUF).is_success
    assert collector.process is not None
    workers = _descendants(collector.process.pid)
    assert workers, "no decoding worker process was started"
    return collector, workers


def test_killing_the_collector_ends_its_decoding_workers(tmp_path: Path) -> None:
    collector, workers = _with_workers(tmp_path)
    assert collector.process is not None
    collector.process.send_signal(signal.SIGKILL)
    collector.process.wait()
    assert _wait_gone(workers) == set()


def test_stopping_the_collector_ends_its_decoding_workers(tmp_path: Path) -> None:
    collector, workers = _with_workers(tmp_path)
    collector.stop()  # SIGTERM: uvicorn shuts the app down, then ends by the same signal
    assert "Application shutdown complete" in collector.log()
    assert _wait_gone(workers) == set()


def _forked_from_the_forkserver(pids: set[int]) -> set[int]:
    """Of these processes, multiprocessing's fork server and the workers forked from it, whose
    command line is the fork server's."""
    found = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
    return found


def test_the_decoding_worker_starts_with_the_collector(tmp_path: Path) -> None:
    """Not with the first export, which would wait for it (and the event loop with it)."""
    collector = Collector(tmp_path / "data").start()
    try:
        assert collector.process is not None
        deadline = time.monotonic() + 30
        started: set[int] = set()
        while time.monotonic() < deadline and len(started) < 2:
            started = _forked_from_the_forkserver(_descendants(collector.process.pid))
            time.sleep(0.05)
        assert len(started) >= 2, "no fork server and worker before the first export"
    finally:
        collector.stop()
