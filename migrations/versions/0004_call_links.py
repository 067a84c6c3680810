"""One API call recorded by several spans: the key they share, and which of them shows it.

`llm_call_key` identifies the API call a span records (the provider's response id, or the key
Logfire's two records of a stream share); `llm_call_rank` says how strongly the span stands for
it. An index finds the spans of a key in any trace; it leaves out the many spans without one.

Spans stored before this revision keep NULL in both: the key of some sources is inside JSON
text, and Logfire's is a digest of the request, which only the app computes (a migration never
imports it). Such spans are linked when they are exported again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.add_column(sa.Column("llm_call_key", sa.Text, nullable=True))
        batch.add_column(sa.Column("llm_call_rank", sa.SmallInteger, nullable=True))
    op.create_index(
        "ix_spans_call_key",
        "spans",
        ["llm_call_key", "start_ns"],
        sqlite_where=sa.text("llm_call_key IS NOT NULL"),
        postgresql_where=sa.text("llm_call_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_spans_call_key", table_name="spans")
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("llm_call_rank")
        batch.drop_column("llm_call_key")
