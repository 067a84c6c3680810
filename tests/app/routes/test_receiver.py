"""The OTLP/HTTP receiver through the whole app: replies, storage, bad input and back-pressure."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy.engine import Engine

from app import ingest, store
from app.main import create_app
from app.otlp import Batch
from app.schema import span_logs
from app.settings import Settings
from tests.otlp_builders import (
    BASE_NS,
    log_record,
    logs_request,
    logs_to_otlp_json,
    request,
    span,
    to_otlp_json,
)

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
# Generous bounds for waits that end at once unless something is broken.
WAIT_SECONDS = 10


def post_traces(
    client: TestClient, message: ExportTraceServiceRequest, fmt: str = "protobuf"
) -> httpx.Response:
    if fmt == "protobuf":
        return client.post("/v1/traces", content=message.SerializeToString(), headers=PROTOBUF)
    return client.post("/v1/traces", content=json.dumps(to_otlp_json(message)), headers=JSON)


def error_message(reply: httpx.Response, media_type: str) -> str:
    """The message of a google.rpc.Status reply, checking it came in `media_type`."""
    assert reply.headers["content-type"] == media_type
    if media_type == "application/x-protobuf":
        return status_pb2.Status.FromString(reply.content).message
    return json_format.Parse(reply.content, status_pb2.Status()).message


def assert_still_serving(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    message = request(span("after the storm"))
    assert post_traces(client, message).status_code == 200
    trace_id = message.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    assert client.get(f"/api/v1/traces/{trace_id}").status_code == 200


def stored_spans(client: TestClient, trace_id: bytes) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/spans", params={"trace_id": trace_id.hex(), "limit": 1000})
    assert reply.status_code == 200
    return reply.json()["spans"]


@pytest.fixture
def small_client(database_url: str, engine: Engine) -> Iterator[TestClient]:
    """The app with a 4 KiB body limit."""
    settings = Settings(database_url=database_url, max_body_bytes=4096)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client


# --- success ---------------------------------------------------------------------------------


def test_protobuf_export_gets_an_export_trace_service_response(client: TestClient) -> None:
    reply = post_traces(client, request(span()))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(reply.content)
    assert not response.HasField("partial_success")


def test_application_protobuf_is_accepted_too(client: TestClient) -> None:
    body = request(span()).SerializeToString()
    reply = client.post(
        "/v1/traces", content=body, headers={"content-type": "application/protobuf"}
    )
    assert reply.status_code == 200
    ExportTraceServiceResponse.FromString(reply.content)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_export_gets_a_json_reply(client: TestClient, content_type: str) -> None:
    body = json.dumps(to_otlp_json(request(span())))
    reply = client.post("/v1/traces", content=body, headers={"content-type": content_type})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {}


ATTRIBUTES = {
    "text": "héllo",
    "count": 2**63 - 1,
    "negative": -7,
    "ratio": 1.0,
    "half": 0.5,
    "flag": False,
    "list": [1, "two", 3.5, True],
    "map": {"inner": {"deep": [1, 2]}},
    "raw": b"\x00\xff",
}
NATURAL = {**ATTRIBUTES, "raw": "AP8="}


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_exported_spans_are_queryable_at_once_with_their_types(
    client: TestClient, fmt: str
) -> None:
    root = span("root", kind=2, attributes=ATTRIBUTES)
    child = span(
        "child",
        trace=root.trace_id,
        parent=root.span_id,
        start_ns=BASE_NS + 100_000,
        status=2,
        kind=3,
    )
    child.status.message = "it broke"
    child.events.add(name="exception", time_unix_nano=BASE_NS + 200_000).attributes.add(
        key="n"
    ).value.int_value = 5
    reply = post_traces(client, request(child, root, service="shop"), fmt)
    assert reply.status_code == 200

    found = client.get(f"/api/v1/traces/{root.trace_id.hex()}")
    assert found.status_code == 200
    trace = found.json()
    assert trace["trace"]["span_count"] == 2
    assert trace["trace"]["name"] == "root"
    assert trace["trace"]["error_count"] == 1
    assert trace["trace"]["service_name"] == "shop"
    by_name = {item["name"]: item for item in trace["spans"]}
    assert [item["name"] for item in trace["spans"]] == ["root", "child"]
    stored_root = by_name["root"]
    assert stored_root["attributes"] == NATURAL
    assert type(stored_root["attributes"]["ratio"]) is float
    assert type(stored_root["attributes"]["count"]) is int
    assert stored_root["kind"] == "server"
    assert stored_root["parent_span_id"] is None
    assert stored_root["resource_attributes"] == {"service.name": "shop"}
    stored_child = by_name["child"]
    assert stored_child["parent_span_id"] == root.span_id.hex()
    assert (stored_child["kind"], stored_child["status_code"]) == ("client", "error")
    assert stored_child["status_message"] == "it broke"
    assert stored_child["events"][0]["name"] == "exception"
    assert stored_child["events"][0]["attributes"] == {"n": 5}


def test_non_finite_doubles_are_stored_as_strings(client: TestClient) -> None:
    item = span(attributes={"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    assert post_traces(client, request(item)).status_code == 200
    [stored] = stored_spans(client, item.trace_id)
    assert stored["attributes"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity"}


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate)],
    ids=["gzip", "zlib-deflate", "raw-deflate"],
)
@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_compressed_bodies_are_accepted(
    client: TestClient, encoding: str, compress: Any, fmt: str
) -> None:
    item = span("compressed", attributes={"k": "v" * 1000})
    message = request(item)
    raw = (
        message.SerializeToString()
        if fmt == "protobuf"
        else json.dumps(to_otlp_json(message)).encode()
    )
    headers = {**(PROTOBUF if fmt == "protobuf" else JSON), "content-encoding": encoding}
    reply = client.post("/v1/traces", content=compress(raw), headers=headers)
    assert reply.status_code == 200
    [stored] = stored_spans(client, item.trace_id)
    assert stored["attributes"] == {"k": "v" * 1000}


# --- bad input -------------------------------------------------------------------------------

VALID = request(span()).SerializeToString()
BAD_INPUT = [
    pytest.param(PROTOBUF, b"\xff\xff\xff\xffgarbage", 400, "not a valid protobuf", id="garbage"),
    pytest.param(PROTOBUF, VALID[:-4], 400, "not a valid protobuf", id="truncated-protobuf"),
    pytest.param(JSON, b'{"resourceSpans": [', 400, "not valid JSON", id="invalid-json"),
    pytest.param(JSON, b"[]", 400, "must be an object", id="json-array"),
    pytest.param(JSON, b"", 400, "request body is empty", id="empty-json"),
    pytest.param(
        JSON,
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"nothex"}]}]}]}',
        400,
        "resourceSpans[0].scopeSpans[0].spans[0].traceId is not a hex string",
        id="non-hex-id",
    ),
    pytest.param(
        {**PROTOBUF, "content-encoding": "gzip"},
        gzip.compress(VALID)[:-6],
        400,
        "gzip body is truncated",
        id="truncated-gzip",
    ),
    pytest.param(
        {**PROTOBUF, "content-encoding": "gzip"},
        gzip.compress(VALID) + b"junk",
        400,
        "trailing data",
        id="gzip-junk",
    ),
    pytest.param(
        {**PROTOBUF, "content-encoding": "gzip"}, VALID, 400, "not valid gzip data", id="not-gzip"
    ),
    pytest.param(
        {**PROTOBUF, "content-encoding": "br"},
        VALID,
        415,
        "unsupported content encoding 'br'",
        id="brotli",
    ),
]


@pytest.mark.parametrize(("headers", "body", "status", "message"), BAD_INPUT)
def test_bad_input_gets_its_status_and_a_status_body(
    client: TestClient, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    reply = client.post("/v1/traces", content=body, headers=headers)
    assert reply.status_code == status
    media_type = (
        "application/json"
        if headers["content-type"] == "application/json"
        else "application/x-protobuf"
    )
    assert message in error_message(reply, media_type)
    assert_still_serving(client)


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"content-type": "text/plain"}, "'text/plain'"),
        ({}, "'none'"),
        ({"content-type": "application/xml"}, "'application/xml'"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics"])
def test_unsupported_content_type_is_415_in_json(
    client: TestClient, headers: dict[str, str], named: str, path: str
) -> None:
    reply = client.post(path, content=VALID, headers=headers)
    assert reply.status_code == 415
    assert f"unsupported content type {named}" in error_message(reply, "application/json")
    assert_still_serving(client)


@pytest.mark.parametrize(
    ("path", "reply_type"),
    [
        ("/v1/traces", ExportTraceServiceResponse),
        ("/v1/logs", ExportLogsServiceResponse),
        ("/v1/metrics", ExportMetricsServiceResponse),
    ],
)
def test_an_empty_protobuf_body_is_an_empty_export(
    client: TestClient, path: str, reply_type: Any
) -> None:
    # Zero bytes are a valid protobuf request with nothing in it, not a malformed one.
    reply = client.post(path, content=b"", headers=PROTOBUF)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert not reply_type.FromString(reply.content).HasField("partial_success")


def test_body_over_the_limit_is_413(small_client: TestClient) -> None:
    item = span(attributes={"big": "x" * 5000})
    reply = post_traces(small_client, request(item))
    assert reply.status_code == 413
    assert "larger than the limit of 4096 bytes" in error_message(reply, "application/x-protobuf")
    assert stored_spans(small_client, item.trace_id) == []
    assert_still_serving(small_client)


def test_streamed_body_over_the_limit_is_413(small_client: TestClient) -> None:
    # No Content-Length: the limit is enforced while reading.
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"\x0a" + b"\x00" * 1023

    reply = small_client.post("/v1/traces", content=chunks(), headers=JSON)
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 413
    assert "larger than the limit of 4096 bytes" in error_message(reply, "application/json")
    assert_still_serving(small_client)


def test_body_under_the_limit_is_accepted(small_client: TestClient) -> None:
    item = span(attributes={"big": "x" * 3000})
    assert post_traces(small_client, request(item)).status_code == 200
    assert len(stored_spans(small_client, item.trace_id)) == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_body_over_the_limit_once_decompressed_is_413(
    small_client: TestClient, encoding: str
) -> None:
    compress = gzip.compress if encoding == "gzip" else zlib.compress
    bomb = compress(bytes(1024 * 1024))  # 1 MiB of zeros in about 1 kB
    assert len(bomb) < 4096
    reply = small_client.post(
        "/v1/traces", content=bomb, headers={**PROTOBUF, "content-encoding": encoding}
    )
    assert reply.status_code == 413
    assert f"larger than 4096 bytes once {encoding}-decompressed" in error_message(
        reply, "application/x-protobuf"
    )
    assert_still_serving(small_client)


# --- invalid spans ---------------------------------------------------------------------------


def _broken_spans() -> list[Any]:
    short_id = span("short trace id")
    short_id.trace_id = b"\x01" * 15
    bad_kind = span("bad kind", kind=9)
    bad_status = span("bad status", status=7)
    return [short_id, bad_kind, bad_status]


REASONS = [
    "trace_id must be 16 bytes, got 15",
    "span kind 9 is not a known SpanKind",
    "status code 7 is not a known StatusCode",
]


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_some_invalid_spans_get_partial_success_and_the_rest_are_stored(
    client: TestClient, fmt: str
) -> None:
    good = span("good")
    sibling = span("good sibling", trace=good.trace_id, parent=good.span_id)
    reply = post_traces(client, request(good, *_broken_spans(), sibling), fmt)
    assert reply.status_code == 200
    response = ExportTraceServiceResponse()
    if fmt == "protobuf":
        assert reply.headers["content-type"] == "application/x-protobuf"
        response.ParseFromString(reply.content)
    else:
        assert reply.headers["content-type"] == "application/json"
        json_format.Parse(reply.content, response)
    assert response.partial_success.rejected_spans == 3
    assert response.partial_success.error_message.startswith("3 span(s) rejected: ")
    for reason in REASONS:
        assert reason in response.partial_success.error_message
    assert sorted(item["name"] for item in stored_spans(client, good.trace_id)) == [
        "good",
        "good sibling",
    ]


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_all_invalid_spans_get_400_with_the_reasons(client: TestClient, fmt: str) -> None:
    broken = _broken_spans()
    reply = post_traces(client, request(*broken), fmt)
    assert reply.status_code == 400
    media_type = "application/x-protobuf" if fmt == "protobuf" else "application/json"
    message = error_message(reply, media_type)
    assert message.startswith("3 span(s) rejected: ")
    for reason in REASONS:
        assert reason in message
    assert client.get("/api/v1/traces").json()["traces"] == []
    assert_still_serving(client)


def test_all_zero_ids_are_rejected(client: TestClient) -> None:
    item = span("zero")
    item.span_id = bytes(8)
    reply = post_traces(client, request(item))
    assert reply.status_code == 400
    assert "span_id is all zeros" in error_message(reply, "application/x-protobuf")


def test_all_zero_parent_id_is_stored_as_a_root(client: TestClient) -> None:
    item = span("root from an SDK that writes zeros", parent=bytes(8))
    assert post_traces(client, request(item)).status_code == 200
    summary = client.get(f"/api/v1/traces/{item.trace_id.hex()}").json()["trace"]
    assert summary["root_span_id"] == item.span_id.hex()
    assert stored_spans(client, item.trace_id)[0]["parent_span_id"] is None


# --- idempotency -----------------------------------------------------------------------------


def test_exporting_the_same_batch_twice_stores_each_span_once(client: TestClient) -> None:
    root = span("root")
    children = [span(f"child {n}", trace=root.trace_id, parent=root.span_id) for n in range(3)]
    message = request(root, *children)
    assert post_traces(client, message).status_code == 200
    assert post_traces(client, message).status_code == 200
    assert post_traces(client, message, "json").status_code == 200
    summary = client.get(f"/api/v1/traces/{root.trace_id.hex()}").json()["trace"]
    assert summary["span_count"] == 4
    names = sorted(item["name"] for item in stored_spans(client, root.trace_id))
    assert names == ["child 0", "child 1", "child 2", "root"]
    assert len(client.get("/api/v1/traces").json()["traces"]) == 1


def test_a_later_export_of_a_span_replaces_it_and_the_summary_follows(client: TestClient) -> None:
    root = span("starting", duration_ns=1_000_000)
    child = span("child", trace=root.trace_id, parent=root.span_id, duration_ns=500_000)
    assert post_traces(client, request(root, child)).status_code == 200
    before = client.get(f"/api/v1/traces/{root.trace_id.hex()}").json()["trace"]
    assert (before["name"], before["duration_ms"], before["error_count"]) == ("starting", 1.0, 0)

    finished = span(
        "finished", trace=root.trace_id, ident=root.span_id, duration_ns=5_000_000, status=2
    )
    assert post_traces(client, request(finished)).status_code == 200
    after = client.get(f"/api/v1/traces/{root.trace_id.hex()}").json()
    assert after["trace"]["name"] == "finished"
    assert after["trace"]["duration_ms"] == 5.0
    assert after["trace"]["error_count"] == 1
    assert after["trace"]["span_count"] == 2
    assert after["trace"]["end_time"] == "2026-12-04T16:00:00.005000Z"
    assert sorted(item["name"] for item in after["spans"]) == ["child", "finished"]


# --- logs --------------------------------------------------------------------------------------


def post_logs(client: TestClient, message: Any, fmt: str = "protobuf") -> httpx.Response:
    if fmt == "protobuf":
        return client.post("/v1/logs", content=message.SerializeToString(), headers=PROTOBUF)
    return client.post("/v1/logs", content=json.dumps(logs_to_otlp_json(message)), headers=JSON)


def span_logs_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(span_logs)).scalar_one()


def test_logs_export_gets_an_export_logs_service_response(client: TestClient) -> None:
    item = span()
    message = logs_request(log_record(trace=item.trace_id, ident=item.span_id))
    reply = post_logs(client, message)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert not ExportLogsServiceResponse.FromString(reply.content).HasField("partial_success")
    reply = post_logs(client, message, "json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {}


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
def test_a_log_with_span_context_is_shown_with_its_span(client: TestClient, fmt: str) -> None:
    item = span("llm call")
    record = log_record(
        {"content": "Hello"},
        trace=item.trace_id,
        ident=item.span_id,
        event_name="gen_ai.user.message",
        attributes={"n": 1},
    )
    # The log may arrive before its span: it is kept and shown once the span is stored.
    assert post_logs(client, logs_request(record), fmt).status_code == 200
    assert post_traces(client, request(item)).status_code == 200
    found = client.get(f"/api/v1/traces/{item.trace_id.hex()}/spans/{item.span_id.hex()}")
    assert found.status_code == 200
    [log] = found.json()["logs"]
    assert log["body"] == {"content": "Hello"}
    assert log["event_name"] == "gen_ai.user.message"
    assert log["attributes"] == {"n": 1}
    assert (log["severity_number"], log["severity_text"]) == (9, "INFO")
    assert log["time"] == "2026-12-04T16:00:00.000000Z"


def test_a_retried_log_export_is_stored_once(client: TestClient, engine: Engine) -> None:
    item = span()
    message = logs_request(
        log_record("one", trace=item.trace_id, ident=item.span_id),
        log_record("two", trace=item.trace_id, ident=item.span_id, time_ns=BASE_NS + 1),
    )
    assert post_traces(client, request(item)).status_code == 200
    for fmt in ("protobuf", "protobuf", "json"):
        assert post_logs(client, message, fmt).status_code == 200
    logs = client.get(f"/api/v1/traces/{item.trace_id.hex()}/spans/{item.span_id.hex()}").json()[
        "logs"
    ]
    assert [log["body"] for log in logs] == ["one", "two"]
    assert span_logs_count(engine) == 2


def test_logs_without_a_span_are_accepted_and_not_stored(
    client: TestClient, engine: Engine
) -> None:
    message = logs_request(
        log_record("no context"),
        log_record("trace id only", trace=b"\x01" * 16),
        log_record("zero ids", trace=bytes(16), ident=bytes(8)),
    )
    reply = post_logs(client, message)
    assert reply.status_code == 200
    assert not ExportLogsServiceResponse.FromString(reply.content).HasField("partial_success")
    assert span_logs_count(engine) == 0


def test_logs_with_broken_ids_get_partial_success(client: TestClient, engine: Engine) -> None:
    item = span()
    broken = log_record("broken", trace=b"\x01" * 3, ident=b"\x02" * 8)
    message = logs_request(broken, log_record("fine", trace=item.trace_id, ident=item.span_id))
    reply = post_logs(client, message)
    assert reply.status_code == 200
    response = ExportLogsServiceResponse.FromString(reply.content)
    assert response.partial_success.rejected_log_records == 1
    assert "trace_id must be 16 bytes, got 3" in response.partial_success.error_message
    assert span_logs_count(engine) == 1
    reply = post_logs(client, logs_request(broken))
    assert reply.status_code == 400
    assert "1 log record(s) rejected" in error_message(reply, "application/x-protobuf")


def test_garbage_logs_are_400(client: TestClient) -> None:
    reply = client.post("/v1/logs", content=b"\xff\xff\xff", headers=PROTOBUF)
    assert reply.status_code == 400
    assert "ExportLogsServiceRequest" in error_message(reply, "application/x-protobuf")


# --- metrics -----------------------------------------------------------------------------------


def metrics_request() -> ExportMetricsServiceRequest:
    message = ExportMetricsServiceRequest()
    resource_metrics = message.resource_metrics.add()
    resource_metrics.resource.attributes.add(key="service.name").value.string_value = "shop"
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = "meter"
    tokens = scope_metrics.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
    tokens.sum.is_monotonic = True
    tokens.sum.aggregation_temporality = 2
    point = tokens.sum.data_points.add(
        as_int=120, start_time_unix_nano=BASE_NS, time_unix_nano=BASE_NS + 1
    )
    point.exemplars.add(
        as_int=120, time_unix_nano=BASE_NS, trace_id=b"\x01" * 16, span_id=b"\x02" * 8
    )
    latency = scope_metrics.metrics.add(name="latency", unit="s")
    latency.histogram.data_points.add(count=2, sum=0.5, bucket_counts=[1, 1], explicit_bounds=[0.1])
    return message


def test_metrics_export_gets_an_empty_export_metrics_service_response(client: TestClient) -> None:
    reply = client.post(
        "/v1/metrics", content=metrics_request().SerializeToString(), headers=PROTOBUF
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert not ExportMetricsServiceResponse.FromString(reply.content).HasField("partial_success")


def test_json_metrics_with_hex_exemplar_ids_are_accepted(client: TestClient) -> None:
    document = json_format.MessageToDict(metrics_request())
    exemplar = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["dataPoints"][
        0
    ]["exemplars"][0]
    exemplar["traceId"], exemplar["spanId"] = "01" * 16, "02" * 8
    reply = client.post("/v1/metrics", content=json.dumps(document), headers=JSON)
    assert reply.status_code == 200
    assert reply.json() == {}


@pytest.mark.parametrize(
    ("headers", "body", "media_type"),
    [(PROTOBUF, b"\xff\xff\xff", "application/x-protobuf"), (JSON, b"{nope", "application/json")],
)
def test_garbage_metrics_are_400(
    client: TestClient, headers: dict[str, str], body: bytes, media_type: str
) -> None:
    reply = client.post("/v1/metrics", content=body, headers=headers)
    assert reply.status_code == 400
    assert "not" in error_message(reply, media_type)
    assert_still_serving(client)


# --- back-pressure -----------------------------------------------------------------------------


class SlowStore:
    """Stands in for store.write and holds each write until the test releases it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self._write = store.write
        monkeypatch.setattr(store, "write", self)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.entered.set()
        assert self.release.wait(WAIT_SECONDS), "the test never released the writer"
        self._write(*args, **kwargs)


