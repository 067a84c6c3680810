"""SQLite: the writer keeps the FTS5 index in step with `span_search` itself, not by triggers.

A trigger runs each row's index insert in a statement of its own, and FTS5 writes out what it
has gathered at the end of every statement: each span became a segment of one document, which
the index then had to merge. Inserting a batch's rows into the index in one statement, as
`app.search_rows` does, gathers them into one segment and cost about a third of the time.

The index and its table hold the same rows before and after, so nothing is rebuilt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TRIGGERS = ("span_search_ai", "span_search_ad", "span_search_au")
# As revision 0003 created them.
CREATE_TRIGGERS = [
    """CREATE TRIGGER span_search_ai AFTER INSERT ON span_search BEGIN
        INSERT INTO span_search_fts(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER span_search_ad AFTER DELETE ON span_search BEGIN
        INSERT INTO span_search_fts(span_search_fts, rowid, body)
        VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER span_search_au AFTER UPDATE ON span_search BEGIN
        INSERT INTO span_search_fts(span_search_fts, rowid, body)
        VALUES ('delete', old.id, old.body);
        INSERT INTO span_search_fts(rowid, body) VALUES (new.id, new.body);
    END""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in CREATE_TRIGGERS:
        op.execute(statement)
