"""Migrations: empty database to head, every step down and up again, and agreement with app.schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.database import alembic_config, create_engine, migrate
from app.schema import metadata

APP_TABLES = {"resources", "scopes", "spans", "traces", "span_logs"}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_empty_database_migrates_to_head(database_url: str) -> None:
    engine = create_engine(database_url)
    migrate(engine)
    assert _tables(engine) == APP_TABLES
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == _revisions()[-1]
    engine.dispose()


def test_every_step_goes_down_and_up_again(database_url: str) -> None:
    engine = create_engine(database_url)
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


def test_migrations_match_the_schema_the_code_uses(database_url: str) -> None:
    """app.schema and the migrations are written separately; they must not drift apart."""
    engine = create_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def test_migrating_twice_is_harmless(database_url: str) -> None:
    engine = create_engine(database_url)
    migrate(engine)
    migrate(engine)
    assert _tables(engine) == APP_TABLES
    engine.dispose()
