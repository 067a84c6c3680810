"""The single writer: group commit, and what each kind of database failure becomes."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from google.rpc import status_pb2
from sqlalchemy.exc import IntegrityError, OperationalError

from app import ingest, queries, store
from app import writer as writer_module
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


class _PostgresError(Exception):
    """What psycopg raises: an error with its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "retryable"),
    [("54000", False), ("22021", False), ("53100", True), ("08006", True)],
)
def test_an_operational_error_is_retried_only_when_it_may_pass(
    engine, monkeypatch, sqlstate: str, retryable: bool
) -> None:
    """A value past one of PostgreSQL's limits fails for ever: no 503 for exporters to retry."""
    error = OperationalError("x", {}, _PostgresError(sqlstate))
    monkeypatch.setattr(store, "write", _failing(error))
    writer = Writer(engine, 1000)
    writer.start()
    try:
        with pytest.raises(WriteFailed) as caught:
            writer.submit("traces", _batch()).result(timeout=10)
        assert caught.value.retryable is retryable
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


@pytest.mark.sqlite_only  # the WAL and its checkpoints are SQLite's
def test_the_checkpointer_copies_commits_into_the_database_file(engine, tmp_path) -> None:
    """The writer's commits leave the WAL to the checkpointer thread, which must then copy
    them into the database file itself: a copy of that file alone holds the spans."""
    writer = Writer(engine, 1000)
    writer.start()
    try:
        for number in range(5):
            writer.submit("traces", _batch(f"span {number}")).result(timeout=10)
        main_file, alone = Path(engine.url.database), tmp_path / "alone.db"
        names: list[str] = []
        deadline = time.monotonic() + 10
        while len(names) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            # Only the main file, without its WAL: what the checkpoints put there.
            shutil.copyfile(main_file, alone)
            with contextlib.closing(sqlite3.connect(alone)) as copy:
                try:
                    names = [row[0] for row in copy.execute("select name from spans order by name")]
                except sqlite3.OperationalError:  # no checkpoint yet: the schema is in the WAL
                    names = []
        assert names == [f"span {number}" for number in range(5)]
    finally:
        writer.close()


@pytest.mark.sqlite_only
def test_checkpoints_are_paced_however_often_the_writer_commits(engine, monkeypatch) -> None:
    """Many commits in a row share one checkpoint per interval, and the last of them is still
    copied back once the interval has passed."""
    monkeypatch.setattr(writer_module, "CHECKPOINT_INTERVAL_S", 0.4)
    checkpoints: list[float] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        if "wal_checkpoint(PASSIVE)" in statement:
            checkpoints.append(time.monotonic())

    sa.event.listen(engine, "before_cursor_execute", count)
    writer = Writer(engine, 1000)
    writer.start()
    try:
        started = time.monotonic()
        for number in range(30):
            writer.submit("traces", _batch(f"span {number}")).result(timeout=10)
        committed = time.monotonic()
        deadline = committed + 5
        while not [t for t in checkpoints if t >= committed] and time.monotonic() < deadline:
            time.sleep(0.05)
        paced = list(checkpoints)  # closing checkpoints at once, wherever the interval is
    finally:
        writer.close()
        sa.event.remove(engine, "before_cursor_execute", count)
    checkpoints = paced
    # One checkpoint at most per started interval while committing, and one after.
    assert checkpoints and checkpoints[-1] >= committed
    assert len(checkpoints) <= (committed - started) / 0.4 + 2
    gaps = [later - earlier for earlier, later in zip(checkpoints, checkpoints[1:], strict=False)]
    assert all(gap >= 0.35 for gap in gaps), gaps


@pytest.mark.sqlite_only
def test_the_writers_commits_do_not_checkpoint_themselves(engine, monkeypatch) -> None:
    """Checkpoints are off the writer's path: its connection has automatic ones turned off."""
    seen: list[int] = []
    original = store.write

    def recording(connection, *args, **kwargs):
        seen.append(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())
        return original(connection, *args, **kwargs)

    monkeypatch.setattr(store, "write", recording)
    writer = Writer(engine, 1000)
    writer.start()
    try:
        writer.submit("traces", _batch()).result(timeout=10)
    finally:
        writer.close()
    assert seen == [0]


@pytest.mark.sqlite_only
def test_closing_the_writer_leaves_the_wal_empty(engine) -> None:
    writer = Writer(engine, 1000)
    writer.start()
    for number in range(3):
        writer.submit("traces", _batch(f"span {number}")).result(timeout=10)
    wal = Path(f"{engine.url.database}-wal")
    assert wal.stat().st_size > 0
    writer.close()
    assert wal.stat().st_size == 0


CHUNKED_TRACE = b"\x0c" * 16


def _long_span(text: str, n: int):
    """A span with one long attribute value, stored as chunks (app.long_values)."""
    body = otlp.request(
        otlp.span(
            "chunked", trace=CHUNKED_TRACE, ident=n.to_bytes(8, "big"), attributes={"long": text}
        )
    ).SerializeToString()
    return ingest.decode("traces", body, "protobuf", None, 1 << 20)


def _stored_text(engine, n: int) -> str:
    with engine.connect() as connection:
        view = queries.get_span(connection, CHUNKED_TRACE, n.to_bytes(8, "big"))
        return view["attributes"]["long"]


def test_the_writer_never_skips_a_chunk_it_did_not_commit(engine, monkeypatch) -> None:
    """The writer remembers the chunks it committed so as not to write them again
    (app.stored_chunks): not those of a transaction that failed, nor after maintenance,
    which may have deleted chunks."""
    first, second = "first conversation " * 40, "second conversation " * 40
    deleted = []

    def retention_like() -> bool:
        with engine.begin() as connection:
            deleted.append(connection.execute(sa.text("delete from chunks")).rowcount)
        return False

    writer = Writer(engine, 1000, maintenance=retention_like, maintenance_interval_s=3600)
    writer.start()
    try:
        writer.submit("traces", _long_span(first, 1)).result(timeout=10)
        assert deleted == [0]  # maintenance ran once at start, before any chunk
        # A transaction that writes the second text's chunks, then fails and rolls back.
        real = store.recompute_traces
        monkeypatch.setattr(store, "recompute_traces", _failing(OperationalError("x", {}, None)))
        with pytest.raises(WriteFailed):
            writer.submit("traces", _long_span(second, 2)).result(timeout=10)
        monkeypatch.setattr(store, "recompute_traces", real)
        writer.submit("traces", _long_span(second, 2)).result(timeout=10)
        assert _stored_text(engine, 2) == second

        writer.maintain().result(timeout=10)
        assert deleted[-1] > 0
        writer.submit("traces", _long_span(first, 3)).result(timeout=10)
        assert _stored_text(engine, 3) == first
    finally:
        writer.close()
