"""Migrations 0003, 0011 and 0012: the search table, SQLite's FTS5 index and its triggers, the
backfill, and the contentless index over compressed texts."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import search_rows
from app.database import alembic_config, create_engine, migrate
from app.schema import metadata

# The FTS5 index, its triggers and SQLite's JSON functions; PostgreSQL's search index is
# tested in test_postgres_search_migration.py.
pytestmark = pytest.mark.sqlite_only

FTS_TABLES = {
    "span_search_fts",
    "span_search_fts_config",
    "span_search_fts_data",
    "span_search_fts_docsize",
    "span_search_fts_idx",
}
TRIGGERS = {"span_search_ai", "span_search_ad", "span_search_au"}


def _objects(engine: sa.Engine, kind: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT name FROM sqlite_master WHERE type = :kind"), {"kind": kind}
        )
        return {name for (name,) in rows}


def _store_span(engine: sa.Engine, name: str, attributes: dict[str, Any]) -> bytes:
    """A span as revision 0002 stores it, written in SQL as the app of then would have."""
    ident = len(name).to_bytes(8, "big") if name else b"\xff" * 8
    row = {
        "trace_id": b"\x0a" * 16,
        "span_id": ident,
        "trace_state": "",
        "flags": 0,
        "name": name,
        "kind": 1,
        "start_ns": 1,
        "end_ns": 2,
        "duration_ns": 1,
        "status_code": 0,
        "status_message": "",
        "scope_name": "",
        "resource_hash": b"r" * 16,
        "scope_hash": b"s" * 16,
        "attributes": orjson.dumps(attributes).decode(),
        "dropped_attributes_count": 0,
        "events": "[]",
        "dropped_events_count": 0,
        "links": "[]",
        "dropped_links_count": 0,
    }
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    with engine.begin() as connection:
        connection.execute(sa.text(f"INSERT INTO spans ({columns}) VALUES ({values})"), row)  # noqa: S608
    return ident


def _search(engine: sa.Engine, match: str) -> set[bytes]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT span_id FROM span_search WHERE id IN"
                " (SELECT rowid FROM span_search_fts WHERE span_search_fts MATCH :match)"
            ),
            {"match": match},
        )
        return {span_id for (span_id,) in rows}


def test_0003_creates_the_index_and_its_triggers_and_takes_them_away(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0002")
    migrate(engine, "0003")
    assert {"span_search", *FTS_TABLES} <= _objects(engine, "table")
    assert _objects(engine, "trigger") == TRIGGERS
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    assert not ({"span_search", *FTS_TABLES} & _objects(engine, "table"))
    assert _objects(engine, "trigger") == set()
    engine.dispose()


def test_0003_indexes_the_spans_already_stored(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0002")
    message = {"role": "user", "parts": [{"type": "text", "content": "Weather in Zürich?"}]}
    # Python's json writes the ü as \u00fc: the backfill must read the JSON, not its text.
    chat = _store_span(engine, "chat", {"gen_ai.input.messages": json.dumps([message])})
    plain = _store_span(engine, "plain work", {"http.status_code": 404, "nested": {"k": ["deep"]}})
    nameless = _store_span(engine, "", {"flag": True})
    migrate(engine, "0003")

    assert _search(engine, "zurich") == {chat}
    assert _search(engine, "chat") == {chat}
    assert _search(engine, "plain") == {plain}
    assert _search(engine, "404 deep") == {plain}
    assert _search(engine, "nested OR status") == set()  # keys are not text
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT span_id FROM span_search")).scalars().all()
    assert nameless not in stored  # no text, no row
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('integrity-check', 1)"
            )
        )
    engine.dispose()


def test_the_triggers_keep_the_index_in_step_with_its_table(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0003")
    upsert = sa.text(
        "INSERT INTO span_search (trace_id, span_id, body) VALUES (:t, :s, :body)"
        " ON CONFLICT (trace_id, span_id) DO UPDATE SET body = excluded.body"
    )
    with engine.begin() as connection:
        connection.execute(upsert, {"t": b"t" * 16, "s": b"s" * 8, "body": "before"})
        connection.execute(upsert, {"t": b"t" * 16, "s": b"s" * 8, "body": "after"})
    assert _search(engine, "before") == set()
    assert _search(engine, "after") == {b"s" * 8}
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM span_search"))
    assert _search(engine, "after") == set()
    engine.dispose()


def test_only_the_fts5_tables_are_missing_from_the_schema_the_code_uses(
    empty_database_url: str,
) -> None:
    """SQLAlchemy cannot declare a virtual table: everything else must match app.schema."""
    engine = create_engine(empty_database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert {(kind, table.name) for kind, table in differences} == {
        ("remove_table", name) for name in FTS_TABLES
    }


def _integrity_check(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO span_search_fts(span_search_fts, rank) VALUES ('integrity-check', 1)"
            )
        )


def test_0011_hands_the_index_from_the_triggers_to_the_writer_and_back(
    empty_database_url: str,
) -> None:
    """Revision 0011 drops the triggers (app.search_rows keeps the index in step); what they
    indexed stays searchable, and going down brings them back."""
    engine = create_engine(empty_database_url)
    migrate(engine, "0010")
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO span_search (trace_id, span_id, body) VALUES (:t, :s, :b)"),
            {"t": b"t" * 16, "s": b"s" * 8, "b": "indexed by a trigger"},
        )
    migrate(engine, "0011")
    assert _objects(engine, "trigger") == set()
    assert _search(engine, "trigger") == {b"s" * 8}
    _integrity_check(engine)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0010")
    assert _objects(engine, "trigger") == TRIGGERS
    _integrity_check(engine)
    engine.dispose()


def test_0012_makes_the_index_contentless_and_back(empty_database_url: str) -> None:
    """Revision 0012 indexes the stored texts again into a contentless index; the texts stored
    before stay plain and searchable beside the compressed ones written after. Going down
    decompresses every text and rebuilds the external-content index over them."""
    engine = create_engine(empty_database_url)
    migrate(engine, "0010")  # its triggers index what is inserted
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO span_search (trace_id, span_id, body) VALUES (:t, :s, :b)"),
            [
                {"t": b"t" * 16, "s": b"1" * 8, "b": "stored plain before"},
                {"t": b"t" * 16, "s": b"2" * 8, "b": "another plain text"},
            ],
        )
    migrate(engine, "0012")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT body FROM span_search_fts")).scalar() is None
    assert _search(engine, "plain") == {b"1" * 8, b"2" * 8}
    with engine.begin() as connection:
        search_rows.replace(
            connection,
            [
                {"trace_id": b"t" * 16, "span_id": b"1" * 8, "body": "changed after"},
                {"trace_id": b"t" * 16, "span_id": b"3" * 8, "body": "compressed after"},
            ],
        )
        kinds = connection.execute(sa.text("SELECT typeof(body) FROM span_search ORDER BY id"))
        assert kinds.scalars().all() == ["blob", "text", "blob"]  # 1 changed, 2 kept, 3 new
    assert _search(engine, "plain") == {b"2" * 8}
    assert _search(engine, "before") == set()
    assert _search(engine, "after") == {b"1" * 8, b"3" * 8}
    _integrity_check(engine)

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0011")
    with engine.connect() as connection:
        bodies = connection.execute(sa.text("SELECT typeof(body), body FROM span_search"))
        assert sorted(bodies.all()) == [
            ("text", "another plain text"),
            ("text", "changed after"),
            ("text", "compressed after"),
        ]
    assert _search(engine, "after") == {b"1" * 8, b"3" * 8}
    _integrity_check(engine)  # external content again: checked against the table's texts
    engine.dispose()
