"""Build OTLP export requests for tests, in protobuf and in spec-conformant OTLP/JSON."""

from __future__ import annotations

import os
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

BASE_NS = 1_796_400_000_000_000_000  # 2026-12-04T16:00:00Z


def trace_id() -> bytes:
    return os.urandom(16)


def span_id() -> bytes:
    return os.urandom(8)


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()  # a value of no kind: how OTLP says null
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list | tuple):
        result = AnyValue()
        result.array_value.values.extend(any_value(v) for v in value)
        return result
    if isinstance(value, dict):
        result = AnyValue()
        result.kvlist_value.values.extend(key_values(value))
        return result
    raise TypeError(value)


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes.items()]


def span(
    name: str = "work",
    *,
    trace: bytes | None = None,
    ident: bytes | None = None,
    parent: bytes = b"",
    start_ns: int = BASE_NS,
    duration_ns: int = 1_000_000,
    attributes: dict[str, Any] | None = None,
    status: int = 0,
    kind: int = 1,
) -> Span:
    return Span(
        trace_id=trace or trace_id(),
        span_id=ident or span_id(),
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        attributes=key_values(attributes or {}),
        status=Status(code=status),
    )


def request(
    *spans: Span, service: str = "test-service", scope: str = "tests"
) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.extend(key_values({"service.name": service}))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)
    return message


def to_otlp_json(message: ExportTraceServiceRequest) -> dict[str, Any]:
    """Protobuf's JSON mapping, turned into OTLP/JSON: hex ids instead of base64."""
    import base64

    document = json_format.MessageToDict(message)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for item in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return document


def log_record(
    body: Any = "hello",
    *,
    trace: bytes = b"",
    ident: bytes = b"",
    time_ns: int = BASE_NS,
    attributes: dict[str, Any] | None = None,
    event_name: str = "",
) -> Any:
    """A LogRecord; give `trace` and `ident` to tie it to a span."""
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    return LogRecord(
        trace_id=trace,
        span_id=ident,
        time_unix_nano=time_ns,
        observed_time_unix_nano=time_ns,
        severity_number=9,
        severity_text="INFO",
        event_name=event_name,
        body=any_value(body),
        attributes=key_values(attributes or {}),
    )


def logs_request(*records: Any, service: str = "test-service", scope: str = "tests") -> Any:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    message = ExportLogsServiceRequest()
    resource_logs = message.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values({"service.name": service}))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope
    scope_logs.log_records.extend(records)
    return message


def logs_to_otlp_json(message: Any) -> dict[str, Any]:
    """Protobuf's JSON mapping of a logs request, with OTLP/JSON's hex ids."""
    import base64

    document = json_format.MessageToDict(message)
    for resource_logs in document.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for item in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return document
