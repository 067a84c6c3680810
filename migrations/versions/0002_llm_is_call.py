"""Tell an LLM call apart from a span that only carries part of one (a streamed response).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.add_column(sa.Column("llm_is_call", sa.Boolean, nullable=True))
    # As the app writes it: true for a call, NULL for spans that are not LLM calls.
    op.execute("UPDATE spans SET llm_is_call = TRUE WHERE llm_convention IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("llm_is_call")
