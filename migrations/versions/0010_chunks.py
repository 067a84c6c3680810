"""Long attribute values in shared chunks: the `chunks` table (see app.long_values).

An agent's calls re-send the conversation so far; the text of each distinct chunk of it is
now stored once, and spans keep its digest. Spans stored before keep their long values inline
in `spans.long_attributes`, which readers still understand, so nothing is rewritten here.

Going down would leave chunked spans without their text, so the downgrade refuses while any
chunk is stored.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"  # 0009 if retention adds one
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunks",
        sa.Column("digest", sa.LargeBinary(16), primary_key=True),
        sa.Column("newest_minute", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        # Looked up by digest only: the key is the table, with no rowid b-tree beside it.
        sqlite_with_rowid=False,
    )
    op.create_index("ix_chunks_newest_minute", "chunks", ["newest_minute"])


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT count(*) FROM chunks")).scalar()
    if stored:
        raise RuntimeError(
            f"the database holds {stored} chunks of span attributes that revision 0009 cannot"
            " read; copy the data out (spyglass db copy) before going below revision 0010"
        )
    op.drop_index("ix_chunks_newest_minute", table_name="chunks")
    op.drop_table("chunks")
