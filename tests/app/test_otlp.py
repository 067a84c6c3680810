"""Unit tests of app.otlp: content types, decompression, decoding, validation and replies."""

from __future__ import annotations

import copy
import gzip
import json
import math
import random
import re
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from app import otlp
from tests.otlp_builders import (
    BASE_NS,
    any_value,
    key_values,
    log_record,
    logs_request,
    logs_to_otlp_json,
    request,
    span,
    to_otlp_json,
)

MIB = 1024 * 1024
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("eee19b7ec3c1b173")
LINKED_TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
LINKED_SPAN = bytes.fromhex("b7ad6b7169203331")


def fails(status: int, match: str, call: Callable[[], Any]) -> otlp.OtlpError:
    """`call` raises an OtlpError with `status` and a message matching `match`."""
    with pytest.raises(otlp.OtlpError, match=match) as caught:
        call()
    assert caught.value.status == status, caught.value.message
    return caught.value


# --- natural JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="héllo"), "héllo"),
        (AnyValue(string_value=""), ""),
        (AnyValue(int_value=42), 42),
        (AnyValue(int_value=0), 0),
        (AnyValue(int_value=2**63 - 1), 2**63 - 1),
        (AnyValue(int_value=-(2**63)), -(2**63)),
        (AnyValue(double_value=0.25), 0.25),
        (AnyValue(double_value=-1e300), -1e300),
        (AnyValue(bool_value=True), True),
        (AnyValue(bool_value=False), False),
        (AnyValue(bytes_value=b"\x00\x01\xfe\xff"), "AAH+/w=="),
        (AnyValue(bytes_value=b""), ""),
        (AnyValue(), None),
    ],
    ids=repr,
)
def test_natural_maps_each_scalar_type(value: AnyValue, expected: Any) -> None:
    result = otlp.natural(value)
    assert result == expected
    assert type(result) is type(expected)


def test_natural_keeps_a_whole_double_a_float() -> None:
    result = otlp.natural(AnyValue(double_value=1.0))
    assert type(result) is float
    assert json.dumps(result) == "1.0"


@pytest.mark.parametrize(
    ("number", "expected"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_natural_writes_non_finite_doubles_as_strings(number: float, expected: str) -> None:
    assert otlp.natural(AnyValue(double_value=number)) == expected


def test_natural_maps_arrays_and_nested_kvlists() -> None:
    value = any_value(
        {
            "list": [1, "two", 3.0, True, b"\x01", [], {}],
            "nested": {"deeper": {"deepest": [{"k": "v"}]}},
        }
    )
    value.kvlist_value.values.add(key="empty")  # a key with no value
    assert otlp.natural(value) == {
        "list": [1, "two", 3.0, True, "AQ==", [], {}],
        "nested": {"deeper": {"deepest": [{"k": "v"}]}},
        "empty": None,
    }
    assert type(otlp.natural(value)["list"][2]) is float


def test_attributes_map_key_values_to_a_dict() -> None:
    assert otlp.attributes(key_values({"a": 1, "b": "x"})) == {"a": 1, "b": "x"}


# --- content types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-protobuf", "protobuf"),
        ("application/protobuf", "protobuf"),
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON ; charset=UTF-8", "json"),
    ],
)
def test_format_of_known_content_types(content_type: str, expected: str) -> None:
    assert otlp.format_of(content_type) == expected


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", "'text/plain'"),
        ("application/xml", "'application/xml'"),
        (None, "'none'"),
        ("", "'none'"),
    ],
)
def test_format_of_anything_else_is_415(content_type: str | None, named: str) -> None:
    fails(415, f"unsupported content type {named}", lambda: otlp.format_of(content_type))


# --- decompression -----------------------------------------------------------------------------

PAYLOAD = b"some OTLP bytes " * 100


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(PAYLOAD)),
        ("x-gzip", gzip.compress(PAYLOAD)),
        ("GZIP", gzip.compress(PAYLOAD)),
        ("gzip", gzip.compress(PAYLOAD[:700]) + gzip.compress(PAYLOAD[700:])),
        ("gzip", gzip.compress(PAYLOAD[:10]) + gzip.compress(b"") + gzip.compress(PAYLOAD[10:])),
        ("deflate", zlib.compress(PAYLOAD)),
        ("deflate", _raw_deflate(PAYLOAD)),
        ("identity", PAYLOAD),
        ("", PAYLOAD),
        (None, PAYLOAD),
    ],
    ids=[
        "gzip",
        "x-gzip",
        "upper-case",
        "multi-member-gzip",
        "empty-member",
        "zlib-deflate",
        "raw-deflate",
        "identity",
        "empty-header",
        "no-header",
    ],
)
def test_decompress_undoes_each_encoding(encoding: str | None, body: bytes) -> None:
    assert otlp.decompress(body, encoding, MIB) == PAYLOAD


