"""What instrumenting a client costs the app per call.

The real anthropic client talks to an in-process transport that answers at once, so the
figures are the SDK's own cost plus what instrumentation adds, with no network noise. Spans go
to a real BatchSpanProcessor whose exporter drops them, as a collector that keeps up would.
Each mode runs interleaved rounds and reports the median per call; the overhead is the
difference from the bare client. When `logfire` is importable, its `instrument_anthropic` is
measured the same way, in processes alternating with Spyglass's, and the ratio of the two
overheads printed.

    .venv/bin/python bench/client_overhead.py --calls 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
import httpx2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Day one: Alfama and the castle. " * 20}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 25,
        "output_tokens": 120,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 10,
    },
}
EVENTS = [
    (
        "message_start",
        {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}},
    ),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ),
    *[
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "word "},
            },
        )
        for _ in range(100)
    ],
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 120},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]
SSE = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in EVENTS).encode()
REQUEST = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "system": "You are a meticulous travel assistant. " * 20,
    "messages": [
        {"role": "user", "content": "Plan three days in Lisbon. " * 20},
        {"role": "assistant", "content": "Which season? " * 5},
        {"role": "user", "content": "Spring."},
    ],
}


def handler(request: httpx2.Request) -> httpx2.Response:
    if json.loads(request.content).get("stream"):
        return httpx2.Response(200, content=SSE, headers={"content-type": "text/event-stream"})
    return httpx2.Response(200, json=MESSAGE)


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def one_call(client: anthropic.Anthropic, stream: bool) -> None:
    if stream:
        for _ in client.messages.create(stream=True, **REQUEST):
            pass
    else:
        client.messages.create(**REQUEST)


def measure(client: anthropic.Anthropic, calls: int, stream: bool) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        one_call(client, stream)
    return (time.perf_counter() - started) / calls * 1e6


def run_mode(mode: str, calls: int, rounds: int) -> None:
    """Bare client against one instrumentation, interleaved, in this process."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=100_000))
    trace.set_tracer_provider(provider)
    if mode == "spyglass":
        import spyglass

        instrument: Callable[[], Any] = spyglass.instrument_anthropic
    else:
        import logfire

        # The same span processor as Spyglass's, so both pay for queuing and export alike.
        logfire.configure(
            send_to_logfire=False,
            console=False,
            additional_span_processors=[BatchSpanProcessor(DropExporter(), max_queue_size=100_000)],
        )
        instrument = logfire.instrument_anthropic

    def make_client() -> anthropic.Anthropic:
        # open_telemetry=False: the SDK's own spans would be a cost of the bare client too.
        transport = httpx2.MockTransport(handler)
        return anthropic.Anthropic(
            api_key="bench", open_telemetry=False, http_client=httpx2.Client(transport=transport)
        )

    for stream in (False, True):
        results: dict[str, list[float]] = {"bare": [], mode: []}
        for _ in range(rounds):
            for name in results:
                client = make_client()
                undo = instrument() if name == mode else None
                if undo is not None:  # logfire's must be entered before it can be left
                    undo.__enter__()
                one_call(client, stream)  # warm up
                results[name].append(measure(client, calls // rounds, stream))
                if undo is not None:
                    undo.__exit__(None, None, None)
                client.close()
        bare = statistics.median(results["bare"])
        instrumented = statistics.median(results[mode])
        label = "streamed, 100 chunks" if stream else "non-streamed"
        print(
            f"{mode:8} {label:21} bare {bare:6.0f} µs  instrumented {instrumented:6.0f} µs"
            f"  overhead {instrumented - bare:+5.0f} µs per call"
        )
    provider.shutdown()


OVERHEAD = re.compile(r"^(\w+)\s+(non-streamed|streamed).*overhead\s+([+-]\d+) µs")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--processes",
        type=int,
        default=3,
        help="processes of each instrumentation, alternating, when both are measured",
    )
    parser.add_argument("--mode", choices=["spyglass", "logfire"], help="run one mode only")
    args = parser.parse_args()
    if args.mode:
        run_mode(args.mode, args.calls, args.rounds)
        return
    # Each instrumentation in a process of its own: Logfire's configure() changes the process.
    # The machine's speed drifts between processes, so with both, they alternate, and the
    # ratio is of the medians.
    modes = ["spyglass"] + (["logfire"] if importlib.util.find_spec("logfire") else [])
    repeats = args.processes if len(modes) > 1 else 1
    overheads: dict[tuple[str, str], list[int]] = {}
    for _ in range(repeats):
        for mode in modes:
            command = [sys.executable, __file__, "--mode", mode, "--calls", str(args.calls)]
            done = subprocess.run(
                [*command, "--rounds", str(args.rounds)], check=True, capture_output=True, text=True
            )
            for line in done.stdout.splitlines():
                print(line, flush=True)
                found = OVERHEAD.match(line)
                if found:
                    overheads.setdefault((found[1], found[2]), []).append(int(found[3]))
    for (mode, kind), found in overheads.items():
        print(
            f"median {mode} {kind} overhead {statistics.median(found):+.0f} µs per call"
            f" ({len(found)} processes)"
        )
    if len(modes) > 1:
        for kind in ("non-streamed", "streamed"):
            ours = statistics.median(overheads[("spyglass", kind)])
            theirs = statistics.median(overheads[("logfire", kind)])
            print(
                f"ratio, {kind}: spyglass / logfire overhead {ours / theirs:.2f}×"
                f" (medians of {repeats} processes each: {ours:+.0f} / {theirs:+.0f} µs)"
            )


if __name__ == "__main__":
    main()
