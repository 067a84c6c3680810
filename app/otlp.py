"""Decode OTLP/HTTP request bodies into plain records.

This module owns the wire format: content types, compression, protobuf and OTLP/JSON, and the
mapping of OTLP values to natural JSON. It is pure (bytes in, dicts out) and imports nothing
from the rest of the app, so it can be tested and fuzzed alone and run in a worker thread.

Every problem is raised as an `OtlpError` carrying the HTTP status the OTLP/HTTP specification
asks for and a message that names the problem. Spans that decode but break a rule of the
data model (an id of the wrong length, an unknown span kind) are not fatal: they are counted as
rejected and described, so the receiver can answer with `partial_success`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

Format = Literal["protobuf", "json"]

CONTENT_TYPES: dict[str, Format] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
MEDIA_TYPE_OF: dict[Format, str] = {
    "protobuf": "application/x-protobuf",
    "json": "application/json",
}

MAX_INT64 = 2**63 - 1
GZIP_MAGIC = b"\x1f\x8b"
# Exporters send one gzip member; the format allows more, but not without end.
MAX_GZIP_MEMBERS = 1024
INFLATE_CHUNK = 64 * 1024
SPAN_KINDS = range(0, 6)  # UNSPECIFIED, INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER
STATUS_CODES = range(0, 3)  # UNSET, OK, ERROR
# A message about rejected spans names this many distinct problems, then says how many more.
MAX_REASONS_SHOWN = 3


class OtlpError(Exception):
    """A request that cannot be accepted, with the HTTP status to answer it with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple:
        # Raised in a decoding worker process, it is pickled back to the receiver whole.
        return (type(self), (self.status, self.message))


# --- content negotiation and compression -----------------------------------------------------