@pytest.mark.parametrize(
    ("encoding", "body", "match"),
    [
        ("gzip", gzip.compress(PAYLOAD)[:-5], "gzip body is truncated"),
        ("gzip", gzip.compress(PAYLOAD)[:5], "gzip body is truncated"),
        ("gzip", b"", "gzip body is truncated"),
        ("deflate", zlib.compress(PAYLOAD)[:-3], "deflate body is truncated"),
        ("gzip", gzip.compress(PAYLOAD) + b"junk", "gzip body has 4 bytes of trailing data"),
        ("gzip", gzip.compress(PAYLOAD) + b"\0\0", "gzip body has 2 bytes of trailing data"),
        ("deflate", zlib.compress(PAYLOAD) + b"junk", "deflate body has 4 bytes of trailing data"),
        ("gzip", PAYLOAD, "body is not valid gzip data"),
        ("deflate", b"\x78\x9c" + b"\xff" * 20, "body is not valid deflate data"),
    ],
    ids=[
        "truncated-gzip",
        "gzip-header-only",
        "empty-gzip",
        "truncated-deflate",
        "gzip-trailing-junk",
        "gzip-trailing-zeros",
        "deflate-trailing-junk",
        "not-gzip",
        "corrupt-deflate",
    ],
)
def test_decompress_refuses_broken_bodies_with_400(encoding: str, body: bytes, match: str) -> None:
    fails(400, match, lambda: otlp.decompress(body, encoding, MIB))


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, deflate", "compress"])
def test_decompress_refuses_unknown_encodings_with_415(encoding: str) -> None:
    fails(
        415,
        f"unsupported content encoding {encoding!r}",
        lambda: otlp.decompress(b"x", encoding, MIB),
    )


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate)],
)
def test_decompress_allows_exactly_the_limit_and_not_a_byte_more(
    encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    limit = 64 * 1024
    assert len(otlp.decompress(compress(b"a" * limit), encoding, limit)) == limit
    fails(
        413,
        f"larger than {limit} bytes",
        lambda: otlp.decompress(compress(b"a" * (limit + 1)), encoding, limit),
    )


def test_decompress_counts_every_gzip_member_against_the_limit() -> None:
    limit = 64 * 1024
    body = gzip.compress(b"a" * (limit // 2 + 1)) * 2
    fails(413, "larger than", lambda: otlp.decompress(body, "gzip", limit))


@pytest.fixture(scope="module")
def hundred_mb_of_zeros() -> dict[str, bytes]:
    """100 MB of zeros, gzip- and zlib-compressed (about 100 kB each)."""
    chunk = bytes(MIB)
    bombs = {}
    for name, wbits in (("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)):
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        bombs[name] = b"".join(compressor.compress(chunk) for _ in range(100)) + compressor.flush()
    return bombs


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompression_bomb_is_refused_without_expanding_it(
    hundred_mb_of_zeros: dict[str, bytes], encoding: str
) -> None:
    bomb = hundred_mb_of_zeros[encoding]
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        fails(
            413,
            f"larger than {MIB} bytes once {encoding}-decompressed",
            lambda: otlp.decompress(bomb, encoding, MIB),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The limit plus working buffers, nowhere near the 100 MB the bomb expands to.
    assert peak < 8 * MIB


def test_many_small_gzip_members_are_refused_past_the_limit() -> None:
    body = gzip.compress(bytes(1000)) * 1000  # 1 MB from about 30 kB
    fails(413, "larger than", lambda: otlp.decompress(body, "gzip", 100_000))


def test_a_body_of_countless_gzip_members_is_refused_quickly() -> None:
    """Each member used to copy the rest of the body: 16 MB of empty members took minutes."""
    body = gzip.compress(b"") * 800_000  # 16 MB of 20-byte members
    fails(400, "more than 1024 members", lambda: otlp.decompress(body, "gzip", 16 * MIB))


def test_the_most_members_allowed_still_decode() -> None:
    body = gzip.compress(b"ab") * otlp.MAX_GZIP_MEMBERS
    assert otlp.decompress(body, "gzip", MIB) == b"ab" * otlp.MAX_GZIP_MEMBERS


# --- decoding traces: OTLP/JSON and its protobuf twin ------------------------------------------

# Every AnyValue type as OTLP/JSON writes it, and as natural JSON reads it.
JSON_ATTRIBUTES = [
    {"key": "string", "value": {"stringValue": "text"}},
    {"key": "int", "value": {"intValue": "9223372036854775807"}},
    {"key": "int_number", "value": {"intValue": -42}},
    {"key": "double", "value": {"doubleValue": 1.0}},
    {"key": "nan", "value": {"doubleValue": "NaN"}},
    {"key": "infinity", "value": {"doubleValue": "-Infinity"}},
    {"key": "bool", "value": {"boolValue": True}},
    {"key": "bytes", "value": {"bytesValue": "AAEC"}},
    {
        "key": "array",
        "value": {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}]}},
    },
    {
        "key": "kvlist",
        "value": {
            "kvlistValue": {
                "values": [
                    {
                        "key": "inner",
                        "value": {
                            "kvlistValue": {"values": [{"key": "x", "value": {"boolValue": False}}]}
                        },
                    }
                ]
            }
        },
    },
    {"key": "empty", "value": {}},
]
NATURAL_ATTRIBUTES = {
    "string": "text",
    "int": 2**63 - 1,
    "int_number": -42,
    "double": 1.0,
    "nan": "NaN",
    "infinity": "-Infinity",
    "bool": True,
    "bytes": "AAEC",
    "array": [1, "two"],
    "kvlist": {"inner": {"x": False}},
    "empty": None,
}


def spec_json() -> dict[str, Any]:
    """A trace export written the way the OTLP/JSON spec asks: hex ids, int64 as strings,
    enums as integers."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}],
                    "droppedAttributesCount": 1,
                },
                "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "my.library",
                            "version": "1.0.0",
                            "attributes": [{"key": "scope.attr", "value": {"intValue": "7"}}],
                        },
                        "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": SPAN.hex(),
                                "parentSpanId": PARENT.hex(),
                                "traceState": "vendor=value",
                                "flags": 257,
                                "name": "I'm a server span",
                                "kind": 2,
                                "startTimeUnixNano": str(BASE_NS),
                                "endTimeUnixNano": str(BASE_NS + 1_500_000),
                                "attributes": JSON_ATTRIBUTES,
                                "droppedAttributesCount": 2,
                                "events": [
                                    {
                                        "timeUnixNano": str(BASE_NS + 500_000),
                                        "name": "exception",
                                        "attributes": [
                                            {
                                                "key": "exception.message",
                                                "value": {"stringValue": "boom"},
                                            }
                                        ],
                                        "droppedAttributesCount": 1,
                                    }
                                ],
                                "droppedEventsCount": 3,
                                "links": [
                                    {
                                        "traceId": LINKED_TRACE.hex(),
                                        "spanId": LINKED_SPAN.hex(),
                                        "traceState": "a=b",
                                        "attributes": [
                                            {"key": "link.attr", "value": {"boolValue": True}}
                                        ],
                                        "droppedAttributesCount": 4,
                                        "flags": 1,
                                    }
                                ],
                                "droppedLinksCount": 5,
                                "status": {"code": 2, "message": "it broke"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def spec_protobuf() -> ExportTraceServiceRequest:
    """The same export as `spec_json`, built field by field."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add(
        schema_url="https://opentelemetry.io/schemas/1.26.0"
    )
    resource_spans.resource.attributes.extend(key_values({"service.name": "checkout"}))
    resource_spans.resource.dropped_attributes_count = 1
    scope_spans = resource_spans.scope_spans.add(
        schema_url="https://opentelemetry.io/schemas/1.26.0"
    )
    scope_spans.scope.name = "my.library"
    scope_spans.scope.version = "1.0.0"
    scope_spans.scope.attributes.extend(key_values({"scope.attr": 7}))
    item = scope_spans.spans.add(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=PARENT,
        trace_state="vendor=value",
        flags=257,
        name="I'm a server span",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=BASE_NS,
        end_time_unix_nano=BASE_NS + 1_500_000,
        dropped_attributes_count=2,
        dropped_events_count=3,
        dropped_links_count=5,
    )
    item.attributes.extend(
        key_values(
            {
                "string": "text",
                "int": 2**63 - 1,
                "int_number": -42,
                "double": 1.0,
                "nan": math.nan,
                "infinity": -math.inf,
                "bool": True,
                "bytes": b"\x00\x01\x02",
                "array": [1, "two"],
                "kvlist": {"inner": {"x": False}},
            }
        )
    )
    item.attributes.add(key="empty")
    event = item.events.add(
        name="exception", time_unix_nano=BASE_NS + 500_000, dropped_attributes_count=1
    )
    event.attributes.extend(key_values({"exception.message": "boom"}))
    link = item.links.add(
        trace_id=LINKED_TRACE,
        span_id=LINKED_SPAN,
        trace_state="a=b",
        dropped_attributes_count=4,
        flags=1,
    )
    link.attributes.extend(key_values({"link.attr": True}))
    item.status.code = 2
    item.status.message = "it broke"
    return message


def _snake_case(document: Any) -> Any:
    """The document with protobuf field names (trace_id) instead of JSON names (traceId)."""
    if isinstance(document, dict):
        return {
            re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): _snake_case(v) for k, v in document.items()
        }
    if isinstance(document, list):
        return [_snake_case(item) for item in document]
    return document


def _enum_names(document: dict[str, Any]) -> dict[str, Any]:
    span_json = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span_json["kind"] = "SPAN_KIND_SERVER"
    span_json["status"]["code"] = "STATUS_CODE_ERROR"
    return document


def _int64_numbers(document: dict[str, Any]) -> dict[str, Any]:
    span_json = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("startTimeUnixNano", "endTimeUnixNano"):
        span_json[key] = int(span_json[key])
    span_json["events"][0]["timeUnixNano"] = int(span_json["events"][0]["timeUnixNano"])
    return document


def _unknown_fields(document: dict[str, Any]) -> dict[str, Any]:
    document["someFutureField"] = {"nested": [1, 2]}
    resource_spans = document["resourceSpans"][0]
    resource_spans["entityRefs2"] = []
    resource_spans["resource"]["newThing"] = "x"
    span_json = resource_spans["scopeSpans"][0]["spans"][0]
    span_json["brandNewField"] = 12
    span_json["events"][0]["eventExtra"] = True
    span_json["links"][0]["linkExtra"] = "y"
    return document


@pytest.mark.parametrize(
    "variant",
    [lambda d: d, _enum_names, _int64_numbers, _snake_case, _unknown_fields],
    ids=["spec", "enum-names", "int64-as-numbers", "snake-case-keys", "unknown-fields"],
)
def test_otlp_json_decodes_like_its_protobuf_twin(variant: Callable[[dict], dict]) -> None:
    from_json = otlp.decode_traces(json.dumps(variant(spec_json())).encode(), "json")
    from_protobuf = otlp.decode_traces(spec_protobuf().SerializeToString(), "protobuf")
    assert from_json.rejected == from_protobuf.rejected == 0
    assert from_json.records == from_protobuf.records
    assert from_json.resources == from_protobuf.resources
    assert from_json.scopes == from_protobuf.scopes


def test_decoded_span_record_holds_every_field() -> None:
    batch = otlp.decode_traces(json.dumps(spec_json()).encode(), "json")
    [record] = batch.records
    [resource] = batch.resources.values()
    [scope] = batch.scopes.values()
    assert record == {
        "trace_id": TRACE,
        "span_id": SPAN,
        "parent_span_id": PARENT,
        "trace_state": "vendor=value",
        "flags": 257,
        "name": "I'm a server span",
        "kind": 2,
        "start_ns": BASE_NS,
        "end_ns": BASE_NS + 1_500_000,
        "duration_ns": 1_500_000,
        "status_code": 2,
        "status_message": "it broke",
        "attributes": NATURAL_ATTRIBUTES,
        "dropped_attributes_count": 2,
        "events": [
            {
                "name": "exception",
                "time_ns": BASE_NS + 500_000,
                "attributes": {"exception.message": "boom"},
                "dropped_attributes_count": 1,
            }
        ],
        "dropped_events_count": 3,
        "links": [
            {
                "trace_id": LINKED_TRACE.hex(),
                "span_id": LINKED_SPAN.hex(),
                "trace_state": "a=b",
                "flags": 1,
                "attributes": {"link.attr": True},
                "dropped_attributes_count": 4,
            }
        ],
        "dropped_links_count": 5,
        "resource_hash": resource["resource_hash"],
        "scope_hash": scope["scope_hash"],
        "service_name": "checkout",
        "scope_name": "my.library",
    }
    assert resource["attributes"] == {"service.name": "checkout"}
    assert resource["dropped_attributes_count"] == 1
    assert resource["schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert (scope["name"], scope["version"], scope["attributes"]) == (
        "my.library",
        "1.0.0",
        {"scope.attr": 7},
    )


def test_root_span_has_no_parent() -> None:
    [record] = otlp.decode_traces(request(span()).SerializeToString(), "protobuf").records
    assert record["parent_span_id"] is None


def test_all_zero_parent_span_id_means_a_root_span() -> None:
    # Some SDKs (opentelemetry-rust among them) write the invalid, all-zero span id for "no parent".
    batch = otlp.decode_traces(request(span(parent=bytes(8))).SerializeToString(), "protobuf")
    assert batch.rejected == 0
    assert batch.records[0]["parent_span_id"] is None


def test_service_name_is_none_when_not_a_string() -> None:
    message = request(span())
    message.resource_spans[0].resource.attributes[0].value.int_value = 3
    [record] = otlp.decode_traces(message.SerializeToString(), "protobuf").records
    assert record["service_name"] is None


def test_an_empty_export_decodes_to_nothing() -> None:
    batch = otlp.decode_traces(b"{}", "json")
    assert (batch.records, batch.rejected, batch.error_message("span")) == ([], 0, "")


# --- per-span validation -----------------------------------------------------------------------


def _set(field: str, value: Any) -> Callable[[Span], None]:
    return lambda item: setattr(item, field, value)


def _set_status(code: int) -> Callable[[Span], None]:
    return lambda item: setattr(item.status, "code", code)


def _add_event_at(time_ns: int) -> Callable[[Span], None]:
    return lambda item: item.events.add(name="late", time_unix_nano=time_ns)


@pytest.mark.parametrize(
    ("break_span", "reason"),
    [
        (_set("trace_id", b"\x01" * 15), "trace_id must be 16 bytes, got 15"),
        (_set("trace_id", b"\x01" * 17), "trace_id must be 16 bytes, got 17"),
        (_set("trace_id", b""), "trace_id must be 16 bytes, got 0"),
        (_set("trace_id", bytes(16)), "trace_id is all zeros, which OTLP defines as invalid"),
        (_set("span_id", b"\x01" * 7), "span_id must be 8 bytes, got 7"),
        (_set("span_id", b""), "span_id must be 8 bytes, got 0"),
        (_set("span_id", bytes(8)), "span_id is all zeros, which OTLP defines as invalid"),
        (_set("parent_span_id", b"\x01" * 4), "parent_span_id must be 8 bytes, got 4"),
        (_set("kind", 6), "span kind 6 is not a known SpanKind"),
        (_set("kind", -1), "span kind -1 is not a known SpanKind"),
        (_set_status(3), "status code 3 is not a known StatusCode"),
        (_set("start_time_unix_nano", 2**63), f"start_time_unix_nano {2**63} is out of range"),
        (_set("end_time_unix_nano", 2**64 - 1), f"end_time_unix_nano {2**64 - 1} is out of range"),
        (_add_event_at(2**63), f"event time_unix_nano {2**63} is out of range"),
    ],
    ids=[
        "trace-id-15",
        "trace-id-17",
        "trace-id-empty",
        "trace-id-zero",
        "span-id-7",
        "span-id-empty",
        "span-id-zero",
        "parent-id-4",
        "kind-6",
        "kind-negative",
        "status-3",
        "start-time",
        "end-time",
        "event-time",
    ],
)
def test_invalid_span_is_rejected_with_its_reason(
    break_span: Callable[[Span], None], reason: str
) -> None:
    good, bad = span("good"), span("bad", start_ns=BASE_NS, duration_ns=0)
    break_span(bad)
    batch = otlp.decode_traces(request(good, bad).SerializeToString(), "protobuf")
    assert [record["name"] for record in batch.records] == ["good"]
    assert batch.rejected == 1
    assert batch.reasons == {reason: 1}
    assert batch.error_message("span") == f"1 span(s) rejected: {reason} (1×)"


def test_largest_valid_timestamps_are_accepted() -> None:
    item = span(start_ns=2**63 - 1, duration_ns=0)
    item.events.add(name="e", time_unix_nano=2**63 - 1)
    batch = otlp.decode_traces(request(item).SerializeToString(), "protobuf")
    assert batch.rejected == 0
    assert batch.records[0]["end_ns"] == 2**63 - 1


def test_json_ids_of_the_wrong_length_and_out_of_range_values_are_rejected_not_fatal() -> None:
    document = to_otlp_json(request(span("good"), span("short id"), span("future"), span("kind")))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[1]["traceId"] = "abcd"
    spans[2]["startTimeUnixNano"] = str(2**63)
    spans[3]["kind"] = 9
    batch = otlp.decode_traces(json.dumps(document).encode(), "json")
    assert [record["name"] for record in batch.records] == ["good"]
    assert batch.rejected == 3
    assert batch.reasons == {
        "trace_id must be 16 bytes, got 2": 1,
        f"start_time_unix_nano {2**63} is out of range": 1,
        "span kind 9 is not a known SpanKind": 1,
    }


def test_error_message_names_the_commonest_problems_first() -> None:
    batch = otlp.Batch()
    assert batch.error_message("span") == ""
    for reason, count in [("a", 1), ("b", 4), ("c", 2), ("d", 3), ("e", 1)]:
        for _ in range(count):
            batch.reject(reason)
    assert batch.rejected == 11
    assert batch.error_message("span") == (
        "11 span(s) rejected: b (4×); d (3×); c (2×); and 2 other problem(s)"
    )
    assert batch.error_message("log record").startswith("11 log record(s) rejected: ")


# --- undecodable bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("traceId", "resourceSpans[0].scopeSpans[0].spans[1].traceId"),
        ("spanId", "resourceSpans[0].scopeSpans[0].spans[1].spanId"),
        ("parentSpanId", "resourceSpans[0].scopeSpans[0].spans[1].parentSpanId"),
    ],
)
def test_non_hex_id_in_json_is_a_400_naming_the_field(field: str, where: str) -> None:
    document = to_otlp_json(request(span(), span(parent=b"\x02" * 8)))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][1][field] = "not hex at all!"
    error = fails(
        400, re.escape(where), lambda: otlp.decode_traces(json.dumps(document).encode(), "json")
    )
    assert "not a hex string" in error.message
    assert "'not hex at all!'" in error.message


