"""The rows of `span_search`, and on SQLite the FTS5 index over them, changed together.

On SQLite `span_search_fts` is a contentless FTS5 index (migration 0012): it holds the words
of each text and no copy of it. `span_search.body` keeps each text zstd-compressed, which
takes it to about 57% of its size; search only reads the index, so nothing decompresses a
text but a change of it. A text stored before 0012 stays plain, and `stored_text` reads both.

Every change of the table goes through `replace` or `delete_traces`, which make the same
change in the index, each as one statement over all the rows, so that FTS5 gathers a whole
batch into one segment (migration 0011 says why not triggers). An index row is removed by
giving FTS5 the text it indexed, so that text is read, and decompressed, before it changes.

On PostgreSQL the index is a generated column of the table, whose text stays plain, so the
table is all there is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app.long_values import chunk_text, compress_text
from app.queries import CHUNK
from app.schema import span_search

_INDEX = "INSERT INTO span_search_fts(rowid, body) VALUES (?, ?)"
_UNINDEX = "INSERT INTO span_search_fts(span_search_fts, rowid, body) VALUES ('delete', ?, ?)"
_TRACE_TEXTS = sa.text("SELECT id, body FROM span_search WHERE trace_id IN :ids").bindparams(
    sa.bindparam("ids", expanding=True)
)


def stored_text(body: str | bytes) -> str:
    """The text of a stored `span_search.body`: compressed on SQLite since migration 0012,
    plain before it and on PostgreSQL."""
    return body if isinstance(body, str) else chunk_text(body)


def replace(
    connection: sa.Connection,
    rows: Sequence[dict[str, Any]],
    emptied: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Store the search text of spans (`rows` of trace_id, span_id and body), replacing any
    stored for them, and remove the text of the spans in `emptied` (trace id, span id), which
    now have none. An unchanged text is not written again, so a retried export does not
    churn the index."""
    if connection.dialect.name == "sqlite":
        _replace_indexed(connection, rows, emptied)
    else:
        _replace_plain(connection, rows, emptied)


def delete_traces(connection: sa.Connection, trace_ids: Sequence[bytes]) -> None:
    """Delete the search text of every span of these traces."""
    ids = list(trace_ids)
    if connection.dialect.name == "sqlite" and ids:
        indexed = connection.execute(_TRACE_TEXTS, {"ids": ids}).all()
        if indexed:
            unindex = [(ident, stored_text(body)) for ident, body in indexed]
            connection.exec_driver_sql(_UNINDEX, unindex)
    connection.execute(span_search.delete().where(span_search.c.trace_id.in_(ids)))


def _replace_indexed(
    connection: sa.Connection,
    rows: Sequence[dict[str, Any]],
    emptied: Sequence[tuple[bytes, bytes]],
) -> None:
    stored = _stored(connection, [(r["trace_id"], r["span_id"]) for r in rows] + list(emptied))
    new: list[tuple[int, bytes, bytes, str]] = []  # id, trace, span, text
    changed: list[tuple[int, str, str]] = []  # id, old text, new text
    gone: list[tuple[int, str]] = []  # id, old text
    next_id = connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM span_search").scalar()
    for row in rows:
        found = stored.get((row["trace_id"], row["span_id"]))
        if found is None:
            next_id += 1
            new.append((next_id, row["trace_id"], row["span_id"], row["body"]))
        elif found[1] != row["body"]:
            changed.append((found[0], found[1], row["body"]))
    for key in emptied:
        found = stored.get(key)
        if found is not None:
            gone.append(found)
    execute = connection.exec_driver_sql
    if gone or changed:
        execute(_UNINDEX, [*gone, *((ident, old) for ident, old, _ in changed)])
    if gone:
        execute("DELETE FROM span_search WHERE id = ?", [(ident,) for ident, _ in gone])
    if changed:
        execute(
            "UPDATE span_search SET body = ? WHERE id = ?",
            [(compress_text(body), ident) for ident, _, body in changed],
        )
    if new:
        execute(
            "INSERT INTO span_search (id, trace_id, span_id, body) VALUES (?, ?, ?, ?)",
            [(ident, trace, span, compress_text(body)) for ident, trace, span, body in new],
        )
    if new or changed:
        execute(_INDEX, [(i, body) for i, *_, body in new] + [(i, b) for i, _, b in changed])


def _stored(
    connection: sa.Connection, keys: Sequence[tuple[bytes, bytes]]
) -> dict[tuple[bytes, bytes], tuple[int, str]]:
    """The id and text (decompressed) stored for each of these spans that has any (SQLite).

    A join against the keys as a VALUES list, which SQLite answers with one probe of the
    (trace_id, span_id) index per key; for `(trace_id, span_id) IN (...)` it scans the index.
    """
    found: dict[tuple[bytes, bytes], tuple[int, str]] = {}
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        values = ", ".join(["(?, ?)"] * len(part))
        rows = connection.exec_driver_sql(
            "SELECT s.trace_id, s.span_id, s.id, s.body"  # noqa: S608 - placeholders only
            f" FROM (VALUES {values}) AS k"
            " JOIN span_search AS s ON s.trace_id = k.column1 AND s.span_id = k.column2",
            tuple(value for key in part for value in key),
        )
        found.update({(t, sp): (ident, stored_text(body)) for t, sp, ident, body in rows})
    return found


def _replace_plain(
    connection: sa.Connection,
    rows: Sequence[dict[str, Any]],
    emptied: Sequence[tuple[bytes, bytes]],
) -> None:
    if rows:
        statement = postgresql.insert(span_search)
        statement = statement.on_conflict_do_update(
            index_elements=["trace_id", "span_id"],
            set_={"body": statement.excluded.body},
            where=span_search.c.body.is_distinct_from(statement.excluded.body),
        )
        connection.execute(statement, list(rows))
    key = sa.tuple_(span_search.c.trace_id, span_search.c.span_id)
    for start in range(0, len(emptied), CHUNK):
        connection.execute(span_search.delete().where(key.in_(emptied[start : start + CHUNK])))
