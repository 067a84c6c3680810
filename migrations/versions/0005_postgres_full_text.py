"""PostgreSQL's own full-text search over span_search: a tsvector column and a GIN index.

SQLite has had its FTS5 index since 0003; on PostgreSQL search was a substring scan until
now. `search_vector` is a generated column, so every insert and upsert of a row's `body`
keeps it right in the same statement, with nothing for the app to do.

The text is parsed with `spyglass_search`, a copy of the `simple` configuration: words are
lower-cased and kept whole, not stemmed, because prompts and tool output mix languages and
identifiers, and a prefix search of "summar" must find "summarise" as typed. Where the server
has the `unaccent` extension (a trusted one, in PostgreSQL's contrib), words also lose their
accents, so that "zurich" finds "Zürich" as it does on SQLite. A tsvector holds at most 1 MB; a span's text can
be near that (app.search bounds it at 1,000,000 characters), so `spyglass_search_vector`
indexes the longest start of a body that fits rather than failing the write.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The token types that may hold letters beyond ASCII; the others (ASCII words, numbers, hosts,
# URLs) have no accents to lose.
ACCENTED = "word, hword, hword_part, numword, numhword, hword_numpart"
UNACCENT_USABLE = """
    SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent')
       AND has_database_privilege(current_database(), 'CREATE')
"""

UPGRADE = [
    # IMMUTABLE is as good as true (the configuration is named, not taken from a setting),
    # and a generated column may only call immutable functions.
    """CREATE FUNCTION spyglass_search_vector(body text) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
        size integer := length(body);
    BEGIN
        LOOP
            BEGIN
                RETURN to_tsvector('spyglass_search'::regconfig, left(body, size));
            EXCEPTION WHEN program_limit_exceeded THEN
                size := size / 2;
            END;
        END LOOP;
    END
    $$""",
    """ALTER TABLE span_search ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (spyglass_search_vector(body)) STORED""",
    "CREATE INDEX ix_span_search_vector ON span_search USING gin (search_vector)",
]
DOWNGRADE = [
    "DROP INDEX ix_span_search_vector",
    "ALTER TABLE span_search DROP COLUMN search_vector",
    "DROP FUNCTION spyglass_search_vector(text)",
    # The unaccent extension stays: something else may use it, and it costs nothing.
    "DROP TEXT SEARCH CONFIGURATION spyglass_search",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE TEXT SEARCH CONFIGURATION spyglass_search (COPY = pg_catalog.simple)")
    if bind.exec_driver_sql(UNACCENT_USABLE).scalar():
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION spyglass_search ALTER MAPPING FOR {ACCENTED}"
            " WITH unaccent, simple"
        )
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
