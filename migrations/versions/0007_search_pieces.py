"""Long pieces of search text indexed once per trace: which span of a trace indexes each.

An agent's calls re-send the whole conversation so far, so each call's text repeats the calls
before it, and indexing all of it again made the index, and ingest, grow with the square of a
conversation's length. From this revision a span's search text leaves out the long pieces
(messages, tool results) another span of its trace already indexes; `search_pieces` says
which span that is. Spans stored before keep their whole text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_pieces",
        sa.Column("trace_id", sa.LargeBinary(16), primary_key=True),
        sa.Column("piece_hash", sa.LargeBinary(16), primary_key=True),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("search_pieces")
