"""SQLite: `chunks` becomes a rowid table, its digest key an index beside it.

0010 made `chunks` a WITHOUT ROWID table: the digest key was the table. But such a table is
an index b-tree, which keeps little of a row on its page (a row past about a quarter of a 4 KiB
page goes to overflow pages), and the digests are random, so every new chunk was written into
the middle of the tree, splitting pages full of large rows. In a rowid table the rows go at
the end, one after another in full pages, and only the small digest key lands at random in its
index: inserting 200,000 chunks of 300-1,100 bytes took 21 instead of 71 microseconds each and
853 instead of 1,489 bytes each on disk (bench/README.md). Lookups by digest read the index,
then the row.

PostgreSQL tables are heaps with their indexes beside them already: nothing changes there.

The upgrade copies the chunks into the new table, oldest first (8.7 s for 500,000 chunks,
390 MB, on a 2-core VM); the downgrade copies them back. The old table's pages stay in the
file, free, and new rows reuse them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _rebuild(without_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "chunks_rebuilt",
        sa.Column("digest", sa.LargeBinary(16), primary_key=True),
        sa.Column("newest_minute", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=not without_rowid,
    )
    op.execute(
        "INSERT INTO chunks_rebuilt (digest, newest_minute, data)"
        " SELECT digest, newest_minute, data FROM chunks ORDER BY newest_minute"
    )
    op.drop_index("ix_chunks_newest_minute", table_name="chunks")
    op.drop_table("chunks")
    op.rename_table("chunks_rebuilt", "chunks")
    op.create_index("ix_chunks_newest_minute", "chunks", ["newest_minute"])


def upgrade() -> None:
    _rebuild(without_rowid=False)


def downgrade() -> None:
    _rebuild(without_rowid=True)
