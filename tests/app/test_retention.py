"""Retention: whole traces dropped past an age or a size, from every table, the disk given
back; and its passes on the writer's thread. On real databases built by the migrations."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app import ingest, long_values, queries, retention, store
from app.cli import main
from app.database import open_database
from app.main import create_app
from app.otlp import Batch
from app.schema import chunks
from app.settings import Settings
from app.writer import Writer
from tests import otlp_builders as otlp

LIMIT = 1 << 24
DAY_NS = retention.DAY_NS
NOW_NS = otlp.BASE_NS + 30 * DAY_NS
MIB = 1024 * 1024


def _filler(rnd: random.Random, words: int) -> str:
    """Words that compress and index like text, none shared with another trace's."""
    return " ".join("".join(rnd.choices("bcdfghjklmnpqrstvwz", k=7)) for _ in range(words))


def _trace(start_ns: int, word: str, rnd: random.Random, spans: int = 3) -> tuple[bytes, Batch]:
    """A trace of `spans` spans, each with searchable text that holds `word`; values stay
    under the length of long values, so that each span's weight is in its own rows."""
    trace = otlp.trace_id()
    root = otlp.span_id()
    made = [
        otlp.span(
            f"{word} step {number}",
            trace=trace,
            ident=root if number == 0 else None,
            parent=b"" if number == 0 else root,
            start_ns=start_ns + number * 1_000_000,
            attributes={f"note.{k}": f"{word} {_filler(rnd, 25)}" for k in range(4)},
        )
        for number in range(spans)
    ]
    body = otlp.request(*made).SerializeToString()
    return trace, ingest.decode("traces", body, "protobuf", None, LIMIT)


def _log_for(trace: bytes, batch: Batch) -> Batch:
    record = batch.records[0]
    body = otlp.logs_request(
        otlp.log_record("a log line", trace=trace, ident=record["span_id"])
    ).SerializeToString()
    return ingest.decode("logs", body, "protobuf", None, LIMIT)


def _store(engine: Engine, *traces: tuple[bytes, Batch], logs: bool = False) -> list[bytes]:
    with engine.begin() as connection:
        store.write(
            connection,
            [batch for _, batch in traces],
            [_log_for(trace, batch) for trace, batch in traces] if logs else [],
        )
    return [trace for trace, _ in traces]


def _rows_of(engine: Engine, trace_ids: list[bytes]) -> dict[str, int]:
    """How many rows of these traces each per-trace table holds."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.trace_id.in_(trace_ids))
            ).scalar_one()
            for table in retention.TRACE_TABLES
        }


def _found(engine: Engine, word: str) -> set[bytes]:
    with engine.connect() as connection:
        page, _ = queries.list_traces(connection, queries.TraceFilter(q=word), 1000)
    return {bytes.fromhex(trace["trace_id"]) for trace in page}


def _disk_bytes(engine: Engine) -> int:
    """The database file and its WAL on disk, the WAL emptied first as a stopped collector
    leaves it."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(engine.url.database)
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _measure(engine: Engine) -> int:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return retention.sqlite_used_bytes(connection)
        return retention.postgres_table_bytes(connection)


@pytest.fixture
def rnd() -> random.Random:
    return random.Random(7)


# --- what a trace is made of ---------------------------------------------------------------------


def test_every_table_with_a_trace_id_is_dropped_with_its_trace(engine: Engine) -> None:
    """A new per-trace table must join `TRACE_TABLES`, or retention would leave its rows."""
    inspector = sa.inspect(engine)
    keyed = {
        name
        for name in inspector.get_table_names()
        if "trace_id" in {column["name"] for column in inspector.get_columns(name)}
    }
    assert keyed == {table.name for table in retention.TRACE_TABLES}


# --- by age ---------------------------------------------------------------------------------------