def test_non_hex_link_id_in_json_is_a_400_naming_the_link() -> None:
    document = spec_json()
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"][0]["spanId"] = "zz" * 8
    fails(
        400,
        re.escape("resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId is not a hex string"),
        lambda: otlp.decode_traces(json.dumps(document).encode(), "json"),
    )


def test_base64_ids_in_json_are_refused() -> None:
    # Protobuf's own JSON mapping writes ids in base64; OTLP/JSON requires hex.
    from google.protobuf.json_format import MessageToJson

    body = MessageToJson(request(span())).encode()
    fails(400, "is not a hex string", lambda: otlp.decode_traces(body, "json"))


@pytest.mark.parametrize("body", [b"[]", b'"spans"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_a_400(body: bytes) -> None:
    fails(400, "OTLP/JSON body must be an object", lambda: otlp.decode_traces(body, "json"))


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b'{"a": 1} trailing', b"\xff\xfe", b"NaN-ish"])
def test_invalid_json_is_a_400(body: bytes) -> None:
    fails(400, "body is not valid JSON", lambda: otlp.decode_traces(body, "json"))


@pytest.mark.parametrize(
    "document",
    [
        {"resourceSpans": {"not": "a list"}},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "yesterday"}]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": str(2**64)}]}]}]},
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {"spans": [{"attributes": [{"key": "k", "value": {"intValue": "x"}}]}]}
                    ]
                }
            ]
        },
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]},
    ],
    ids=[
        "list-is-object",
        "string-name-number",
        "time-not-number",
        "time-past-uint64",
        "int-value-text",
        "numeric-id",
    ],
)
def test_json_of_the_wrong_shape_is_a_400(document: dict[str, Any]) -> None:
    fails(
        400,
        "body is not a valid OTLP/JSON ExportTraceServiceRequest",
        lambda: otlp.decode_traces(json.dumps(document).encode(), "json"),
    )


