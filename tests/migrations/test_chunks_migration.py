"""Migration 0013: SQLite's `chunks` table rebuilt as a rowid table, its rows kept, and back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from app import store
from app.database import alembic_config, create_engine, migrate
from app.long_values import chunk_text, compress_text

pytestmark = pytest.mark.sqlite_only  # PostgreSQL's table does not change

STORED = [
    {"digest": bytes([n]) * 16, "newest_minute": 100 - n, "data": compress_text(f"chunk {n}")}
    for n in range(5)
]


def _table_sql(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'chunks'")
        ).scalar_one()


def _stored(engine: sa.Engine) -> list[tuple[bytes, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT digest, newest_minute, data FROM chunks"))
        return sorted((digest, minute, chunk_text(data)) for digest, minute, data in rows)


def _upsert_and_lookup(engine: sa.Engine) -> None:
    """What the writer and the readers do with the table, whichever kind it is: a new chunk
    goes in, a known one has its minute moved forward, a digest finds its chunk."""
    with engine.begin() as connection:
        store.upsert_chunks(
            connection,
            [
                {"digest": b"\x00" * 16, "newest_minute": 500, "data": STORED[0]["data"]},
                {"digest": b"n" * 16, "newest_minute": 7, "data": compress_text("new")},
            ],
        )
        minutes = connection.execute(
            sa.text("SELECT newest_minute FROM chunks WHERE digest IN (:a, :b) ORDER BY 1"),
            {"a": b"\x00" * 16, "b": b"n" * 16},
        )
        assert minutes.scalars().all() == [7, 500]


def test_0013_makes_chunks_a_rowid_table_keeping_its_rows_and_back(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    migrate(engine, "0012")
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO chunks VALUES (:digest, :newest_minute, :data)"), STORED
        )
    before = _stored(engine)
    assert "WITHOUT ROWID" in _table_sql(engine)

    migrate(engine, "0013")
    assert "WITHOUT ROWID" not in _table_sql(engine)
    assert _stored(engine) == before
    with engine.connect() as connection:
        # Copied oldest first, so the rows' order on disk is the order of their minutes.
        by_rowid = connection.execute(sa.text("SELECT newest_minute FROM chunks ORDER BY rowid"))
        assert by_rowid.scalars().all() == sorted(row["newest_minute"] for row in STORED)
        indexes = connection.execute(sa.text("PRAGMA index_list(chunks)")).all()
        assert {row[1] for row in indexes} >= {"ix_chunks_newest_minute"}
        assert any(row[2] for row in indexes), "the digest must stay unique"
    _upsert_and_lookup(engine)
    after = _stored(engine)

    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0012")
    assert "WITHOUT ROWID" in _table_sql(engine)
    assert _stored(engine) == after
    with engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
