"""Full-text search: the searchable text of each span, and on SQLite an FTS5 index over it.

`span_search` holds one row per span with text (the app computes it at ingest). On SQLite,
`span_search_fts` is an external-content FTS5 table over its `body`, kept in step by the three
triggers the FTS5 documentation gives, so that every insert, update (an upsert's too) and
delete of a row updates the index in the same transaction.

Spans stored before this revision are indexed here from SQL alone, since a migration never
imports the app: their name and every string and number among their attribute values (on
SQLite also inside attributes that hold JSON as text). That is close to what ingest indexes,
not the same: JSON keys inside such text, ids and labels are indexed too. A span exported again
gets the app's text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FTS = [
    # remove_diacritics 2 lets "zurich" find "Zürich", whichever way the ü was encoded.
    """CREATE VIRTUAL TABLE span_search_fts USING fts5(
        body, content='span_search', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO span_search_fts(span_search_fts) VALUES ('rebuild')",
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

# Each value is cut at 10,000 characters and the text of a span at 1,000,000, as app.search
# bounds them. On SQLite: every string and number among the attribute values, and among those
# of an attribute that holds a JSON document as text.
BACKFILL = {
    "sqlite": """
        INSERT INTO span_search (trace_id, span_id, body)
        SELECT trace_id, span_id, body FROM (
            SELECT trace_id, span_id, substr(name || coalesce(char(10) || (
                SELECT group_concat(text, char(10)) FROM (
                    SELECT substr(leaf.atom, 1, 10000) AS text
                    FROM json_tree(spans.attributes) AS leaf
                    WHERE leaf.type IN ('text', 'integer', 'real')
                      AND NOT (leaf.type = 'text' AND json_valid(leaf.atom)
                               AND substr(ltrim(leaf.atom), 1, 1) IN ('[', '{'))
                    UNION ALL
                    SELECT substr(part.atom, 1, 10000)
                    FROM json_tree(spans.attributes) AS leaf,
                         json_tree(CASE WHEN leaf.type = 'text' AND json_valid(leaf.atom)
                                         AND substr(ltrim(leaf.atom), 1, 1) IN ('[', '{')
                                        THEN leaf.atom ELSE 'null' END) AS part
                    WHERE part.type IN ('text', 'integer', 'real')
                )
            ), ''), 1, 1000000) AS body
            FROM spans
        )
        WHERE trim(body) != ''
    """,
    "postgresql": """
        INSERT INTO span_search (trace_id, span_id, body)
        SELECT trace_id, span_id, body FROM (
            SELECT trace_id, span_id, left(name || coalesce(E'\\n' || (
                SELECT string_agg(left(value #>> '{}', 10000), E'\\n')
                FROM jsonb_path_query(attributes, 'strict $.**') AS value
                WHERE jsonb_typeof(value) IN ('string', 'number')
            ), ''), 1000000) AS body
            FROM spans
        ) AS found
        WHERE trim(body) != ''
    """,
}


def upgrade() -> None:
    op.create_table(
        "span_search",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.UniqueConstraint("trace_id", "span_id", name="uq_span_search_span"),
    )
    dialect = op.get_bind().dialect.name
    if dialect in BACKFILL:
        op.execute(BACKFILL[dialect])
    if dialect == "sqlite":
        for statement in FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("span_search_ai", "span_search_ad", "span_search_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE span_search_fts")
    op.drop_table("span_search")
