"""The instrumented app never pays for its collector: down, failing, hanging or refusing.

Each case runs an app in a process of its own (`spyglass.configure()` is once per process,
and its flush at exit is part of what is tested): the real anthropic client, instrumented,
calls the fake Anthropic API while Spyglass exports to a collector that is not listening,
answers 500, accepts connections and never answers, or answers 503 with Retry-After. Every
call must return the fake's answer, none may wait on the export, and the app's exit may wait
for the last spans no longer than `EXIT_FLUSH_TIMEOUT_S`. A collector that answers 503 twice
and then 200 must get the spans: the OTLP exporter retries them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.client_resilience import HangingServer, OtlpServer, down_url
from spyglass._configure import EXIT_FLUSH_TIMEOUT_S
from tests.fake_anthropic import FakeAnthropic

CALLS = 600  # more than one export batch (512 spans): the exporter works during the calls
# A call to the fake takes a few milliseconds; one that waited on an export would take seconds.
SLOWEST_CALL_S = 1.0
# The exit's flush gives up after EXIT_FLUSH_TIMEOUT_S; the interpreter's own exit comes on top.
EXIT_BOUND_S = EXIT_FLUSH_TIMEOUT_S + 2.5

APP = textwrap.dedent(
    """
    import json, os, sys, time
    import anthropic, spyglass

    spyglass.configure(endpoint=os.environ["COLLECTOR"], service_name="resilience")
    client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)
    spyglass.instrument_anthropic(client)
    slowest, answers = 0.0, set()
    for number in range(int(os.environ["CALLS"])):
        with spyglass.span(f"step {number}"):
            started = time.perf_counter()
            reply = client.messages.create(
                model="claude-sonnet-4-6", max_tokens=50,
                messages=[{"role": "user", "content": "Hi"}],
            )
            slowest = max(slowest, time.perf_counter() - started)
        answers.add(reply.content[0].text)
    client.close()
    print(json.dumps({"slowest": slowest, "answers": sorted(answers)}), flush=True)
    """
)


def run_app(collector_url: str, calls: int = CALLS) -> tuple[dict[str, Any], float]:
    """The app's report, and how long its exit took after its last call."""
    with FakeAnthropic() as fake, tempfile.TemporaryFile() as stderr:
        env = {**os.environ, "COLLECTOR": collector_url, "FAKE": fake.base_url}
        env["CALLS"] = str(calls)
        with subprocess.Popen(
            [sys.executable, "-c", APP], env=env, stdout=subprocess.PIPE, stderr=stderr
        ) as process:
            assert process.stdout is not None
            line = process.stdout.readline()
            done = time.monotonic()
            try:
                process.wait(30)
            finally:
                process.kill()
            exit_s = time.monotonic() - done
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")[-3000:]
        assert process.returncode == 0, errors
        assert line, errors
        return json.loads(line), exit_s


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for server in opened:
        server.close()


def collector(case: str, servers: list[Any]) -> str:
    if case == "down":
        return down_url()
    server: Any = HangingServer() if case == "hanging" else OtlpServer([int(case)])
    servers.append(server)
    return server.url


@pytest.mark.parametrize("case", ["down", "500", "hanging", "503"])
def test_the_app_neither_fails_nor_waits_on_its_collector(case: str, servers: list[Any]) -> None:
    report, exit_s = run_app(collector(case, servers))
    assert report["answers"] == ["Hello! How can I help?"]
    assert report["slowest"] < SLOWEST_CALL_S
    assert exit_s < EXIT_BOUND_S


def test_spans_refused_twice_are_retried_until_stored(servers: list[Any]) -> None:
    server = OtlpServer([503, 503, 200])
    servers.append(server)
    report, exit_s = run_app(server.url, calls=3)
    assert report["answers"] == ["Hello! How can I help?"]
    # The exporter waited the Retry-After (1 s) twice, within the exit's flush.
    assert server.answered == [503, 503, 200]
    names = set()
    for body in server.received:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            for scope_spans in resource_spans.scope_spans:
                names |= {span.name for span in scope_spans.spans}
    assert {"step 0", "step 1", "step 2"} <= names
    assert exit_s < EXIT_BOUND_S
