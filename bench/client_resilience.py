"""What a collector that is up, down, failing or hanging costs an instrumented app.

Each case runs in a process of its own (`configure()` is once per process): the real anthropic
client calls a fake Anthropic API on 127.0.0.1, bare and instrumented in turn, while Spyglass's
exporter sends to a collector that answers 200 (up), is not listening (down), answers 500, or
accepts connections and never answers (hanging). It reports the added latency per call
(instrumented minus bare: p50, p99 and mean) and how long the app's exit takes after its last
call, which is where the last spans are flushed. A thousand calls make more spans than one
export batch (512), so the exporter works during the calls too, not only at the exit. The collectors here are fakes in the same
process; the point is the client, not the collector.

    .venv/bin/python bench/client_resilience.py --calls 1000
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = ("up", "down", "500", "hanging")
MODEL = "claude-sonnet-4-6"


class OtlpServer:
    """A fake OTLP/HTTP endpoint on 127.0.0.1 that answers each POST with the next status of
    `statuses` (the last repeats), with Retry-After on 429 and 503, and keeps the bodies it
    answered 200."""

    def __init__(self, statuses: list[int], retry_after: str = "1") -> None:
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.received: list[bytes] = []
        self.answered: list[int] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    status = (
                        server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
                    )
                    server.answered.append(status)
                    if status == 200:
                        server.received.append(body)
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", server.retry_after)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class HangingServer:
    """Accepts connections on 127.0.0.1 and never answers, until closed."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            self._held.append(connection)  # read nothing, answer nothing

    def close(self) -> None:
        self._listener.close()
        for connection in self._held:
            connection.close()


def down_url() -> str:
    """A loopback port nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def collector_for(case: str) -> tuple[str, Any]:
    if case == "up":
        server: Any = OtlpServer([200])
    elif case == "500":
        server = OtlpServer([500])
    elif case == "hanging":
        server = HangingServer()
    else:
        return down_url(), None
    return server.url, server


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_case(case: str, calls: int, rounds: int) -> dict[str, Any]:
    """In this process: the bare and the instrumented client, interleaved by rounds."""
    import anthropic

    import spyglass
    from tests.fake_anthropic import DEFAULT_TEXT, FakeAnthropic

    endpoint, _server = collector_for(case)  # kept open until the process exits
    spyglass.configure(endpoint=endpoint, service_name="client-resilience")
    fake = FakeAnthropic().__enter__()
    request = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Plan three days in Lisbon."}],
    }
    bare = anthropic.Anthropic(base_url=fake.base_url, api_key="bench", max_retries=0)
    instrumented = anthropic.Anthropic(base_url=fake.base_url, api_key="bench", max_retries=0)
    spyglass.instrument_anthropic(instrumented)
    times: dict[str, list[float]] = {"bare": [], "instrumented": []}
    wrong = 0
    for client in (bare, instrumented):  # warm up
        client.messages.create(**request)
    for _ in range(rounds):
        for name, client in (("bare", bare), ("instrumented", instrumented)):
            for _ in range(calls // rounds):
                started = time.perf_counter()
                reply = client.messages.create(**request)
                times[name].append((time.perf_counter() - started) * 1000)
                wrong += reply.content[0].text != DEFAULT_TEXT
    # Closed before the exit: the fake's handler threads would otherwise hold it.
    bare.close()
    instrumented.close()
    fake.close()
    added = [
        i - b for i, b in zip(sorted(times["instrumented"]), sorted(times["bare"]), strict=True)
    ]
    return {
        "case": case,
        "calls": len(times["instrumented"]),
        "wrong": wrong,
        "bare_p50": percentile(times["bare"], 0.5),
        "p50": percentile(times["instrumented"], 0.5),
        "p99": percentile(times["instrumented"], 0.99),
        "max": max(times["instrumented"]),
        "bare_p99": percentile(times["bare"], 0.99),
        "mean_added": statistics.fmean(times["instrumented"]) - statistics.fmean(times["bare"]),
        "p50_added": percentile(added, 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000, help="calls per client and case")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--case", choices=CASES, help="run one case in this process")
    args = parser.parse_args()
    if args.case:
        result = run_case(args.case, args.calls, args.rounds)
        print(json.dumps(result), flush=True)
        return  # the exit, and the flush of the last spans, is timed by the parent

    print(f"{args.calls} calls per client, real anthropic client, fake API on 127.0.0.1")
    print(
        f"{'collector':10} {'bare p50':>9} {'instr p50':>9} {'instr p99':>9} {'bare p99':>9}"
        f" {'added mean':>10} {'exit':>7}"
    )
    for case in CASES:
        command = [sys.executable, __file__, "--case", case, "--calls", str(args.calls)]
        process = subprocess.Popen(
            [*command, "--rounds", str(args.rounds)], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        result = json.loads(process.stdout.readline())
        printed = time.monotonic()
        code = process.wait(60)
        exit_s = time.monotonic() - printed
        assert code == 0 and result["wrong"] == 0, (code, result)
        print(
            f"{case:10} {result['bare_p50']:7.2f}ms {result['p50']:7.2f}ms {result['p99']:7.2f}ms"
            f" {result['bare_p99']:7.2f}ms {result['mean_added']:+8.2f}ms {exit_s:6.2f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