def test_garbage_bytes_are_a_400() -> None:
    fails(
        400,
        "not a valid protobuf ExportTraceServiceRequest",
        lambda: otlp.decode_traces(b"\xff\xff\xff\xff garbage", "protobuf"),
    )


def test_every_truncation_of_a_protobuf_body_is_a_400() -> None:
    body = spec_protobuf().SerializeToString()
    for end in range(1, len(body)):
        fails(
            400, "not a valid protobuf", lambda end=end: otlp.decode_traces(body[:end], "protobuf")
        )


def test_an_empty_json_body_is_a_400() -> None:
    fails(400, "request body is empty", lambda: otlp.decode_traces(b"", "json"))
    fails(400, "request body is empty", lambda: otlp.decode_logs(b"", "json"))
    fails(400, "request body is empty", lambda: otlp.decode_metrics(b"", "json"))


def test_an_empty_protobuf_body_is_an_empty_request() -> None:
    # Zero bytes encode a request with no resources; it decodes to nothing to store.
    for decoded in (otlp.decode_traces(b"", "protobuf"), otlp.decode_logs(b"", "protobuf")):
        assert (decoded.records, decoded.rejected) == ([], 0)
    assert otlp.decode_metrics(b"", "protobuf") == 0


def _deeply_nested(depth: int) -> ExportTraceServiceRequest:
    message = request(span())
    value = message.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="deep").value
    for _ in range(depth):
        value = value.kvlist_value.values.add(key="k").value
    value.string_value = "bottom"
    return message


