"""Migrations: empty database to head, every step down and up again, and agreement with app.schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.database import alembic_config, create_engine, migrate
from app.schema import JSON, metadata

APP_TABLES = {
    "resources",
    "scopes",
    "spans",
    "traces",
    "span_logs",
    "span_search",
    "search_pieces",
    "copy_progress",
    "chunks",
}
# SQLite's FTS5 index over span_search and its shadow tables: app.schema cannot declare them.
FTS_TABLES = {
    "span_search_fts",
    "span_search_fts_config",
    "span_search_fts_data",
    "span_search_fts_docsize",
    "span_search_fts_idx",
}


# The JSON columns, bound as JSON (JSONB on PostgreSQL, which takes no text for it).
JSON_PARAMETERS = [sa.bindparam(name, type_=JSON) for name in ("attributes", "events", "links")]


# PostgreSQL's search index (0005): app.schema declares neither, since SQLite has no such type.
POSTGRES_SEARCH = {("column", "search_vector"), ("index", "ix_span_search_vector")}


def _declared_in_schema(name: str | None, kind: str, _parents: object) -> bool:
    """What app.schema declares: all but the search indexes of one database or the other."""
    if kind == "table" and name in FTS_TABLES:
        return False
    return (kind, name) not in POSTGRES_SEARCH


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"} - FTS_TABLES


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_empty_database_migrates_to_head(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine)
    assert _tables(engine) == APP_TABLES
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _revisions()[-1]
    engine.dispose()


def test_every_step_goes_down_and_up_again(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    revisions = _revisions()
    for index, revision in enumerate(revisions):
        migrate(engine, revision)
        before = _tables(engine)
        previous = revisions[index - 1] if index else "base"
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), previous)
        if previous == "base":
            assert _tables(engine) == set()
        migrate(engine, revision)
        assert _tables(engine) == before
    assert _tables(engine) == APP_TABLES
    engine.dispose()


def test_migrations_match_the_schema_the_code_uses(empty_database_url: str) -> None:
    """app.schema and the migrations are written separately; they must not drift apart."""
    engine = create_engine(empty_database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": _declared_in_schema},
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_migrating_twice_is_harmless(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine)
    migrate(engine)
    assert _tables(engine) == APP_TABLES
    engine.dispose()


def test_0002_marks_the_stored_llm_spans_as_calls(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0001")
    row = {
        "span_id": b"\x01" * 8,
        "parent_span_id": None,
        "trace_state": "",
        "flags": 0,
        "name": "x",
        "kind": 1,
        "start_ns": 1,
        "end_ns": 2,
        "duration_ns": 1,
        "status_code": 0,
        "status_message": "",
        "service_name": "s",
        "scope_name": "",
        "resource_hash": b"r" * 16,
        "scope_hash": b"s" * 16,
        "attributes": {},
        "dropped_attributes_count": 0,
        "events": [],
        "dropped_events_count": 0,
        "links": [],
        "dropped_links_count": 0,
    }
    columns = ", ".join([*row, "trace_id", "llm_convention"])
    values = ", ".join(f":{name}" for name in [*row, "trace_id", "llm_convention"])
    insert = sa.text(f"INSERT INTO spans ({columns}) VALUES ({values})").bindparams(  # noqa: S608
        *JSON_PARAMETERS
    )
    with engine.begin() as connection:
        connection.execute(
            insert, {**row, "trace_id": b"\x0a" * 16, "llm_convention": "otel-genai"}
        )
        connection.execute(insert, {**row, "trace_id": b"\x0b" * 16, "llm_convention": None})
    migrate(engine, "0002")
    with engine.connect() as connection:
        found = connection.execute(
            sa.text("SELECT llm_convention, llm_is_call FROM spans ORDER BY trace_id")
        ).all()
    engine.dispose()
    # As the app writes them: true for a call, NULL for a span that is no LLM call.
    assert [(c, None if v is None else bool(v)) for c, v in found] == [
        ("otel-genai", True),
        (None, None),
    ]


def test_0004_adds_empty_call_links_and_a_partial_index(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0003")
    row = {
        "trace_id": b"\x0a" * 16,
        "span_id": b"\x01" * 8,
        "trace_state": "",
        "flags": 0,
        "name": "x",
        "kind": 1,
        "start_ns": 1,
        "end_ns": 2,
        "duration_ns": 1,
        "status_code": 0,
        "status_message": "",
        "scope_name": "",
        "resource_hash": b"r" * 16,
        "scope_hash": b"s" * 16,
        "attributes": {"gen_ai.response.id": "msg_1"},
        "dropped_attributes_count": 0,
        "events": [],
        "dropped_events_count": 0,
        "links": [],
        "dropped_links_count": 0,
        "llm_convention": "otel-genai",
        "llm_is_call": True,
    }
    columns, values = ", ".join(row), ", ".join(f":{name}" for name in row)
    with engine.begin() as connection:
        insert = sa.text(f"INSERT INTO spans ({columns}) VALUES ({values})")  # noqa: S608
        connection.execute(insert.bindparams(*JSON_PARAMETERS), row)
    migrate(engine, "0004")
    with engine.connect() as connection:
        found = connection.execute(sa.text("SELECT llm_call_key, llm_call_rank FROM spans")).all()
        index = connection.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE name = 'ix_spans_call_key'")
            if connection.dialect.name == "sqlite"
            else sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_spans_call_key'")
        ).scalar_one()
    engine.dispose()
    # A migration cannot read the keys (only the app can): stored spans are linked when
    # exported again.
    assert found == [(None, None)]
    # Most spans record no LLM call: the index holds only those with a key.
    assert "WHERE llm_call_key IS NOT NULL" in index.replace("(", "").replace(")", "")
