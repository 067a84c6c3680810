"""Two collectors writing one trace to one PostgreSQL at the same moment.

Each write recomputes the summary of the traces it touched from the stored spans. Under READ
COMMITTED, two overlapping writes would each miss the other's uncommitted spans, and whichever
committed last would leave a summary short of spans. `store.serialize_writers` makes them take
turns; this test holds one write open and watches the other wait for it.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import ingest, store
from app.otlp import Batch
from app.schema import traces
from tests.otlp_builders import request, span, span_id, trace_id

pytestmark = pytest.mark.postgresql

LIMIT = 16 * 1024 * 1024
# How long the second writer is watched while the first holds its transaction open.
WAIT_S = 1.0


def decoded(*spans_: object) -> Batch:
    message = request(*spans_).SerializeToString()
    return ingest.decode("traces", message, "protobuf", None, LIMIT)


def test_a_second_writer_waits_for_the_first_and_counts_its_spans(engine: Engine) -> None:
    trace, root = trace_id(), span_id()
    first = decoded(span("root", trace=trace, ident=root), span("a", trace=trace, parent=root))
    second = decoded(*(span(f"b{n}", trace=trace, parent=root) for n in range(3)))

    # The resource and scope are stored already, as they are but for an app's first spans
    # (a first write of them would make the second writer wait on those rows instead).
    with engine.begin() as connection:
        store.write(connection, [decoded(span("earlier"))])

    done = threading.Event()
    errors: list[BaseException] = []

    def write_second() -> None:
        try:
            with engine.begin() as connection:
                store.write(connection, [second])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    with engine.begin() as connection:
        store.write(connection, [first])
        other = threading.Thread(target=write_second)
        other.start()
        # The first write's transaction is still open: the second must not get through.
        assert not done.wait(WAIT_S), "the second write did not wait for the first"
    other.join(timeout=30)
    assert done.is_set() and errors == []

    with engine.connect() as connection:
        summary = connection.execute(
            sa.select(traces.c.span_count, traces.c.name).where(traces.c.trace_id == trace)
        ).one()
    # The second write recomputed the summary after the first committed, so it counts both.
    assert summary.span_count == 5
    assert summary.name == "root"
