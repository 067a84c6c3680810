"""The single writer: group commit, and what each kind of database failure becomes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from sqlalchemy.exc import IntegrityError, OperationalError

from app import ingest, store
from app.writer import WriteFailed, Writer
from tests import otlp_builders as otlp

PROTOBUF = {"content-type": "application/x-protobuf"}


def _batch(name: str = "work"):
    body = otlp.request(otlp.span(name)).SerializeToString()
    return ingest.decode("traces", body, "protobuf", None, 1 << 20)


def _failing(error: BaseException):
    def write(*_args, **_kwargs):
        raise error

    return write


def test_a_batch_is_committed_before_its_future_resolves(engine) -> None:
    writer = Writer(engine, 1000)
    writer.start()
    try:
        writer.submit("traces", _batch("stored")).result(timeout=10)
        with engine.connect() as connection:
            names = connection.execute(sa.text("select name from spans")).scalars().all()
        assert names == ["stored"]
    finally:
        writer.close()


def test_a_locked_database_asks_for_a_retry(engine, monkeypatch) -> None:
    monkeypatch.setattr(store, "write", _failing(OperationalError("x", {}, Exception("locked"))))
    writer = Writer(engine, 1000)
    writer.start()
    try:
        with pytest.raises(WriteFailed) as caught:
            writer.submit("traces", _batch()).result(timeout=10)
        assert caught.value.retryable
        assert writer.pending == 0
    finally:
        writer.close()


def test_data_the_database_refuses_is_not_retried(engine, monkeypatch) -> None:
    monkeypatch.setattr(store, "write", _failing(IntegrityError("x", {}, Exception("bad row"))))
    writer = Writer(engine, 1000)
    writer.start()
    try:
        with pytest.raises(WriteFailed) as caught:
            writer.submit("traces", _batch()).result(timeout=10)
        assert not caught.value.retryable
        assert "bad row" in str(caught.value)
    finally:
        writer.close()


def test_the_writer_outlives_an_unexpected_failure(engine, monkeypatch) -> None:
    writer = Writer(engine, 1000)
    writer.start()
    try:
        monkeypatch.setattr(store, "write", _failing(KeyboardInterrupt()))
        with pytest.raises(WriteFailed):
            writer.submit("traces", _batch()).result(timeout=10)
        monkeypatch.undo()
        writer.submit("traces", _batch("after")).result(timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("x", {}, Exception("database is locked")), 503),
        (IntegrityError("x", {}, Exception("constraint failed")), 400),
    ],
)
def test_the_receiver_answers_by_kind_of_failure(
    client: TestClient, monkeypatch, error, status
) -> None:
    monkeypatch.setattr(store, "write", _failing(error))
    body = otlp.request(otlp.span()).SerializeToString()
    reply = client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert reply.status_code == status
    assert ("retry-after" in reply.headers) == (status == 503)
    message = status_pb2.Status.FromString(reply.content).message
    assert str(error.orig) in message
