"""Where `spyglass db copy` got to: one row per source, in the destination database.

The copy commits each chunk of traces together with this row, so an interrupted copy goes on
after the last chunk that was committed, and a finished one is not done again by mistake.
`source` is what identifies the source database (its URL without user or password);
`phase` the part of the copy under way ("done" at the end); `last_key` the last key copied in
that phase's order (a trace id, a log id, a content hash), NULL before the phase's first
chunk; `copied_spans` how many spans were copied so far, where the progress bar resumes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "copy_progress",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("phase", sa.Text, nullable=False),
        sa.Column("last_key", sa.LargeBinary, nullable=True),
        sa.Column("copied_spans", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("copy_progress")
