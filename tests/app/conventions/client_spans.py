"""Spans made by Spyglass's real client code, sent through real OTLP, read by the collector.

A test gives the request body and the message the API answers with; the client's own `Call`
(and, for a stream, its `StreamRecorder` fed the API's events) records the spans, the
OpenTelemetry SDK encodes them as OTLP protobuf, and the collector's decoder reads them back.
So a change on either side of the wire that the other does not follow fails here, with no
network and no SDK client involved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.otlp import decode_traces
from spyglass import _settings
from spyglass._anthropic import _call
from spyglass._anthropic._content import encode
from spyglass._anthropic._stream import StreamRecorder
from spyglass._settings import Settings
from tests.fake_anthropic import message_events

MODEL = "claude-sonnet-4-6"
CHUNK_SIZE = 5  # characters of text per streamed delta
USAGE = {
    "input_tokens": 25,
    "output_tokens": 9,
    "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 10,
}


def response(
    *content: dict[str, Any], stop_reason: str | None = "end_turn", **usage: int
) -> dict[str, Any]:
    """A Messages API response body holding `content`."""
    return {
        "id": "msg_01FAKE",
        "type": "message",
        "role": "assistant",
        "model": f"{MODEL}-20260101",
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {**USAGE, **usage},
    }


def body(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A Messages API request body."""
    return {
        "model": MODEL,
        "max_tokens": 1000,
        "messages": list(messages) or [{"role": "user", "content": "Hi"}],
        **params,
    }


def converted(build: Any, settings: Settings | None = None) -> str:
    """The JSON text the client records for `build(converter)`, as `Call` does."""
    text, _ = encode(settings or Settings(), build)
    return text


def input_messages(*messages: dict[str, Any], settings: Settings | None = None) -> str:
    return converted(lambda c: c.messages(list(messages)), settings)


def output_messages(*blocks: Any, stop_reason: str | None = "end_turn", **settings: Any) -> str:
    return converted(lambda c: c.output(list(blocks), stop_reason), Settings(**settings))


@dataclass
class _Options:
    """What the SDK hands `request()`: the client reads these fields off it."""

    json_data: dict[str, Any]
    method: str = "post"
    url: str = "/v1/messages"
    headers: dict[str, str] = field(default_factory=dict)
    extra_json: dict[str, Any] | None = None


class _Client:
    base_url = None


class _Result:
    """A response whose body is read later (a stream): the request span only notes it."""


class ClientSpans:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        # The client's own tracer, without setting the process's global provider.
        monkeypatch.setattr(_call, "_tracer", lambda version: provider.get_tracer("spyglass"))
        self.monkeypatch = monkeypatch
        self.settings(Settings())

    def settings(self, settings: Settings) -> None:
        self.monkeypatch.setattr(_settings, "_current", settings)

    def call(self, params: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        """The attributes of the request span of a call answered with `message`."""
        self.exporter.clear()
        call = _call.Call(_Client(), _Options(params), stream=False, version="test")
        call.succeed(message)
        [request] = self._decoded()
        return request

    def streamed_call(
        self, params: dict[str, Any], message: dict[str, Any], *, events: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The attributes of the request span and its stream span, for a streamed call.

        With `events`, the caller stops reading after that many events and closes the stream.
        """
        self.exporter.clear()
        call = _call.Call(_Client(), _Options({**params, "stream": True}), stream=True, version="t")
        call.succeed(_Result())
        recorder = StreamRecorder(call)
        recorder.begin()
        sent = message_events(message, chunk_size=CHUNK_SIZE)
        for _name, event in sent[:events]:
            recorder.on_event(json.loads(json.dumps(event)))
        recorder.finish("complete" if events is None else "closed")
        request, stream = self._decoded()
        return request, stream

    def _decoded(self) -> list[dict[str, Any]]:
        spans = self.exporter.get_finished_spans()
        body = encode_spans(spans).SerializeToString()
        records = decode_traces(body, "protobuf").records
        return [record["attributes"] for record in records]