def test_moderate_nesting_is_decoded() -> None:
    message = _deeply_nested(20)
    for batch in (
        otlp.decode_traces(message.SerializeToString(), "protobuf"),
        otlp.decode_traces(json.dumps(to_otlp_json(message)).encode(), "json"),
    ):
        value = batch.records[0]["attributes"]["deep"]
        for _ in range(19):
            value = value["k"]
        assert value == {"k": "bottom"}


def test_deep_nesting_is_a_400_not_a_recursion_error() -> None:
    message = _deeply_nested(200)
    fails(
        400,
        "not a valid protobuf",
        lambda: otlp.decode_traces(message.SerializeToString(), "protobuf"),
    )
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(100):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    document = to_otlp_json(request(span()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "deep", "value": value}
    ]
    fails(400, "too deep", lambda: otlp.decode_traces(json.dumps(document).encode(), "json"))
    too_deep_for_json = b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    fails(400, "not valid JSON", lambda: otlp.decode_traces(too_deep_for_json, "json"))


def test_mutated_bodies_only_ever_raise_otlp_errors() -> None:
    """Many randomly damaged requests: each decodes or is refused with a status; none crashes."""
    rng = random.Random(20261204)
    document = spec_json()
    paths: list[tuple] = []

    def walk(node: Any, path: tuple) -> None:
        paths.append(path)
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, child in items:
            walk(child, (*path, key))

    walk(document, ())
    replacements = [
        None,
        1,
        -1,
        2**70,
        1.5,
        "x",
        "",
        "zz",
        [],
        {},
        [1],
        {"a": 1},
        True,
        "SPAN_KIND_SERVER",
        "NaN",
    ]
    for _ in range(500):
        mutated = copy.deepcopy(document)
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(paths[1:])
            node = mutated
            try:
                for key in parents:
                    node = node[key]
                node[last] = copy.deepcopy(rng.choice(replacements))
            except (KeyError, IndexError, TypeError):
                pass
        try:
            otlp.decode_traces(json.dumps(mutated).encode(), "json")
        except otlp.OtlpError as error:
            assert error.status == 400

    body = spec_protobuf().SerializeToString()
    for _ in range(500):
        damaged = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            otlp.decode_traces(bytes(damaged), "protobuf")
        except otlp.OtlpError as error:
            assert error.status == 400