def drain(writer: Any) -> None:
    """Wait until everything submitted before is committed: the writer works in order."""
    writer.submit("traces", Batch()).result(timeout=WAIT_SECONDS)


def test_a_full_write_queue_gets_503_with_retry_after(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowStore(monkeypatch)
    app = create_app(Settings(database_url=database_url, max_pending_spans=1), engine=engine)
    first, second = span("first"), span("second")
    replies: list[httpx.Response] = []
    with TestClient(app) as client:
        background = threading.Thread(
            target=lambda: replies.append(post_traces(client, request(first)))
        )
        background.start()
        try:
            assert slow.entered.wait(WAIT_SECONDS)
            assert app.state.writer.pending == 1

            for fmt, media_type in (
                ("protobuf", "application/x-protobuf"),
                ("json", "application/json"),
            ):
                busy = post_traces(client, request(second), fmt)
                assert busy.status_code == 503
                assert busy.headers["retry-after"].isdigit()
                assert "collector is busy" in error_message(busy, media_type)
            assert client.get("/healthz").status_code == 200
            # While its batch is held uncommitted, the first request has no answer: a 200
            # comes only once the batch is stored.
            assert replies == []
        finally:
            slow.release.set()
            background.join(WAIT_SECONDS)
        assert [reply.status_code for reply in replies] == [200]
        assert len(stored_spans(client, first.trace_id)) == 1
        assert stored_spans(client, second.trace_id) == []
        # Once the queue drains, the refused batch goes through on retry.
        assert post_traces(client, request(second)).status_code == 200
        assert len(stored_spans(client, second.trace_id)) == 1


def test_a_request_cancelled_while_writing_is_stored_and_the_writer_survives(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that gives up (or a server shutting down) cancels the request's task; the writer
    must not be left holding a cancelled future, which would stop it for good."""
    slow = SlowStore(monkeypatch)
    app = client.app
    item = span("abandoned")

    async def abandon() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as other:
            task = asyncio.create_task(
                other.post(
                    "/v1/traces", content=request(item).SerializeToString(), headers=PROTOBUF
                )
            )
            entered = await asyncio.to_thread(slow.entered.wait, WAIT_SECONDS)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert entered

    try:
        asyncio.run(abandon())
    finally:
        slow.release.set()
    drain(app.state.writer)
    assert len(stored_spans(client, item.trace_id)) == 1
    assert_still_serving(client)


def test_decoding_runs_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow decode (a large body) must not stop the collector answering other requests."""
    entered, release = threading.Event(), threading.Event()
    real_decode = ingest.decode

    def slow_decode(*args: Any) -> Any:
        entered.set()
        release.wait(WAIT_SECONDS)
        return real_decode(*args)

    monkeypatch.setattr(ingest, "decode", slow_decode)
    item = span("decoded slowly")
    replies: list[Any] = []
    background = threading.Thread(target=lambda: replies.append(post_traces(client, request(item))))
    background.start()
    try:
        assert entered.wait(WAIT_SECONDS)
        assert client.get("/healthz").status_code == 200
        assert replies == []
    finally:
        release.set()
        background.join(WAIT_SECONDS)
    assert [reply.status_code for reply in replies] == [200]
    assert len(stored_spans(client, item.trace_id)) == 1


def test_retry_after_is_spread_so_refused_exporters_do_not_return_together() -> None:
    from app.routes.receiver import _retry

    waits = {int(_retry()["Retry-After"]) for _ in range(200)}
    assert waits == {1, 2, 3}