def test_expired_traces_go_from_every_table_and_from_search(engine: Engine, rnd) -> None:
    old = _store(
        engine, *(_trace(otlp.BASE_NS + i * 10**9, "ancient", rnd) for i in range(40)), logs=True
    )
    new = _store(
        engine, *(_trace(NOW_NS - DAY_NS + i * 10**9, "recent", rnd) for i in range(40)), logs=True
    )
    before = _rows_of(engine, old)
    assert all(before.values()), before  # every table held rows of them: none is skipped
    assert _found(engine, "ancient") == set(old)
    disk_before = _disk_bytes(engine) if engine.dialect.name == "sqlite" else 0

    report = retention.Retention(engine, retention_days=7, clock=lambda: NOW_NS).run()

    assert report.traces_dropped == len(old)
    assert _rows_of(engine, old) == dict.fromkeys(before, 0)
    assert _found(engine, "ancient") == set()
    assert _found(engine, "recent") == set(new)
    assert all(_rows_of(engine, new).values())
    if engine.dialect.name == "sqlite":
        # The FTS5 index holds exactly what span_search holds: no word of a dropped span
        # is left in it (search alone would not tell, as it joins the index to the table).
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('integrity-check', 1)"
            )
        # Half the traces went: the file gives back well over a third of itself.
        assert _disk_bytes(engine) < disk_before * 0.65, (disk_before, _disk_bytes(engine))


@pytest.mark.sqlite_only  # the file on disk
def test_later_passes_give_the_disk_back_incrementally(engine: Engine, rnd) -> None:
    clock = [NOW_NS]
    policy = retention.Retention(engine, retention_days=7, clock=lambda: clock[0])
    _store(engine, *(_trace(NOW_NS - i * 10**9, "first", rnd) for i in range(30)))
    policy.run()  # the first pass switches the database to incremental auto-vacuum
    with sqlite3.connect(engine.url.database) as fresh:  # pooled ones may know the old header
        assert fresh.execute("PRAGMA auto_vacuum").fetchone() == (2,)
    second = _store(
        engine, *(_trace(NOW_NS + DAY_NS + i * 10**9, "second", rnd) for i in range(30))
    )
    disk_before = _disk_bytes(engine)

    clock[0] = NOW_NS + 8 * DAY_NS
    report = policy.run()

    assert report.traces_dropped == 30
    assert report.pages_given_back > 0
    assert _found(engine, "first") == set()
    assert _found(engine, "second") == set(second)
    assert _disk_bytes(engine) < disk_before * 0.7, (disk_before, _disk_bytes(engine))


def test_a_trace_still_receiving_spans_is_not_expired(engine: Engine, rnd) -> None:
    """Its age is its newest span's end: a long agent run is not cut in half."""
    trace, batch = _trace(otlp.BASE_NS, "longrun", rnd)
    _store(engine, (trace, batch))
    late = otlp.span("still going", trace=trace, start_ns=NOW_NS - 10**9)
    body = otlp.request(late).SerializeToString()
    _store(engine, (trace, ingest.decode("traces", body, "protobuf", None, LIMIT)))

    retention.Retention(engine, retention_days=7, clock=lambda: NOW_NS).run()

    assert _rows_of(engine, [trace])["spans"] == 4


# --- by size --------------------------------------------------------------------------------------


def test_past_the_size_limit_the_oldest_traces_go_until_under_it(engine: Engine, rnd) -> None:
    hour = 3600 * 10**9
    ids = _store(engine, *(_trace(NOW_NS - 100 * hour + i * hour, "sized", rnd) for i in range(80)))
    size = _measure(engine)
    disk_before = _disk_bytes(engine) if engine.dialect.name == "sqlite" else 0
    limit_mb = size / 2 / MIB

    report = retention.Retention(engine, max_db_mb=limit_mb, clock=lambda: NOW_NS).run()

    kept = _found(engine, "sized")
    # The newest are kept, the oldest gone, and whole traces only.
    assert 0 < len(kept) < len(ids)
    assert kept == set(ids[len(ids) - len(kept) :])
    assert report.traces_dropped == len(ids) - len(kept)
    assert _rows_of(engine, ids[: len(ids) - len(kept)]) == dict.fromkeys(
        (t.name for t in retention.TRACE_TABLES), 0
    )
    assert _rows_of(engine, ids[-len(kept) :])["spans"] == 3 * len(kept)
    if engine.dialect.name == "sqlite":
        assert _disk_bytes(engine) < limit_mb * MIB < disk_before
        # Hysteresis: down to about 90% of the limit, not only just under it.
        assert _measure(engine) <= limit_mb * MIB * 0.95
    else:
        # PostgreSQL keeps the space for new rows: about half the traces go, no more.
        assert len(ids) * 0.3 < len(kept) < len(ids) * 0.6


