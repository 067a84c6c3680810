"""Long attribute values: kept apart, cut into chunks stored once, read back as sent."""

from __future__ import annotations

import json
import zlib

import orjson
import pytest
import sqlalchemy as sa
import zstandard
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from app import long_values, store
from app.long_values import LONG_VALUE_CHARS, MIN_CHUNK_CHARS
from app.schema import chunks, spans
from tests.otlp_builders import request, span, span_id, trace_id

PROTOBUF = {"content-type": "application/x-protobuf"}
MINUTE_NS = 60 * 10**9


def _message(n: int) -> dict:
    words = " ".join(f"turn{n}-word{i}" for i in range(90))
    return {"role": "user" if n % 2 else "assistant", "parts": [{"type": "text", "content": words}]}


def _history(calls: int, separators: tuple[str, str] = (",", ":")) -> str:
    return json.dumps([_message(n) for n in range(calls)], separators=separators)


def _post(client: TestClient, *sent: object) -> None:
    body = request(*sent).SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200


def test_short_attributes_stay_as_they_are() -> None:
    attributes = {"a": "x" * (LONG_VALUE_CHARS - 1), "n": 1, "list": ["y" * 1000]}
    assert long_values.split(attributes) == (attributes, None, {})


def test_long_strings_go_apart_and_come_back_in_their_order() -> None:
    attributes = {"first": 1, "long": "w" * LONG_VALUE_CHARS, "mid": None, "tail": "é" * 5000}
    split = long_values.split(attributes)
    assert split.short == {"first": 1, "mid": None}
    assert split.packed is not None and len(split.packed) < 200
    restored = long_values.restore(split)
    assert restored == attributes
    assert list(restored) == list(attributes)


@given(st.text(min_size=0, max_size=3000, alphabet=st.sampled_from('{}, "ab\\é\n[]')))
def test_chunks_always_join_back_to_the_text(text: str) -> None:
    assert "".join(long_values.cut(text)) == text


def test_a_message_list_is_cut_between_messages() -> None:
    text = _history(6)
    pieces = long_values.cut(text)
    assert "".join(pieces) == text
    assert len(pieces) == 7  # six messages and the tail that closes the list
    assert all(len(piece) >= MIN_CHUNK_CHARS for piece in pieces[:-1])
    assert pieces[0].startswith('[{"role"') and pieces[1].startswith(']},{"role"')
    assert pieces[-1] == "]}]"


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_a_longer_history_shares_every_chunk_of_the_shorter_one(
    separators: tuple[str, str],
) -> None:
    """Call k+1 of an agent re-sends call k's messages: only its new message is new text."""
    before = long_values.split({"gen_ai.input.messages": _history(5, separators)})
    after = long_values.split({"gen_ai.input.messages": _history(6, separators)})
    new = set(after.chunks) - set(before.chunks)
    assert len(new) == 1
    new_text = sum(len(long_values.chunk_text(after.chunks[d])) for d in new)
    assert new_text <= len(json.dumps(_message(5), separators=separators)) + 8


def test_values_of_older_spans_still_read() -> None:
    attributes = {"a": 1, "long": "v" * 1000}
    document = orjson.dumps({"keys": list(attributes), "values": {"long": attributes["long"]}})
    for legacy in (zlib.compress(document), zstandard.ZstdCompressor().compress(document)):
        assert long_values.merge({"a": 1}, legacy) == attributes


def test_a_key_with_nul_reads_in_the_form_postgresql_stored_it() -> None:
    split = long_values.split({"long": "z" * 2000, "a\x00b": 1})
    stored_short = {"a\ufffdb": 1}  # as PostgreSQL's JSON gives it back
    assert long_values.merge(stored_short, split.packed, {}) == {
        "long": long_values.MISSING_CHUNK,
        "a\ufffdb": 1,
    }
    assert long_values.restore(split) == {"long": "z" * 2000, "a\x00b": 1}


def test_flattened_lists_go_in_the_packed_document_whatever_their_length() -> None:
    attributes = {
        "llm.model_name": "claude",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "gen_ai.prompt.12.content": "short",
        "llm.token_count.prompt": 12,
        "http.status.2xx": 1,  # a digit that is not a whole part of the key stays
        "v2.0": 3,  # a numeric last part is a list item
    }
    split = long_values.split(attributes)
    assert split.short == {
        "llm.model_name": "claude",
        "llm.token_count.prompt": 12,
        "http.status.2xx": 1,
    }
    assert split.chunks == {}
    restored = long_values.merge(split.short, split.packed)
    assert restored == attributes and list(restored) == list(attributes)