# --- content addressing ------------------------------------------------------------------------


def test_the_same_resource_and_scope_get_the_same_hash_in_two_requests() -> None:
    first = otlp.decode_traces(request(span()).SerializeToString(), "protobuf")
    second = otlp.decode_traces(request(span(), span()).SerializeToString(), "protobuf")
    assert first.resources == second.resources
    assert first.scopes == second.scopes
    keys = {
        (record["resource_hash"], record["scope_hash"]) for record in first.records + second.records
    }
    assert len(keys) == 1
    resource_key, scope_key = keys.pop()
    assert isinstance(resource_key, bytes) and len(resource_key) == 16
    assert isinstance(scope_key, bytes) and len(scope_key) == 16


def test_a_resource_sent_as_json_gets_the_same_hash_as_in_protobuf() -> None:
    message = request(span())
    from_protobuf = otlp.decode_traces(message.SerializeToString(), "protobuf")
    from_json = otlp.decode_traces(json.dumps(to_otlp_json(message)).encode(), "json")
    assert from_json.resources.keys() == from_protobuf.resources.keys()
    assert from_json.scopes.keys() == from_protobuf.scopes.keys()


def test_different_resources_and_scopes_get_different_hashes() -> None:
    a = otlp.decode_traces(request(span(), service="a").SerializeToString(), "protobuf")
    b = otlp.decode_traces(request(span(), service="b").SerializeToString(), "protobuf")
    c = otlp.decode_traces(
        request(span(), service="a", scope="other").SerializeToString(), "protobuf"
    )
    assert a.resources.keys() != b.resources.keys()
    assert a.scopes.keys() == b.scopes.keys()
    assert a.resources.keys() == c.resources.keys()
    assert a.scopes.keys() != c.scopes.keys()


