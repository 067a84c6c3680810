"""The writer's queue bound: it never holds more than its bound plus one batch, refuses the
rest at once, and stores exactly what it accepted."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app import ingest, store
from app.writer import Overloaded, Writer
from tests import otlp_builders as otlp

BOUND = 250
BATCH = 100
SUBMITTERS = 8
TRIES = 5


def _batch(spans: int):
    body = otlp.request(*[otlp.span(f"s{i}") for i in range(spans)]).SerializeToString()
    return ingest.decode("traces", body, "protobuf", None, 1 << 24)


def test_pending_never_exceeds_the_bound_plus_one_batch(engine, monkeypatch) -> None:
    """Submitters race against a writer held inside its first write; the count of records
    waiting is read under the writer's own lock after every submission."""
    inside, release = threading.Event(), threading.Event()
    write = store.write

    def held(*args, **kwargs) -> None:
        inside.set()
        assert release.wait(30)
        write(*args, **kwargs)

    monkeypatch.setattr(store, "write", held)
    writer = Writer(engine, BOUND)
    writer.start()
    accepted, refused, seen = [], [], []
    lock = threading.Lock()

    def submit() -> None:
        for _ in range(TRIES):
            batch = _batch(BATCH)
            try:
                future = writer.submit("traces", batch)
            except Overloaded:
                with lock:
                    refused.append(batch)
            else:
                with lock:
                    accepted.append((batch, future))
            with writer._lock:  # the value submit itself compares
                seen.append(writer.pending)

    try:
        first_batch = _batch(BATCH)
        first = writer.submit("traces", first_batch)
        assert inside.wait(10)
        submitters = [threading.Thread(target=submit) for _ in range(SUBMITTERS)]
        for thread in submitters:
            thread.start()
        for thread in submitters:
            thread.join(30)
        release.set()
        first.result(timeout=30)
        for _, future in accepted:
            future.result(timeout=30)
    finally:
        release.set()
        writer.close()

    assert max(seen) <= BOUND + BATCH
    # The first batch is being written and counts: only one more fits under the bound.
    assert len(accepted) == 1
    assert len(refused) == SUBMITTERS * TRIES - 1
    assert writer.pending == 0
    with engine.connect() as connection:
        stored = set(connection.execute(sa.text("SELECT span_id FROM spans")).scalars())
    written = [first_batch, *(batch for batch, _ in accepted)]
    # Exactly what was accepted: nothing refused slipped in, nothing accepted was dropped.
    assert {bytes(span) for span in stored} == {r["span_id"] for b in written for r in b.records}


def test_an_empty_queue_takes_a_batch_larger_than_the_bound(engine) -> None:
    writer = Writer(engine, 10)
    writer.start()
    try:
        writer.submit("traces", _batch(50)).result(timeout=30)
    finally:
        writer.close()
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM spans")).scalar_one() == 50


def test_a_full_queue_refuses_at_once(engine, monkeypatch) -> None:
    release = threading.Event()
    write = store.write
    monkeypatch.setattr(store, "write", lambda *a, **k: (release.wait(30), write(*a, **k)))
    writer = Writer(engine, BATCH)
    writer.start()
    try:
        future = writer.submit("traces", _batch(BATCH))
        with pytest.raises(Overloaded):
            writer.submit("traces", _batch(1))
        release.set()
        future.result(timeout=30)
        # Written and counted off: the queue takes batches again.
        writer.submit("traces", _batch(1)).result(timeout=30)
    finally:
        release.set()
        writer.close()