def test_under_the_size_limit_nothing_goes(engine: Engine, rnd) -> None:
    ids = _store(engine, *(_trace(otlp.BASE_NS + i * 10**9, "small", rnd) for i in range(10)))
    limit_mb = _measure(engine) * 2 / MIB
    report = retention.Retention(engine, max_db_mb=limit_mb, clock=lambda: NOW_NS).run()
    assert report.traces_dropped == 0
    assert _found(engine, "small") == set(ids)


def test_traces_still_receiving_spans_are_kept_even_over_the_size_limit(
    engine: Engine, rnd
) -> None:
    ids = _store(engine, *(_trace(NOW_NS - i * 10**9, "active", rnd) for i in range(10)))
    report = retention.Retention(engine, max_db_mb=0.001, clock=lambda: NOW_NS).run()
    assert report.traces_dropped == 0
    assert _found(engine, "active") == set(ids)


# --- on the writer's thread -----------------------------------------------------------------------


def _batch(name: str) -> Batch:
    body = otlp.request(otlp.span(name)).SerializeToString()
    return ingest.decode("traces", body, "protobuf", None, LIMIT)


def test_maintenance_runs_on_the_writer_thread_in_steps_between_groups(engine: Engine) -> None:
    ran: list[str] = []

    def step() -> bool:
        ran.append(threading.current_thread().name)
        return len(ran) % 3 != 0  # a pass of three steps

    writer = Writer(engine, 1000, maintenance=step, maintenance_interval_s=3600)
    writer.start()
    try:
        writer.maintain().result(timeout=10)
        writer.submit("traces", _batch("after")).result(timeout=10)
    finally:
        writer.close()
    # The pass at start, then the one asked for, each run to its end on the writer's thread
    # (the request may come in while the first pass runs; then that pass answers it).
    assert len(ran) in (3, 6)
    assert set(ran) == {"spyglass-writer"}


def test_writes_are_committed_between_the_steps_of_a_pass(engine: Engine) -> None:
    """A long pass does not hold the writer: a batch submitted during it is committed before
    the pass's next step."""
    seen: list[int] = []
    submitted: list = []
    writer: Writer

    def step() -> bool:
        with engine.connect() as connection:
            seen.append(connection.execute(sa.text("select count(*) from spans")).scalar_one())
        if len(seen) == 1:
            submitted.append(writer.submit("traces", _batch("during")))
        return len(seen) < 3

    writer = Writer(engine, 1000, maintenance=step, maintenance_interval_s=3600)
    writer.start()
    try:
        writer.maintain().result(timeout=10)
        submitted[0].result(timeout=10)
    finally:
        writer.close()
    assert seen[0] == 0
    assert seen[-1] == 1


def test_maintenance_comes_again_after_its_interval_and_survives_a_failure(
    engine: Engine,
) -> None:
    calls: list[int] = []
    third = threading.Event()

    def step() -> bool:
        calls.append(1)
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("first pass fails")
        return False

    writer = Writer(engine, 1000, maintenance=step, maintenance_interval_s=0.01)
    writer.start()
    try:
        assert third.wait(timeout=10)
        writer.submit("traces", _batch("still writing")).result(timeout=10)
    finally:
        writer.close()


def test_a_failed_pass_is_reported_to_whoever_asked_for_it(engine: Engine) -> None:
    def step() -> bool:
        raise RuntimeError("cannot")

    writer = Writer(engine, 1000, maintenance=step, maintenance_interval_s=3600)
    writer.start()
    try:
        with pytest.raises(RuntimeError, match="cannot"):
            writer.maintain().result(timeout=10)
    finally:
        writer.close()


# --- the collector --------------------------------------------------------------------------------


@pytest.fixture
def stocked(database_url: str, rnd) -> Iterator[tuple[Engine, list[bytes], list[bytes]]]:
    engine = open_database(database_url)
    now = time.time_ns()
    old = _store(
        engine, *(_trace(now - 400 * DAY_NS + i * 10**9, "yesteryear", rnd) for i in range(5))
    )
    new = _store(engine, *(_trace(now - i * 10**9, "thisweek", rnd) for i in range(5)))
    yield engine, old, new
    engine.dispose()


def test_the_collector_drops_expired_traces_before_it_answers(stocked, database_url) -> None:
    engine, old, new = stocked
    settings = Settings(database_url=database_url, retention_days=30)
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.get("/api/v1/traces", params={"q": "yesteryear"}).json()["traces"] == []
        found = client.get("/api/v1/traces", params={"q": "thisweek"}).json()["traces"]
        assert {bytes.fromhex(t["trace_id"]) for t in found} == set(new)
        assert client.app.state.retention.last_pass.traces_dropped == len(old)
        for trace in old:
            assert client.get(f"/api/v1/traces/{trace.hex()}").status_code == 404


