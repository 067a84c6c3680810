"""PostgreSQL's own search index (migration 0005) and what PostgreSQL cannot store.

The search semantics themselves (words, prefixes, phrases, accents, punctuation) are tested
once for both databases in test_search.py, test_queries.py and routes/test_api.py; these
tests cover what only PostgreSQL has: the GIN index, the tsvector size limit, NUL.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import queries
from app.schema import span_search, spans  # noqa: F401
from tests.app.test_search import found, write
from tests.otlp_builders import request, span

pytestmark = pytest.mark.postgresql


def test_search_reads_the_gin_index(engine: Engine) -> None:
    write(engine, request(span("forecast", attributes={"note": "sunny in Lisbon"})))
    with engine.connect() as connection:
        # Tiny tables are cheaper to scan: forbid that, to see that the index can serve it.
        connection.exec_driver_sql("SET enable_seqscan = off")
        statement = queries._matching_traces("postgresql", "lisb sunny")
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}").all())
    assert "ix_span_search_vector" in plan, plan


def test_a_text_past_the_tsvector_limit_is_stored_and_its_start_found(engine: Engine) -> None:
    # Distinct words, so that their tsvector is larger than the 1 MB PostgreSQL allows; the
    # search text keeps 10,000 characters of a value, so they are spread over many values.
    words = [f"w{n:06d}x" for n in range(120_000)]
    values = {f"text{i}": " ".join(words[i * 1000 : i * 1000 + 1000]) for i in range(120)}
    write(engine, request(span("huge", attributes={"first": "needle", **values})))
    with engine.connect() as connection:
        size = connection.execute(sa.select(sa.func.length(span_search.c.body))).scalar_one()
    assert size > 1_000_000 - 100
    assert found(engine, "needle") == ["huge"]
    assert found(engine, "w000001x") == ["huge"]


def test_nul_is_stored_as_the_replacement_character(engine: Engine) -> None:
    write(engine, request(span("a\x00b", attributes={"k\x00": "v\x00w", "n": ["\x00"]})))
    with engine.connect() as connection:
        row = connection.execute(sa.select(spans.c.name, spans.c.attributes)).one()
    assert row.name == "a\ufffdb"
    assert row.attributes == {"k\ufffd": "v\ufffdw", "n": ["\ufffd"]}
    # What is looked for is changed the same way, so the span is found as it was sent.
    with engine.connect() as connection:
        page, _ = queries.list_spans(connection, queries.SpanFilter(name="a\x00b"), 10)
    assert [s["name"] for s in page] == ["a\ufffdb"]