def test_a_missing_chunk_reads_as_a_marker_not_an_error() -> None:
    split = long_values.split({"long": "z" * 2000})
    assert long_values.merge(split.short, split.packed, {}) == {"long": long_values.MISSING_CHUNK}


def test_repeated_history_is_stored_once_and_every_span_reads_whole(
    client: TestClient, engine: Engine
) -> None:
    trace = trace_id()
    calls = [
        span(
            "chat",
            trace=trace,
            ident=span_id(),
            attributes={"gen_ai.input.messages": _history(n), "call": n},
        )
        for n in range(1, 9)
    ]
    _post(client, *calls[:4])
    _post(client, *calls[4:])
    with engine.connect() as connection:
        stored = connection.execute(sa.select(chunks.c.data)).scalars().all()
        row = connection.execute(sa.select(spans.c.attributes).limit(1)).one()
    assert "gen_ai.input.messages" not in row.attributes
    # Each message once; the list's short tail after its last cut stays with each span.
    texts = sorted(long_values.chunk_text(data) for data in stored)
    *cut, tail = long_values.cut(_history(8))
    assert len(tail) < long_values.MIN_CHUNK_CHARS
    assert texts == sorted(cut)
    sent = sum(len(_history(n)) for n in range(1, 9))
    assert sum(len(data) for data in stored) < sent / 4
    for n, call in enumerate(calls, start=1):
        found = client.get(f"/api/v1/traces/{trace.hex()}/spans/{call.span_id.hex()}").json()
        assert found["attributes"] == {"gen_ai.input.messages": _history(n), "call": n}
        assert list(found["attributes"]) == ["gen_ai.input.messages", "call"]


def test_chunks_no_span_uses_are_dropped_with_the_spans(client: TestClient, engine: Engine) -> None:
    old_trace, new_trace = trace_id(), trace_id()
    shared = "shared text " * 100
    old_only = "old text " * 100
    minute = 1_800_000_000 * 10**9
    _post(
        client,
        span("old", trace=old_trace, start_ns=minute, attributes={"a": shared, "b": old_only}),
        span("new", trace=new_trace, start_ns=minute + 5 * MINUTE_NS, attributes={"a": shared}),
    )
    with engine.begin() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(chunks)).scalar() == 2
        connection.execute(spans.delete().where(spans.c.trace_id == old_trace))
        assert store.drop_unused_chunks(connection) == 1
    found = client.get(f"/api/v1/traces/{new_trace.hex()}").json()["spans"][0]["attributes"]
    assert found == {"a": shared}
    with engine.begin() as connection:
        connection.execute(spans.delete())
        assert store.drop_unused_chunks(connection) == 1


def test_a_span_with_a_nul_key_and_a_long_value_reads_on_every_backend(
    client: TestClient,
) -> None:
    trace, ident = trace_id(), span_id()
    _post(client, span("call", trace=trace, ident=ident, attributes={"k\x00": 1, "v": "w" * 999}))
    found = client.get(f"/api/v1/traces/{trace.hex()}/spans/{ident.hex()}")
    assert found.status_code == 200
    assert found.json()["attributes"]["v"] == "w" * 999
    assert set(found.json()["attributes"]) in ({"k\x00", "v"}, {"k\ufffd", "v"})


def test_only_the_tail_of_a_cut_list_stays_with_the_span() -> None:
    """A list's end after its last cut is new in every call, so it is no chunk; a value with
    no cut at all (a message's text, sent again by every later call) is one, however short."""
    plain = "a message sent again and again " * 10
    split = long_values.split({"messages": _history(8), "content": plain})
    texts = {long_values.chunk_text(data) for data in split.chunks.values()}
    *cut, tail = long_values.cut(_history(8))
    assert texts == {*cut, plain}
    assert tail not in texts
    assert long_values.restore(split) == {"messages": _history(8), "content": plain}


def test_a_whole_response_stays_with_its_span() -> None:
    """A call's response is never sent again as it is (the next call re-serialises it inside
    its history), so it goes in the span's compressed document, not in chunks."""
    attributes = {
        "gen_ai.input.messages": _history(8),
        "gen_ai.output.messages": _history(3),
        "output.value": '{"content": "' + "answer " * 200 + '"}',
        "short": "kept plain",
    }
    split = long_values.split(attributes)
    texts = {long_values.chunk_text(data) for data in split.chunks.values()}
    *cut, _tail = long_values.cut(_history(8))
    assert texts == set(cut)
    assert split.short == {"short": "kept plain"}
    assert long_values.restore(split) == attributes
    assert list(long_values.restore(split)) == list(attributes)