def test_serve_refuses_a_limit_that_is_not_positive() -> None:
    for flag in ("--retention-days", "--max-db-mb"):
        result = CliRunner().invoke(main, ["serve", flag, "0"])
        assert result.exit_code != 0
        assert "bad setting" in result.output and "greater than 0" in result.output


def test_settings_read_the_limits_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SPYGLASS_RETENTION_DAYS", "7.5")
    monkeypatch.setenv("SPYGLASS_MAX_DB_MB", "512")
    settings = Settings()
    assert (settings.retention_days, settings.max_db_mb) == (7.5, 512)


# --- shared chunks of long values --------------------------------------------------------------


def _agent_trace(start_ns: int, word: str, rnd: random.Random, calls: int = 4) -> Batch:
    """An agent's calls, each re-sending the history: long values stored as shared chunks."""
    trace = otlp.trace_id()
    history: list[dict] = []
    made = []
    for number in range(calls):
        history.append({"role": "user", "parts": [{"type": "text", "content": _filler(rnd, 80)}]})
        made.append(
            otlp.span(
                f"{word} call {number}",
                trace=trace,
                start_ns=start_ns + number * 1_000_000,
                attributes={"gen_ai.input.messages": json.dumps(history)},
            )
        )
    body = otlp.request(*made).SerializeToString()
    return ingest.decode("traces", body, "protobuf", None, LIMIT)


def _chunks_of(batches: list[Batch]) -> set[bytes]:
    """The digests of the chunks of what was sent: each message once, however often re-sent."""
    return {digest for batch in batches for record in batch.records for digest in record["chunks"]}


def _chunk_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(chunks)).scalar_one()


def test_one_old_span_left_keeps_its_own_chunks_and_no_others(
    engine: Engine, rnd, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A trace that has lived for weeks keeps its first span; the chunks of the traces dropped
    # around it must go all the same (they were kept while any older span was left).
    monkeypatch.setattr(store, "PINNED_SPANS", 3)
    old = [_agent_trace(otlp.BASE_NS + i * 10**9, "ancient", rnd) for i in range(20)]
    lasting = _agent_trace(otlp.BASE_NS + 30 * 10**9, "lasting", rnd, calls=1)
    fresh_call = _agent_trace(NOW_NS - 60 * 10**9, "lasting", rnd, calls=1)
    for record in fresh_call.records:  # the same trace, a call made a minute ago
        record["trace_id"] = lasting.records[0]["trace_id"]
    new = [_agent_trace(NOW_NS - DAY_NS + i * 10**9, "recent", rnd) for i in range(20)]
    with engine.begin() as connection:
        store.write(connection, [*old, lasting, fresh_call, *new])

    retention.Retention(engine, retention_days=7, clock=lambda: NOW_NS).run()

    kept = _chunks_of([lasting, fresh_call, *new])
    assert _chunk_count(engine) == len(kept)
    with engine.connect() as connection:
        first = lasting.records[0]
        span = queries.get_span(connection, first["trace_id"], first["span_id"])
        assert long_values.MISSING_CHUNK not in span["attributes"]["gen_ai.input.messages"]


def test_chunks_only_dropped_traces_used_are_dropped_too(engine: Engine, rnd) -> None:
    old = [_agent_trace(otlp.BASE_NS + i * 10**9, "ancient", rnd) for i in range(20)]
    new = [_agent_trace(NOW_NS - DAY_NS + i * 10**9, "recent", rnd) for i in range(20)]
    with engine.begin() as connection:
        store.write(connection, old + new)
    assert _chunk_count(engine) == len(_chunks_of(old) | _chunks_of(new))

    retention.Retention(engine, retention_days=7, clock=lambda: NOW_NS).run()

    assert _chunk_count(engine) == len(_chunks_of(new))
    with engine.connect() as connection:
        for batch in new:
            last = batch.records[-1]
            span = queries.get_span(connection, last["trace_id"], last["span_id"])
            sent = json.loads(span["attributes"]["gen_ai.input.messages"])
            assert len(sent) == 4 and long_values.MISSING_CHUNK not in str(sent)
