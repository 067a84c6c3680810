"""Fixtures for the client package: a fake Anthropic API, real clients, and captured spans.

OpenTelemetry allows one global tracer provider per process, so the tests install one with an
in-memory exporter once, and clear it before each test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spyglass
from spyglass import _settings
from tests.fake_anthropic import FakeAnthropic

MODEL = "claude-sonnet-4-6"
_EXPORTER = InMemorySpanExporter()


def _install_provider() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


_install_provider()


class Captured:
    """The spans finished so far, with helpers to find them and read their JSON attributes."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, span_type: str = "llm.request") -> ReadableSpan:
        found = [s for s in self.spans if s.attributes.get("spyglass.span.type") == span_type]
        assert len(found) == 1, [s.name for s in self.spans]
        return found[0]

    @staticmethod
    def json(span: ReadableSpan, key: str) -> Any:
        return json.loads(span.attributes[key])


@pytest.fixture
def spans() -> Iterator[Captured]:
    _EXPORTER.clear()
    _settings._current = None  # every test starts from the environment's settings
    yield Captured(_EXPORTER)
    _EXPORTER.clear()
    _settings._current = None


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def instrumented() -> Iterator[spyglass._anthropic.Instrumentation]:
    with spyglass.instrument_anthropic() as instrumentation:
        yield instrumentation


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0) as client:
        yield client


def ask(client: Any, **kwargs: Any) -> Any:
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    params.update(kwargs)
    return client.messages.create(**params)
