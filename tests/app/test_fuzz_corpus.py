"""The hostile-input corpus: every file in tests/fixtures/fuzz_corpus/ is posted to the
receiver and must get the status its name says, never a 5xx.

A file is named `<status>-<what it is>.<format>[.<encoding>]`:
- format `pb` is sent as application/x-protobuf, `json` as application/json, `txt` as
  text/plain;
- encoding `gz` is sent with Content-Encoding gzip, `deflate` with deflate, `br` with br
  (which Spyglass does not speak).

After a 200, every span the request carried that the data model accepts must read back as it
was sent, and every view of its trace must render it (`test_fuzz_receiver.check_export`).
Add a case by dropping a file in; anything the fuzzer finds belongs here.
"""

from __future__ import annotations

import gzip
import itertools
import string
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.main import create_app
from app.settings import Settings
from tests.app.test_fuzz_receiver import HUNT, check_export, post
from tests.otlp_builders import request as export_request
from tests.otlp_builders import span

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "fuzz_corpus"
CONTENT_TYPES = {
    "pb": "application/x-protobuf",
    "json": "application/json",
    "txt": "text/plain",
}
ENCODINGS = {"gz": "gzip", "deflate": "deflate", "br": "br"}
CASES = sorted(path for path in CORPUS.iterdir() if path.name != "README.md")


def parse_name(name: str) -> tuple[int, str, str | None]:
    """The expected status, the content type and the content encoding a corpus file names."""
    status, _, rest = name.partition("-")
    _, fmt, *encoding = rest.split(".")
    assert len(encoding) <= 1, name
    return int(status), CONTENT_TYPES[fmt], ENCODINGS[encoding[0]] if encoding else None


def test_the_corpus_covers_every_status_and_names_each_case_well() -> None:
    statuses = {parse_name(path.name)[0] for path in CASES}
    assert statuses == {200, 400, 413, 415}
    assert len(CASES) >= 50


@pytest.mark.parametrize("path", CASES, ids=[path.name for path in CASES])
def test_each_corpus_case_gets_its_status(
    client: TestClient, database_url: str, path: Path
) -> None:
    status, content_type, encoding = parse_name(path.name)
    postgres = database_url.startswith("postgresql")
    reply = check_export(client, path.read_bytes(), content_type, encoding, postgres=postgres)
    assert reply.status_code == status, reply.text[:500]


def _distinct_attributes(count: int) -> bytes:
    """An export of one span with `count` attributes of distinct keys and no value, written
    out on the wire directly (building a million KeyValue messages takes seconds)."""
    message = export_request(span("many attributes"))
    body = message.SerializeToString()
    alphabet = (string.ascii_letters + string.digits).encode()
    # Span.attributes is field 9: tag 0x4a. A KeyValue of a 4-byte key alone: 0a 04 <key>.
    pairs = b"".join(
        b"\x4a\x06\x0a\x04" + bytes(key)
        for key in itertools.islice(itertools.product(alphabet, repeat=4), count)
    )
    spans = message.resource_spans[0].scope_spans[0]
    inner = spans.spans[0].SerializeToString() + pairs
    scope = spans.scope.SerializeToString()
    scope_spans = b"\x0a" + _varint(len(scope)) + scope + b"\x12" + _varint(len(inner)) + inner
    resource = message.resource_spans[0].resource.SerializeToString()
    resource_spans = (
        b"\x0a" + _varint(len(resource)) + resource
        + b"\x12" + _varint(len(scope_spans)) + scope_spans
    )  # fmt: skip
    rebuilt = b"\x0a" + _varint(len(resource_spans)) + resource_spans
    assert len(rebuilt) > len(body)
    return rebuilt


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


# A million take some seconds to decode, store and read back: CI sends a tenth of that, and
# a hunt (SPYGLASS_FUZZ_EXAMPLES set) the whole million, which fits in the default body limit.
MANY_ATTRIBUTES = 1_000_000 if HUNT else 100_000


def test_many_distinct_attributes_are_stored_and_shown_in_bounded_time(
    client: TestClient,
) -> None:
    """Under the body limit a span can carry a million attributes: the work grows with them,
    and the page shows the first thousand rather than a table of a hundred megabytes."""
    body = gzip.compress(_distinct_attributes(MANY_ATTRIBUTES), 1)
    started = time.monotonic()
    reply = post(client, body, "application/x-protobuf", "gzip")
    assert reply.status_code == 200, reply.text[:500]
    found = client.get("/api/v1/spans", params={"name": "many attributes"}).json()["spans"]
    trace_id, span_id = found[0]["trace_id"], found[0]["span_id"]
    stored = client.get(f"/api/v1/traces/{trace_id}/spans/{span_id}").json()
    assert len(stored["attributes"]) == MANY_ATTRIBUTES
    page = client.get(f"/traces/{trace_id}")
    assert page.status_code == 200
    assert f"{MANY_ATTRIBUTES - 1000:,} more" in page.text
    # Generous for a loaded CI machine: the point is that it ends, not how fast.
    assert time.monotonic() - started < 60


def test_a_million_attributes_past_the_body_limit_are_refused_unread(
    database_url: str, engine: Engine
) -> None:
    settings = Settings(database_url=database_url, max_body_bytes=1_000_000)
    with TestClient(create_app(settings, engine=engine)) as client:
        body = _distinct_attributes(1_000_000)
        assert post(client, body, "application/x-protobuf").status_code == 413
        assert (
            post(client, gzip.compress(body, 1), "application/x-protobuf", "gzip").status_code
            == 413
        )