def format_of(content_type: str | None) -> Format:
    """The body format named by a Content-Type header; 415 for anything else."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return CONTENT_TYPES[media_type]
    except KeyError:
        shown = media_type or "none"
        raise OtlpError(
            415,
            f"unsupported content type {shown!r}: send application/x-protobuf or application/json",
        ) from None


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing to expand past `limit` bytes (413).

    The output is produced in bounded steps, so a gzip bomb is refused after at most `limit`
    bytes of memory, not after expanding it whole.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", "none", ""):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, limit, wbits=16 + zlib.MAX_WBITS, name="gzip", members=True)
    if encoding == "deflate":
        # HTTP's "deflate" is the zlib format, but some clients send raw deflate: accept both.
        raw = len(body) >= 2 and (body[0] & 0x0F != 8 or (body[0] << 8 | body[1]) % 31 != 0)
        wbits = -zlib.MAX_WBITS if raw else zlib.MAX_WBITS
        return _inflate(body, limit, wbits=wbits, name="deflate", members=False)
    raise OtlpError(
        415, f"unsupported content encoding {encoding!r}: send gzip, deflate or identity"
    )


def _inflate(body: bytes, limit: int, *, wbits: int, name: str, members: bool) -> bytes:
    """Inflate `body` (gzip may hold several members), in linear time and bounded memory.

    Input is handed to zlib a chunk at a time, so what zlib copies back after a member ends is
    at most a chunk, and the number of members is capped: a body of many tiny members cannot
    make the work grow with the square of its size.
    """
    out = bytearray()
    view = memoryview(body)
    position = 0  # how much of the body has been handed to zlib
    leftover = b""  # what zlib was handed but the member before did not use
    for _ in range(MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits)
        data: bytes | memoryview = leftover
        try:
            while not inflater.eof:
                if not data:
                    if position >= len(body):
                        break
                    data = view[position : position + INFLATE_CHUNK]
                    position += len(data)
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise OtlpError(
                        413, f"body is larger than {limit} bytes once {name}-decompressed"
                    )
                data = inflater.unconsumed_tail
        except zlib.error as exc:
            raise OtlpError(400, f"body is not valid {name} data: {exc}") from None
        if not inflater.eof:
            raise OtlpError(400, f"{name} body is truncated")
        leftover = inflater.unused_data
        remaining = len(leftover) + len(body) - position
        if not remaining:
            return bytes(out)
        head = (leftover + bytes(view[position : position + 2]))[:2]
        # gzip allows several members one after another; anything else after the end is junk,
        # and is reported as such rather than as a bad header of a member that is not there.
        if not members or head != GZIP_MAGIC:
            raise OtlpError(400, f"{name} body has {remaining} bytes of trailing data")
    raise OtlpError(400, f"{name} body has more than {MAX_GZIP_MEMBERS} members")


# --- request parsing ---------------------------------------------------------------------------


def _parse(body: bytes, fmt: Format, message: Message, fix_ids: Callable[[Any], None]) -> None:
    if fmt == "protobuf":
        # Zero bytes are the protobuf encoding of an empty request, which is valid: nothing to
        # store, and a 200 so that an exporter flushing an empty batch logs no error.
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OtlpError(400, f"body is not a valid protobuf {_name(message)}: {exc}") from None
        return
    if not body:
        raise OtlpError(400, "request body is empty: OTLP/JSON needs at least {}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpError(400, f"OTLP/JSON body must be an object, not {type(document).__name__}")
    try:
        fix_ids(document)
        _check_shape(document, message.DESCRIPTOR, "", 0)
        # Unknown fields must be ignored so that newer senders still work (OTLP/HTTP spec).
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        # protobuf repeats "Failed to parse … field" once per level: keep the message readable.
        reason = _shorten(str(exc))
        raise OtlpError(400, f"body is not a valid OTLP/JSON {_name(message)}: {reason}") from None
    except RecursionError:
        raise OtlpError(400, "OTLP/JSON body is nested too deeply") from None


# protobuf's JSON parser stops at this depth of messages too; the shape check stops with it.
MAX_JSON_DEPTH = 100
_MESSAGE, _DOUBLE, _ENUM, _BYTES = "message", "double", "enum", "bytes"
# Base64 as protobuf's JSON mapping reads it: either alphabet, padding optional.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


@cache
def _checked_fields(descriptor: Descriptor) -> dict[str, tuple[str, Any, bool]]:
    """The fields of a message the shape check looks at, by both JSON spellings, each with
    the descriptor of its message or enum type."""
    checked = {}
    for f in descriptor.fields:
        if f.type == f.TYPE_MESSAGE:
            kind = _MESSAGE
        elif f.type == f.TYPE_DOUBLE:
            kind = _DOUBLE
        elif f.type == f.TYPE_ENUM:
            kind = _ENUM
        elif f.type == f.TYPE_BYTES:
            kind = _BYTES
        else:
            continue
        repeated = getattr(f, "is_repeated", None)  # protobuf 6 and later; `label` before
        if repeated is None:
            repeated = f.label == f.LABEL_REPEATED
        of_type = f.enum_type if kind == _ENUM else f.message_type
        checked[f.json_name] = checked[f.name] = (kind, of_type, repeated)
    return checked


def _check_shape(node: dict, descriptor: Descriptor, path: str, depth: int) -> None:
    """Refuse what protobuf's JSON parser would read as something else without a word.

    Given a string or a list where a message belongs, it iterates it for field names and, told
    to ignore unknown fields, ignores them all: `"value": "text"` would store an attribute as
    null and `"status": "ERROR"` a failed span as unset. Given `true` for a double, it stores 1.0.
    It reads an unknown enum name as 0 and 1.5 as 1, so that an error status or a log's severity
    would change without a word, and it decodes bytes leniently, dropping every character that
    is not base64 ("!!!" is stored as no bytes). Every other wrong type protobuf refuses itself,
    with its own message.
    """
    if depth > MAX_JSON_DEPTH:
        raise OtlpError(400, "OTLP/JSON body is nested too deeply")
    fields = _checked_fields(descriptor)
    for name, value in node.items():
        found = fields.get(name)
        if found is None or value is None:
            continue
        kind, message_type, repeated = found
        where = f"{path}.{name}" if path else name
        items = enumerate(value) if repeated and isinstance(value, list) else ()
        if not repeated:
            items = ((None, value),)
        for index, item in items:
            at = where if index is None else f"{where}[{index}]"
            if kind == _DOUBLE:
                if isinstance(item, bool):
                    raise OtlpError(400, f"{at} must be a number, not a boolean")
            elif kind == _ENUM:
                if type(item) is not int and not (
                    isinstance(item, str) and item in message_type.values_by_name
                ):
                    raise OtlpError(400, f"{at} {item!r} is not a known {message_type.name}")
            elif kind == _BYTES:
                if isinstance(item, str) and not _is_base64(item):
                    raise OtlpError(400, f"{at} is not base64: {item[:80]!r}")
            elif isinstance(item, dict):
                _check_shape(item, message_type, at, depth + 1)
            else:
                raise OtlpError(400, f"{at} must be an object, not {_json_type(item)}")


def _is_base64(text: str) -> bool:
    # A length of 4n+1 cannot be base64, padded or not.
    return _BASE64.fullmatch(text) is not None and len(text.rstrip("=")) % 4 != 1


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "null"


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[: limit // 2]} … {text[-limit // 2 :]}"


def _name(message: Message) -> str:
    return message.DESCRIPTOR.name


def _hex_to_base64(container: dict, keys: tuple[str, ...], where: str) -> None:
    """OTLP/JSON writes ids as hex where protobuf's JSON mapping expects base64."""
    for key in keys:
        value = container.get(key)
        if not isinstance(value, str):
            continue
        try:
            container[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            raise OtlpError(400, f"{where}.{key} is not a hex string: {value[:80]!r}") from None


def _items(container: Any, *names: str) -> Iterable[tuple[int, Any]]:
    """The list under either spelling of a field (lowerCamelCase or snake_case)."""
    if not isinstance(container, dict):
        return ()
    for name in names:
        value = container.get(name)
        if isinstance(value, list):
            return enumerate(value)
    return ()


_TRACE_ID_KEYS = ("traceId", "trace_id")
_SPAN_ID_KEYS = ("spanId", "span_id")
_SPAN_KEYS = _TRACE_ID_KEYS + _SPAN_ID_KEYS + ("parentSpanId", "parent_span_id")


def _fix_trace_ids(document: dict) -> None:
    for r, rs in _items(document, "resourceSpans", "resource_spans"):
        for s, ss in _items(rs, "scopeSpans", "scope_spans"):
            for i, span in _items(ss, "spans"):
                if not isinstance(span, dict):
                    continue
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                _hex_to_base64(span, _SPAN_KEYS, where)
                for k, link in _items(span, "links"):
                    if isinstance(link, dict):
                        _hex_to_base64(link, _TRACE_ID_KEYS + _SPAN_ID_KEYS, f"{where}.links[{k}]")


def _fix_log_ids(document: dict) -> None:
    for r, rl in _items(document, "resourceLogs", "resource_logs"):
        for s, sl in _items(rl, "scopeLogs", "scope_logs"):
            for i, record in _items(sl, "logRecords", "log_records"):
                if isinstance(record, dict):
                    where = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"
                    _hex_to_base64(record, _TRACE_ID_KEYS + _SPAN_ID_KEYS, where)


def _no_fix(document: dict) -> None:
    """Metrics are validated and dropped, so their exemplar ids need no conversion."""


# --- value mapping -----------------------------------------------------------------------------


def natural(value: AnyValue) -> Any:
    """An OTLP AnyValue as natural JSON.

    Strings, booleans, integers, arrays and key-value lists map one to one; doubles stay floats
    (so 1.0 stays 1.0); bytes become base64 text; NaN and the infinities become the strings
    "NaN", "Infinity" and "-Infinity", as in protobuf's JSON mapping, because JSON has no
    number for them.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if kind == "bool_value":
        return value.bool_value
    if kind == "array_value":
        return [natural(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: natural(pair.value) for pair in pairs}


def content_hash(*parts: bytes) -> bytes:
    """A 16-byte content address, used to store each distinct resource and scope once."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.digest()


# --- records -------------------------------------------------------------------------------------


@dataclass
class Batch:
    """What one request carried, ready to store.

    `records` are plain dicts keyed like the storage columns. `resources` and `scopes` hold
    each distinct resource and instrumentation scope once, keyed by content hash.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    scopes: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def error_message(self, noun: str) -> str:
        if not self.rejected:
            return ""
        shown = sorted(self.reasons.items(), key=lambda item: -item[1])[:MAX_REASONS_SHOWN]
        text = "; ".join(f"{reason} ({count}×)" for reason, count in shown)
        hidden = len(self.reasons) - len(shown)
        more = f"; and {hidden} other problem(s)" if hidden else ""
        return f"{self.rejected} {noun}(s) rejected: {text}{more}"

    def add_resource(self, resource: Resource, schema_url: str) -> bytes:
        key = content_hash(
            b"r", resource.SerializeToString(deterministic=True), schema_url.encode()
        )
        if key not in self.resources:
            self.resources[key] = {
                "resource_hash": key,
                "attributes": attributes(resource.attributes),
                "dropped_attributes_count": resource.dropped_attributes_count,
                "schema_url": schema_url,
            }
        return key

    def add_scope(self, scope: InstrumentationScope, schema_url: str) -> bytes:
        key = content_hash(b"s", scope.SerializeToString(deterministic=True), schema_url.encode())
        if key not in self.scopes:
            self.scopes[key] = {
                "scope_hash": key,
                "name": scope.name,
                "version": scope.version,
                "attributes": attributes(scope.attributes),
                "dropped_attributes_count": scope.dropped_attributes_count,
                "schema_url": schema_url,
            }
        return key


def _check_id(value: bytes, size: int, what: str, *, optional: bool = False) -> str | None:
    # An optional id may be left out, or written as the invalid all-zero id, which some SDKs
    # (older opentelemetry-rust) send for a root span's parent: both mean "none".
    if optional and value in (b"", bytes(size)):
        return None
    if len(value) != size:
        return f"{what} must be {size} bytes, got {len(value)}"
    if not any(value):
        return f"{what} is all zeros, which OTLP defines as invalid"
    return None


def _check_time(value: int, what: str) -> str | None:
    # fixed64 on the wire; the store keeps signed 64-bit integers (good until the year 2262).
    return f"{what} {value} is out of range" if value > MAX_INT64 else None


def _service_name(resource_attributes: dict[str, Any]) -> str | None:
    name = resource_attributes.get("service.name")
    return name if isinstance(name, str) else None


def decode_traces(body: bytes, fmt: Format) -> Batch:
    """An ExportTraceServiceRequest as span records; invalid spans are counted as rejected."""
    request = ExportTraceServiceRequest()
    _parse(body, fmt, request, _fix_trace_ids)
    batch = Batch()
    try:
        for resource_spans in request.resource_spans:
            resource_key = batch.add_resource(resource_spans.resource, resource_spans.schema_url)
            service = _service_name(batch.resources[resource_key]["attributes"])
            for scope_spans in resource_spans.scope_spans:
                scope_key = batch.add_scope(scope_spans.scope, scope_spans.schema_url)
                for span in scope_spans.spans:
                    problem = _span_problem(span)
                    if problem:
                        batch.reject(problem)
                        continue
                    record = _span_record(span)
                    record.update(
                        resource_hash=resource_key,
                        scope_hash=scope_key,
                        service_name=service,
                        scope_name=scope_spans.scope.name,
                    )
                    batch.records.append(record)
    except RecursionError:
        raise OtlpError(400, "an attribute value is nested too deeply") from None
    return batch


def _span_problem(span: Any) -> str | None:
    return (
        _check_id(span.trace_id, 16, "trace_id")
        or _check_id(span.span_id, 8, "span_id")
        or _check_id(span.parent_span_id, 8, "parent_span_id", optional=True)
        or (None if span.kind in SPAN_KINDS else f"span kind {span.kind} is not a known SpanKind")
        or (
            None
            if span.status.code in STATUS_CODES
            else f"status code {span.status.code} is not a known StatusCode"
        )
        or _check_time(span.start_time_unix_nano, "start_time_unix_nano")
        or _check_time(span.end_time_unix_nano, "end_time_unix_nano")
        or next(
            (
                problem
                for event in span.events
                if (problem := _check_time(event.time_unix_nano, "event time_unix_nano"))
            ),
            None,
        )
    )


def _span_record(span: Any) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id if any(span.parent_span_id) else None,
        "trace_state": span.trace_state,
        "flags": span.flags,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
        "status_code": span.status.code,
        "status_message": span.status.message,
        "attributes": attributes(span.attributes),
        "dropped_attributes_count": span.dropped_attributes_count,
        "events": [
            {
                "name": event.name,
                "time_ns": event.time_unix_nano,
                "attributes": attributes(event.attributes),
                "dropped_attributes_count": event.dropped_attributes_count,
            }
            for event in span.events
        ],
        "dropped_events_count": span.dropped_events_count,
        "links": [
            {
                "trace_id": link.trace_id.hex(),
                "span_id": link.span_id.hex(),
                "trace_state": link.trace_state,
                "flags": link.flags,
                "attributes": attributes(link.attributes),
                "dropped_attributes_count": link.dropped_attributes_count,
            }
            for link in span.links
        ],
        "dropped_links_count": span.dropped_links_count,
    }


def decode_logs(body: bytes, fmt: Format) -> Batch:
    """Log records that belong to a span; the rest are accepted and not kept.

    Spyglass shows logs beside their span (GenAI content events travel as logs), so a record
    without a trace and span id has nowhere to be shown. Each record is keyed by a hash of its
    content, which makes a retried export store it once.
    """
    request = ExportLogsServiceRequest()
    _parse(body, fmt, request, _fix_log_ids)
    batch = Batch()
    try:
        for resource_logs in request.resource_logs:
            resource_key = batch.add_resource(resource_logs.resource, resource_logs.schema_url)
            for scope_logs in resource_logs.scope_logs:
                scope_key = batch.add_scope(scope_logs.scope, scope_logs.schema_url)
                for log in scope_logs.log_records:
                    # Both ids are optional in the log data model. A record with neither, with
                    # only a trace id, or with the all-zero ids some SDKs send for "no span"
                    # is valid but has no span to be shown beside.
                    if not any(log.trace_id) or not any(log.span_id):
                        continue
                    problem = (
                        _check_id(log.trace_id, 16, "trace_id")
                        or _check_id(log.span_id, 8, "span_id")
                        or _check_time(log.time_unix_nano, "time_unix_nano")
                        or _check_time(log.observed_time_unix_nano, "observed_time_unix_nano")
                    )
                    if problem:
                        batch.reject(problem)
                        continue
                    batch.records.append(_log_record(log, resource_key, scope_key))
    except RecursionError:
        raise OtlpError(400, "a log body or attribute is nested too deeply") from None
    return batch


def _log_record(log: Any, resource_key: bytes, scope_key: bytes) -> dict[str, Any]:
    return {
        "log_id": content_hash(log.SerializeToString(deterministic=True), resource_key, scope_key),
        "trace_id": log.trace_id,
        "span_id": log.span_id,
        "time_ns": log.time_unix_nano,
        "observed_time_ns": log.observed_time_unix_nano,
        "severity_number": log.severity_number,
        "severity_text": log.severity_text,
        "event_name": log.event_name,
        "body": natural(log.body),
        "attributes": attributes(log.attributes),
        "dropped_attributes_count": log.dropped_attributes_count,
        "flags": log.flags,
        "resource_hash": resource_key,
        "scope_hash": scope_key,
    }


def decode_metrics(body: bytes, fmt: Format) -> int:
    """Validate a metrics export and count its metrics; Spyglass does not keep metrics."""
    request = ExportMetricsServiceRequest()
    _parse(body, fmt, request, _no_fix)
    return sum(len(sm.metrics) for rm in request.resource_metrics for sm in rm.scope_metrics)


# --- replies -------------------------------------------------------------------------------------


def success_reply(signal: str, fmt: Format, rejected: int = 0, message: str = "") -> bytes:
    """The Export*ServiceResponse for a signal, with partial_success filled when needed."""
    if signal == "traces":
        reply: Message = ExportTraceServiceResponse()
        if rejected or message:
            reply.partial_success.rejected_spans = rejected
            reply.partial_success.error_message = message
    elif signal == "logs":
        reply = ExportLogsServiceResponse()
        if rejected or message:
            reply.partial_success.rejected_log_records = rejected
            reply.partial_success.error_message = message
    else:
        reply = ExportMetricsServiceResponse()
    if fmt == "protobuf":
        return reply.SerializeToString()
    return json_format.MessageToJson(reply, indent=None).encode()


def error_reply(fmt: Format, status: int, message: str) -> bytes:
    """A google.rpc.Status body, as the OTLP/HTTP spec asks for failed requests."""
    from google.rpc import code_pb2, status_pb2

    code = {
        400: code_pb2.INVALID_ARGUMENT,
        401: code_pb2.UNAUTHENTICATED,
        413: code_pb2.RESOURCE_EXHAUSTED,
        415: code_pb2.INVALID_ARGUMENT,
        429: code_pb2.RESOURCE_EXHAUSTED,
        503: code_pb2.UNAVAILABLE,
    }.get(status, code_pb2.UNKNOWN)
    reply = status_pb2.Status(code=code, message=message)
    if fmt == "protobuf":
        return reply.SerializeToString()
    return json_format.MessageToJson(reply, indent=None).encode()


__all__ = [
    "Batch",
    "Format",
    "MEDIA_TYPE_OF",
    "OtlpError",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "decompress",
    "error_reply",
    "format_of",
    "success_reply",
]