def test_a_schema_url_is_part_of_the_resource_identity() -> None:
    plain = request(span())
    versioned = request(span())
    versioned.resource_spans[0].schema_url = "https://opentelemetry.io/schemas/1.26.0"
    a = otlp.decode_traces(plain.SerializeToString(), "protobuf")
    b = otlp.decode_traces(versioned.SerializeToString(), "protobuf")
    assert a.resources.keys() != b.resources.keys()


def test_repeated_resources_in_one_request_are_kept_once() -> None:
    message = request(span())
    message.resource_spans.append(request(span()).resource_spans[0])
    batch = otlp.decode_traces(message.SerializeToString(), "protobuf")
    assert len(batch.records) == 2
    assert len(batch.resources) == 1
    assert len(batch.scopes) == 1


# --- logs --------------------------------------------------------------------------------------


def test_decode_logs_keeps_only_records_with_a_span() -> None:
    trace, ident = b"\x01" * 16, b"\x02" * 8
    message = logs_request(
        log_record("kept", trace=trace, ident=ident),
        log_record("no span context"),
        log_record("trace only", trace=trace),
        log_record("zero ids", trace=bytes(16), ident=bytes(8)),
    )
    batch = otlp.decode_logs(message.SerializeToString(), "protobuf")
    assert batch.rejected == 0
    [record] = batch.records
    assert record["body"] == "kept"
    assert (record["trace_id"], record["span_id"]) == (trace, ident)


def test_decoded_log_record_holds_every_field() -> None:
    item = log_record(
        {"message": "hi", "n": 2},
        trace=TRACE,
        ident=SPAN,
        attributes={"a": 1.5},
        event_name="gen_ai.choice",
    )
    item.flags = 1
    item.dropped_attributes_count = 2
    batch = otlp.decode_logs(logs_request(item).SerializeToString(), "protobuf")
    [record] = batch.records
    [resource_key] = batch.resources
    [scope_key] = batch.scopes
    assert record == {
        "log_id": record["log_id"],
        "trace_id": TRACE,
        "span_id": SPAN,
        "time_ns": BASE_NS,
        "observed_time_ns": BASE_NS,
        "severity_number": 9,
        "severity_text": "INFO",
        "event_name": "gen_ai.choice",
        "body": {"message": "hi", "n": 2},
        "attributes": {"a": 1.5},
        "dropped_attributes_count": 2,
        "flags": 1,
        "resource_hash": resource_key,
        "scope_hash": scope_key,
    }


def test_log_id_is_stable_for_identical_records() -> None:
    message = logs_request(log_record("same", trace=TRACE, ident=SPAN))
    first = otlp.decode_logs(message.SerializeToString(), "protobuf")
    again = otlp.decode_logs(message.SerializeToString(), "protobuf")
    as_json = otlp.decode_logs(json.dumps(logs_to_otlp_json(message)).encode(), "json")
    assert first.records[0]["log_id"] == again.records[0]["log_id"] == as_json.records[0]["log_id"]
    assert len(first.records[0]["log_id"]) == 16
    assert first.records == as_json.records


def test_log_id_differs_when_the_record_or_its_origin_differs() -> None:
    def log_id(message: Any) -> bytes:
        return otlp.decode_logs(message.SerializeToString(), "protobuf").records[0]["log_id"]

    base = log_id(logs_request(log_record("same", trace=TRACE, ident=SPAN)))
    assert log_id(logs_request(log_record("other", trace=TRACE, ident=SPAN))) != base
    assert (
        log_id(logs_request(log_record("same", trace=TRACE, ident=SPAN, time_ns=BASE_NS + 1)))
        != base
    )
    assert (
        log_id(logs_request(log_record("same", trace=TRACE, ident=SPAN), service="elsewhere"))
        != base
    )


@pytest.mark.parametrize(
    ("trace", "ident", "reason"),
    [
        (b"\x01" * 15, b"\x02" * 8, "trace_id must be 16 bytes, got 15"),
        (b"\x01" * 16, b"\x02" * 9, "span_id must be 8 bytes, got 9"),
    ],
)
def test_log_with_ids_of_the_wrong_length_is_rejected(
    trace: bytes, ident: bytes, reason: str
) -> None:
    message = logs_request(
        log_record("bad", trace=trace, ident=ident), log_record("good", trace=TRACE, ident=SPAN)
    )
    batch = otlp.decode_logs(message.SerializeToString(), "protobuf")
    assert [record["body"] for record in batch.records] == ["good"]
    assert batch.reasons == {reason: 1}


def test_non_hex_log_id_in_json_is_a_400_naming_the_field() -> None:
    document = logs_to_otlp_json(logs_request(log_record(trace=TRACE, ident=SPAN)))
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["spanId"] = "xyz"
    fails(
        400,
        re.escape("resourceLogs[0].scopeLogs[0].logRecords[0].spanId is not a hex string"),
        lambda: otlp.decode_logs(json.dumps(document).encode(), "json"),
    )


# --- metrics -----------------------------------------------------------------------------------


