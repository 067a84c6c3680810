"""Ground-truth captures of what real instrumentors emitted, for tests of the conventions.

Each file in `tests/fixtures/captures/` is one run of one instrumentor (the file's name says
which) against a fake Anthropic or OpenAI server, over the same scenarios (`plain_system`,
`tool_use`, `stream_text`, `thinking`, ...). Every span is kept with its full attribute values,
events and scope; `logs` holds the log records the run sent. The fake servers always report
25 input tokens, 10 cache writes and 100 cache reads, so the right total input is 135.

`Capture.otlp(scenario)` turns a scenario's spans back into an OTLP export, so a test can send
them through the collector's own decoder and ingest exactly as the wire would carry them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_builders import BASE_NS, key_values

CAPTURES = Path(__file__).parent / "fixtures" / "captures"
NAMES = sorted(path.stem for path in CAPTURES.glob("*.json"))
KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


@dataclass(frozen=True)
class CapturedSpan:
    name: str
    kind: str
    scope_name: str
    scope_version: str
    trace_id: str
    span_id: str
    parent: str | None
    start_ms: float
    duration_ms: float
    status_code: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]  # {"name", "t_ms", "attributes"}

    @property
    def stored_events(self) -> list[dict[str, Any]]:
        """The events as `queries.StoredCall` gives them to a convention."""
        return [
            {
                "name": e["name"],
                "time": None,  # the captures keep only the offset from the span's start
                "offset_ms": e.get("t_ms", 0.0),
                "attributes": e["attributes"],
            }
            for e in self.events
        ]


@dataclass(frozen=True)
class Capture:
    name: str
    instrumentor: str
    versions: dict[str, str]
    scenarios: dict[str, list[CapturedSpan]]
    notes: dict[str, str | None]
    logs: list[dict[str, Any]]

    def spans(self, scenario: str) -> list[CapturedSpan]:
        return self.scenarios[scenario]

    def logs_of(self, span: CapturedSpan) -> list[dict[str, Any]]:
        """The run's log records emitted inside `span`, as `queries.StoredCall` gives them."""
        return [
            {
                "event_name": log["event_name"],
                "body": log["body"],
                "attributes": log["attributes"],
                "time": None,
            }
            for log in self.logs
            if log.get("span_id") == span.span_id and log.get("trace_id") == span.trace_id
        ]

    def otlp(self, scenario: str) -> ExportTraceServiceRequest:
        """The scenario's spans as one OTLP export, each under its own scope."""
        message = ExportTraceServiceRequest()
        resource_spans = message.resource_spans.add()
        resource_spans.resource.attributes.extend(key_values({"service.name": self.name}))
        for captured in self.spans(scenario):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = captured.scope_name
            scope_spans.scope.version = captured.scope_version
            start = BASE_NS + round(captured.start_ms * 1e6)
            span = Span(
                trace_id=bytes.fromhex(captured.trace_id),
                span_id=bytes.fromhex(captured.span_id),
                parent_span_id=bytes.fromhex(captured.parent) if captured.parent else b"",
                name=captured.name,
                kind=KINDS.get(captured.kind, 1),
                start_time_unix_nano=start,
                end_time_unix_nano=start + round(captured.duration_ms * 1e6),
                attributes=key_values(captured.attributes),
                status=Status(code=STATUS.get(captured.status_code, 0)),
            )
            for event in captured.events:
                added = span.events.add()
                added.name = event["name"]
                added.time_unix_nano = start + round(event.get("t_ms", 0) * 1e6)
                added.attributes.extend(key_values(event.get("attributes") or {}))
            scope_spans.spans.append(span)
        return message


def _trace_id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


@cache
def load(name: str) -> Capture:
    data = json.loads((CAPTURES / f"{name}.json").read_text())
    scenarios: dict[str, list[CapturedSpan]] = {}
    notes: dict[str, str | None] = {}
    for result in data["results"]:
        notes[result["scenario"]] = result.get("note")
        spans = []
        for raw in result["spans"]:
            scope_name, _, scope_version = (raw.get("scope") or "").partition(" ")
            spans.append(
                CapturedSpan(
                    name=raw["name"],
                    kind=raw["kind"],
                    scope_name=scope_name,
                    scope_version=scope_version,
                    # Older captures did not record trace ids: one made-up trace per scenario.
                    trace_id=raw.get("trace_id") or _trace_id(name, result["scenario"]),
                    span_id=raw["span_id"],
                    parent=raw.get("parent"),
                    start_ms=raw["start_ms"],
                    duration_ms=raw["duration_ms"],
                    status_code=(raw.get("status") or {}).get("code") or "UNSET",
                    attributes=raw["attributes"],
                    events=raw.get("events") or [],
                )
            )
        scenarios[result["scenario"]] = spans
    return Capture(
        name=name,
        instrumentor=data["instrumentor"],
        versions=data["versions"],
        scenarios=scenarios,
        notes=notes,
        logs=data.get("logs") or [],
    )
