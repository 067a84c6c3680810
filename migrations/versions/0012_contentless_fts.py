"""SQLite: the FTS5 index keeps no copy of the text, and `span_search` keeps it compressed.

Until now `span_search_fts` was an external-content index: FTS5 may read `span_search.body`
back (to rebuild, or to check itself against it), so the body had to stay plain text, which
was about a quarter of the database. A contentless index needs only the words it is given:
`app.search_rows` stores each new text zstd-compressed (about 57% of its size) and, to remove
a text from the index, gives FTS5 that text decompressed, as it gave the plain one before.

The index's own tables are the same for both kinds, but the kind is fixed when the table is
created, so the upgrade indexes every stored text again into a new contentless table and puts
it in the old one's place: 4 s for the million short texts of `bench/queries_scale.py` on a
2-core VM, and in proportion to the text for longer ones (LLM calls average about 1.2 KB). The texts stored
before stay plain: `app.search_rows.stored_text` reads both, so nothing is rewritten.

The downgrade decompresses the texts and rebuilds the external-content index of 0003.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Self-contained, as a migration must stay what it was whatever the app becomes later; the
# format is app.search_rows's: a zstd frame of the UTF-8 text, lone surrogates kept.


def _plain(body: bytes) -> str:
    return zstandard.ZstdDecompressor().decompress(body).decode("utf-8", "surrogatepass")


# remove_diacritics 2 lets "zurich" find "Zürich", whichever way the ü was encoded (0003).
TOKENIZE = "tokenize='unicode61 remove_diacritics 2'"
BATCH = 2000


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE VIRTUAL TABLE span_search_fts_new USING fts5(body, content='', {TOKENIZE})")
    # One statement: FTS5 gathers the whole table into few large segments.
    op.execute("INSERT INTO span_search_fts_new(rowid, body) SELECT id, body FROM span_search")
    op.execute("DROP TABLE span_search_fts")
    op.execute("ALTER TABLE span_search_fts_new RENAME TO span_search_fts")


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT id, body FROM span_search WHERE id > :last AND typeof(body) = 'blob'"
                " ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        connection.execute(
            sa.text("UPDATE span_search SET body = :body WHERE id = :id"),
            [{"id": ident, "body": _plain(body)} for ident, body in rows],
        )
        last = rows[-1][0]
    op.execute("DROP TABLE span_search_fts")
    op.execute(
        "CREATE VIRTUAL TABLE span_search_fts USING fts5("
        f"body, content='span_search', content_rowid='id', {TOKENIZE})"
    )
    op.execute("INSERT INTO span_search_fts(span_search_fts) VALUES ('rebuild')")
