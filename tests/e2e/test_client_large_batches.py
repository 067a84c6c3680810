"""Calls with megabytes of content reach the collector, however many the batch holds.

The batch processor hands the exporter up to 512 spans whatever their size; sent as one
request, twenty calls of 1 MB of content each were a 20 MB body, which the collector refuses
(413, past SPYGLASS_MAX_BODY_BYTES), and the exporter then dropped all twenty. An app using
`spyglass.configure()` exports them to a real collector, and every one must be stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from tests.collector_process import Collector

CALLS = 20
APP = textwrap.dedent(
    """
    import os, spyglass
    from opentelemetry import trace

    spyglass.configure(endpoint=os.environ["COLLECTOR"], service_name="big-content")
    tracer = trace.get_tracer("app")
    for n in range(int(os.environ["CALLS"])):
        with tracer.start_as_current_span(f"call {n}") as span:
            # As much content as the client records in one attribute of a call.
            span.set_attribute("gen_ai.input.messages", f"{n:04d}" + "é" * 499_998)
    """
)


def test_twenty_calls_of_a_megabyte_each_are_all_stored(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "data").start()
    try:
        env = {**os.environ, "COLLECTOR": collector.url, "CALLS": str(CALLS)}
        app = subprocess.run(
            [sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=120
        )
        assert app.returncode == 0, app.stderr
        assert "413" not in app.stderr, app.stderr
        reply = httpx.get(
            f"{collector.url}/api/v1/spans", params={"service": "big-content", "limit": 100}
        )
        assert reply.status_code == 200
        names = sorted(span["name"] for span in reply.json()["spans"])
        assert names == sorted(f"call {n}" for n in range(CALLS))
    finally:
        collector.stop()
