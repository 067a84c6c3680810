"""The oldest anthropic SDK the client package supports, in a virtual environment of its own.

anthropic 0.26 predates the SDK's own tracing, `count_tokens` and batches, and still has the old
`client.beta.tools.messages.create`. The environment is made once (pip, from the registry) and
kept in `.venv-oldest-anthropic/` for later runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fake_anthropic import FakeAnthropic, Reply, text_block, tool_use_block

ROOT = Path(__file__).resolve().parents[2]
OLDEST = "anthropic==0.26.1"
# 0.26 passes `proxies=` to httpx, which httpx 0.28 no longer takes.
PINS = [OLDEST, "httpx<0.28"]
VENV = ROOT / ".venv-oldest-anthropic"


def _declared_minimum() -> str:
    text = (ROOT / "instrumentation" / "pyproject.toml").read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith('"anthropic>='))
    return line.split(">=")[1].split(",")[0]


@pytest.fixture(scope="session")
def oldest_python() -> Path:
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    if not marker.exists() or marker.read_text() != " ".join(PINS):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        install = [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            *PINS,
            "-e",
            str(ROOT / "instrumentation"),
        ]
        subprocess.run(install, check=True, timeout=600)
        marker.write_text(" ".join(PINS))
    return python


APP = textwrap.dedent(
    """
    import json, os, anthropic, spyglass
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    spyglass.instrument_anthropic()
    client = anthropic.Anthropic(base_url=os.environ["FAKE"], api_key="test", max_retries=0)
    kwargs = dict(model="claude-3-haiku-20240307", max_tokens=50,
                  messages=[{"role": "user", "content": "Hi"}])
    client.messages.create(**kwargs)
    for _ in client.messages.create(stream=True, **kwargs):
        pass
    with client.messages.stream(**kwargs) as stream:
        stream.get_final_message()
    client.beta.tools.messages.create(
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        **kwargs)
    print(json.dumps({"version": anthropic.__version__, "spans": [
        {"name": s.name, "id": s.context.span_id,
         "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes)}
        for s in memory.get_finished_spans()]}))
    """
)


def test_the_declared_minimum_is_the_version_tested() -> None:
    assert f"anthropic=={_declared_minimum()}" == OLDEST


@pytest.mark.timeout(900)  # the first run installs the environment from the registry
def test_the_oldest_sdk_is_instrumented(oldest_python: Path) -> None:
    with FakeAnthropic() as fake:
        fake.enqueue(
            Reply.message(content=[text_block("Hello")]),
            Reply.stream(content=[text_block("Hello there")]),
            Reply.stream(content=[text_block("Hi!")]),
            Reply.message(
                content=[tool_use_block("get_weather", {"city": "Oslo"})], stop_reason="tool_use"
            ),
        )
        env = {**os.environ, "FAKE": fake.base_url}
        result = subprocess.run(
            [str(oldest_python), "-c", APP], env=env, capture_output=True, text=True, timeout=120
        )
        paths = [request.path for request in fake.requests]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["version"] == _declared_minimum()
    assert paths[-1] == "/v1/messages?beta=tools"

    spans = report["spans"]
    requests = [s for s in spans if s["attributes"].get("spyglass.span.type") == "llm.request"]
    streams = [s for s in spans if s["attributes"].get("spyglass.span.type") == "llm.stream"]
    assert len(requests) == 4 and len(streams) == 2
    assert len(spans) == 6  # nothing else: no duplicate spans
    for span in requests:
        assert span["name"] == "chat claude-3-haiku-20240307"
    # Usage is on the span that saw the response: the request span, or the stream span.
    answered = [requests[0], requests[3], *streams]
    assert [s["attributes"]["gen_ai.usage.input_tokens"] for s in answered] == [135] * 4
    for stream in streams:
        assert stream["parent"] in {r["id"] for r in requests}
        assert stream["attributes"]["spyglass.stream.complete"] is True
    tools_call = requests[-1]["attributes"]
    assert json.loads(tools_call["gen_ai.tool.definitions"])[0]["name"] == "get_weather"
    output = json.loads(tools_call["gen_ai.output.messages"])
    assert output[0]["parts"][0]["arguments"] == {"city": "Oslo"}