def test_decode_metrics_counts_metrics_in_both_formats() -> None:
    message = ExportMetricsServiceRequest()
    scope_metrics = message.resource_metrics.add().scope_metrics.add()
    gauge = scope_metrics.metrics.add(name="queue.depth")
    gauge.gauge.data_points.add(as_int=3, time_unix_nano=BASE_NS)
    total = scope_metrics.metrics.add(name="requests")
    total.sum.data_points.add(as_double=2.5, time_unix_nano=BASE_NS)
    assert otlp.decode_metrics(message.SerializeToString(), "protobuf") == 2
    assert otlp.decode_metrics(json_format.MessageToJson(message).encode(), "json") == 2


def test_garbage_metrics_are_a_400() -> None:
    fails(
        400,
        "not a valid protobuf ExportMetricsServiceRequest",
        lambda: otlp.decode_metrics(b"\xff\xff\xff", "protobuf"),
    )


# --- replies -----------------------------------------------------------------------------------


def test_success_reply_without_rejections_is_empty() -> None:
    assert otlp.success_reply("traces", "protobuf") == b""
    assert json.loads(otlp.success_reply("traces", "json")) == {}
    assert json.loads(otlp.success_reply("metrics", "json")) == {}


def test_success_reply_carries_partial_success() -> None:
    reply = ExportTraceServiceResponse.FromString(
        otlp.success_reply("traces", "protobuf", 3, "bad ids")
    )
    assert (reply.partial_success.rejected_spans, reply.partial_success.error_message) == (
        3,
        "bad ids",
    )
    reply = json_format.Parse(
        otlp.success_reply("traces", "json", 3, "bad ids"), ExportTraceServiceResponse()
    )
    assert (reply.partial_success.rejected_spans, reply.partial_success.error_message) == (
        3,
        "bad ids",
    )
    logs = ExportLogsServiceResponse.FromString(otlp.success_reply("logs", "protobuf", 2, "no"))
    assert (logs.partial_success.rejected_log_records, logs.partial_success.error_message) == (
        2,
        "no",
    )
    ExportMetricsServiceResponse.FromString(otlp.success_reply("metrics", "protobuf"))


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, code_pb2.INVALID_ARGUMENT),
        (413, code_pb2.RESOURCE_EXHAUSTED),
        (415, code_pb2.INVALID_ARGUMENT),
        (503, code_pb2.UNAVAILABLE),
        (500, code_pb2.UNKNOWN),
    ],
)
def test_error_reply_is_a_google_rpc_status(status: int, code: int) -> None:
    reply = status_pb2.Status.FromString(otlp.error_reply("protobuf", status, "why"))
    assert (reply.code, reply.message) == (code, "why")
    reply = json_format.Parse(otlp.error_reply("json", status, "why"), status_pb2.Status())
    assert (reply.code, reply.message) == (code, "why")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "SPAN_KIND_BOGUS", "kind 'SPAN_KIND_BOGUS' is not a known SpanKind"),
        ("kind", 1.5, "kind 1.5 is not a known SpanKind"),
        ("status", {"code": "STATUS_CODE_ERRORR"}, "status.code 'STATUS_CODE_ERRORR'"),
        ("status", {"code": 2.5}, "status.code 2.5 is not a known StatusCode"),
    ],
)
def test_an_enum_that_protobuf_would_silently_zero_is_refused(field, value, message) -> None:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x", field: value}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    fails(400, re.escape(message), lambda: otlp.decode_traces(json.dumps(body).encode(), "json"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("SEVERITY_NUMBER_BOGUS", "severityNumber 'SEVERITY_NUMBER_BOGUS' is not a known"),
        (17.5, "severityNumber 17.5 is not a known SeverityNumber"),
        (True, "severityNumber True is not a known SeverityNumber"),
    ],
)
def test_a_log_severity_that_protobuf_would_silently_change_is_refused(value, message) -> None:
    record = {"traceId": "ab" * 16, "spanId": "cd" * 8, "severityNumber": value}
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    fails(400, re.escape(message), lambda: otlp.decode_logs(json.dumps(body).encode(), "json"))


def _attribute_body(value: dict) -> bytes:
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x"}
    span["attributes"] = [{"key": "b", "value": value}]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


@pytest.mark.parametrize("text", ["!!!", "@@@@", "YQ==YQ==", "a", "YQ=a", "YQ==="])
def test_bytes_that_are_not_base64_are_refused(text: str) -> None:
    # protobuf's JSON parser drops what is not base64: "!!!" would be stored as no bytes.
    fails(
        400,
        re.escape("attributes[0].value.bytesValue is not base64"),
        lambda: otlp.decode_traces(_attribute_body({"bytesValue": text}), "json"),
    )


@pytest.mark.parametrize(
    ("text", "stored"),
    [("YQ==", "YQ=="), ("YQ", "YQ=="), ("-_8=", "+/8="), ("", ""), ("AAEC", "AAEC")],
)
def test_base64_bytes_of_either_alphabet_are_read(text: str, stored: str) -> None:
    [record] = otlp.decode_traces(_attribute_body({"bytesValue": text}), "json").records
    assert record["attributes"] == {"b": stored}


def test_enum_names_that_exist_are_read() -> None:
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "x",
        "kind": "SPAN_KIND_SERVER",
        "status": {"code": "STATUS_CODE_ERROR"},
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    [record] = otlp.decode_traces(json.dumps(body).encode(), "json").records
    assert (record["kind"], record["status_code"]) == (2, 2)
