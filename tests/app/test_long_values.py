"""Long attribute values: kept apart, compressed, and read back as they were sent."""

from __future__ import annotations

import zlib

import orjson
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app import long_values
from app.long_values import LONG_VALUE_CHARS
from app.schema import spans
from tests.otlp_builders import request, span, span_id, trace_id

PROTOBUF = {"content-type": "application/x-protobuf"}


def test_short_attributes_stay_as_they_are() -> None:
    attributes = {"a": "x" * (LONG_VALUE_CHARS - 1), "n": 1, "list": ["y" * 1000]}
    assert long_values.split(attributes) == (attributes, None)


def test_long_strings_go_apart_and_come_back_in_their_order() -> None:
    attributes = {"first": 1, "long": "w" * LONG_VALUE_CHARS, "mid": None, "tail": "é" * 5000}
    short, packed = long_values.split(attributes)
    assert short == {"first": 1, "mid": None}
    assert packed is not None and len(packed) < 200  # repetitive text compresses well
    merged = long_values.merge(short, packed)
    assert merged == attributes
    assert list(merged) == list(attributes)


def test_a_span_with_long_values_is_stored_compressed_and_read_whole(
    client: TestClient, engine: Engine
) -> None:
    text = " ".join(f"word{n}" for n in range(3000))  # about 26 KB, little repetition
    attributes = {"before": "short", "prompt": text, "after": 7}
    trace, ident = trace_id(), span_id()
    body = request(span("call", trace=trace, ident=ident, attributes=attributes))
    assert client.post("/v1/traces", content=body.SerializeToString(), headers=PROTOBUF).is_success

    with engine.connect() as connection:
        row = connection.execute(sa.select(spans.c.attributes, spans.c.long_attributes)).one()
    assert "prompt" not in row.attributes
    assert len(row.long_attributes) < len(text) / 2
    found = client.get(f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}").json()
    assert found["attributes"] == attributes
    assert list(found["attributes"]) == list(attributes)


def test_values_packed_with_zlib_before_zstd_still_read() -> None:
    attributes = {"a": 1, "long": "v" * 1000}
    short, packed = long_values.split(attributes)
    assert packed is not None and packed[:4] == long_values.ZSTD_MAGIC
    legacy = zlib.compress(
        orjson.dumps({"keys": list(attributes), "values": {"long": attributes["long"]}})
    )
    assert long_values.merge(short, legacy) == attributes
