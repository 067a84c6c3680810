"""`app.search_rows`: the search text of spans and, on SQLite, the FTS5 index beside it,
changed together, on either backend."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import queries, search_rows
from app.schema import span_search

TRACE = b"\x01" * 16
OTHER_TRACE = b"\x02" * 16


def _span(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _found(engine: Engine, trace: bytes, q: str) -> set[int]:
    with engine.connect() as connection:
        return {int(s, 16) for s in queries.matching_spans(connection, trace, q)}


def _check_index(engine: Engine) -> None:
    """On SQLite, FTS5's own check that its index holds exactly the table's texts."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('integrity-check', 1)"
            )
        )


def _replace(engine: Engine, texts: dict[tuple[bytes, int], str], emptied=()) -> None:
    rows = [{"trace_id": t, "span_id": _span(n), "body": body} for (t, n), body in texts.items()]
    with engine.begin() as connection:
        search_rows.replace(connection, rows, [(t, _span(n)) for t, n in emptied])


def test_new_changed_unchanged_and_emptied_texts(engine: Engine) -> None:
    _replace(engine, {(TRACE, 1): "alpha one", (TRACE, 2): "beta two", (TRACE, 3): "gamma"})
    assert _found(engine, TRACE, "alpha") == {1}
    with engine.connect() as connection:
        ids = dict(connection.execute(sa.select(span_search.c.span_id, span_search.c.id)).all())

    # 1 unchanged, 2 changed, 3 now without text, 4 new; all in one call.
    _replace(
        engine,
        {(TRACE, 1): "alpha one", (TRACE, 2): "delta two", (TRACE, 4): "epsilon"},
        emptied=[(TRACE, 3), (TRACE, 9)],
    )
    assert _found(engine, TRACE, "alpha") == {1}
    assert _found(engine, TRACE, "beta") == set()
    assert _found(engine, TRACE, "delta") == {2}
    assert _found(engine, TRACE, "two") == {2}
    assert _found(engine, TRACE, "gamma") == set()
    assert _found(engine, TRACE, "epsilon") == {4}
    with engine.connect() as connection:
        after = dict(connection.execute(sa.select(span_search.c.span_id, span_search.c.id)).all())
    # A span keeps its row (and index entry) when its text changes.
    assert after[_span(1)] == ids[_span(1)] and after[_span(2)] == ids[_span(2)]
    assert set(after) == {_span(1), _span(2), _span(4)}
    _check_index(engine)


def test_deleting_traces_takes_their_texts_out_of_the_index(engine: Engine) -> None:
    _replace(engine, {(TRACE, 1): "shared word", (OTHER_TRACE, 1): "shared word kept"})
    with engine.begin() as connection:
        search_rows.delete_traces(connection, [TRACE])
    assert _found(engine, TRACE, "shared") == set()
    assert _found(engine, OTHER_TRACE, "shared") == {1}
    _check_index(engine)
    # The freed ids may be given out again; the index must not mix old and new texts.
    _replace(engine, {(TRACE, 5): "fresh"})
    assert _found(engine, TRACE, "word") == set()
    assert _found(engine, TRACE, "fresh") == {5}
    _check_index(engine)


def _indexed(engine: Engine, word: str) -> set[int]:
    """The rowids FTS5 itself has for a word, whatever the table holds (SQLite)."""
    with engine.connect() as connection:
        return set(
            connection.exec_driver_sql(
                "SELECT rowid FROM span_search_fts WHERE span_search_fts MATCH ?", (word,)
            ).scalars()
        )


@pytest.mark.sqlite_only  # the compressed texts and the contentless index are SQLite's
def test_texts_are_stored_compressed_and_the_index_keeps_no_copy(engine: Engine) -> None:
    text = "The ferry to Cacilhas leaves every twenty minutes from Cais do Sodré. " * 20
    _replace(engine, {(TRACE, 1): text})
    with engine.connect() as connection:
        stored = connection.execute(sa.select(span_search.c.body)).scalar_one()
        indexed_text = connection.exec_driver_sql("SELECT body FROM span_search_fts").scalar()
    assert isinstance(stored, bytes) and len(stored) < len(text) / 4
    assert search_rows.stored_text(stored) == text
    assert indexed_text is None  # contentless: the words only
    assert _found(engine, TRACE, "Cacilhas") == {1}
    _check_index(engine)


@pytest.mark.sqlite_only
def test_a_text_stored_plain_before_compression_is_replaced_and_deleted_cleanly(
    engine: Engine,
) -> None:
    """Texts written before migration 0012 stay plain; changing or deleting one must take
    exactly its words out of the index."""
    with engine.begin() as connection:
        for ident, span, text in [(1, 1, "old plain text"), (2, 2, "another plain one")]:
            connection.exec_driver_sql(
                "INSERT INTO span_search (id, trace_id, span_id, body) VALUES (?, ?, ?, ?)",
                (ident, TRACE, _span(span), text),
            )
            connection.exec_driver_sql(
                "INSERT INTO span_search_fts(rowid, body) VALUES (?, ?)", (ident, text)
            )
    assert _indexed(engine, "plain") == {1, 2}

    _replace(engine, {(TRACE, 1): "new words"})
    assert _indexed(engine, "old") == set()
    assert _indexed(engine, "plain") == {2}
    assert _indexed(engine, "new") == {1}
    with engine.begin() as connection:
        search_rows.delete_traces(connection, [TRACE])
    assert _indexed(engine, "plain") == set() and _indexed(engine, "new") == set()
    _check_index(engine)
