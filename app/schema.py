"""The tables, as SQLAlchemy Core metadata, for the store and the queries.

The migrations in `migrations/` create these tables and never import this module; a test
checks that the two agree.

- `spans` holds one row per (trace_id, span_id) with every OTLP field. Attributes, events and
  links are JSON. The `llm_*` columns are what the conventions layer read from the attributes
  at ingest, so that lists and summaries never parse JSON. When several spans record one API
  call (an instrumentor over the Anthropic SDK's own span, Logfire's stream pair), they share
  `llm_call_key`; the store marks one of them the call and folds the others into it.
- `resources` and `scopes` hold each distinct resource and instrumentation scope once, keyed
  by a hash of their content; a span refers to them.
- `traces` is a summary per trace, recomputed from its spans on every write.
- `span_logs` keeps the OTLP log records that carry a trace and span id.
- `chunks` holds the text of long attribute values, each distinct chunk once, compressed;
  spans refer to them by digest (`app.long_values`).
- `span_search` holds the text of each span that search looks in (`app.search`), written with
  the span; on SQLite `body` holds it zstd-compressed (plain if stored before migration
  0012), on PostgreSQL plain. On SQLite the migrations also create `span_search_fts`, a
  contentless FTS5 index of those texts, which `app.search_rows` keeps in step; it is not
  declared here, since SQLAlchemy has no words for a virtual table and PostgreSQL has none.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# JSONB on PostgreSQL gives indexable, comparable JSON; SQLite stores JSON as text.
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
TRACE_ID = sa.LargeBinary(16)
SPAN_ID = sa.LargeBinary(8)
CONTENT_HASH = sa.LargeBinary(16)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("resource_hash", CONTENT_HASH, primary_key=True),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
    sa.Column("schema_url", sa.Text, nullable=False),
)

scopes = sa.Table(
    "scopes",
    metadata,
    sa.Column("scope_hash", CONTENT_HASH, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
    sa.Column("schema_url", sa.Text, nullable=False),
)

spans = sa.Table(
    "spans",
    metadata,
    sa.Column("trace_id", TRACE_ID, primary_key=True),
    sa.Column("span_id", SPAN_ID, primary_key=True),
    sa.Column("parent_span_id", SPAN_ID, nullable=True),
    sa.Column("trace_state", sa.Text, nullable=False),
    sa.Column("flags", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("duration_ns", sa.BigInteger, nullable=False),
    sa.Column("status_code", sa.SmallInteger, nullable=False),
    sa.Column("status_message", sa.Text, nullable=False),
    sa.Column("service_name", sa.Text, nullable=True),
    sa.Column("scope_name", sa.Text, nullable=False),
    sa.Column("resource_hash", CONTENT_HASH, nullable=False),
    sa.Column("scope_hash", CONTENT_HASH, nullable=False),
    # The short attribute values; the long ones as digests of their `chunks`, or (spans
    # stored before migration 0010) inline and compressed (app.long_values).
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("long_attributes", sa.LargeBinary, nullable=True),
    sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
    sa.Column("events", JSON, nullable=False),
    sa.Column("dropped_events_count", sa.BigInteger, nullable=False),
    sa.Column("links", JSON, nullable=False),
    sa.Column("dropped_links_count", sa.BigInteger, nullable=False),
    # Read from the attributes at ingest by app.conventions; NULL when not an LLM call.
    sa.Column("llm_convention", sa.Text, nullable=True),
    # False for a span that carries part of a call counted elsewhere (a streamed response).
    sa.Column("llm_is_call", sa.Boolean, nullable=True),
    sa.Column("llm_provider", sa.Text, nullable=True),
    sa.Column("llm_request_model", sa.Text, nullable=True),
    sa.Column("llm_response_model", sa.Text, nullable=True),
    sa.Column("llm_input_tokens", sa.BigInteger, nullable=True),
    sa.Column("llm_output_tokens", sa.BigInteger, nullable=True),
    sa.Column("llm_cache_read_tokens", sa.BigInteger, nullable=True),
    sa.Column("llm_cache_creation_tokens", sa.BigInteger, nullable=True),
    sa.Column("llm_finish_reasons", JSON, nullable=True),
    sa.Column("llm_streaming", sa.Boolean, nullable=True),
    sa.Column("llm_ttft_ms", sa.Float, nullable=True),
    # What identifies the API call across spans and traces, and how strongly this span stands
    # for it (app.call_links): spans sharing a key record one call, shown by one of them.
    sa.Column("llm_call_key", sa.Text, nullable=True),
    sa.Column("llm_call_rank", sa.SmallInteger, nullable=True),
)
# Newest-first listing walks these backwards; the id columns make the keyset order total.
sa.Index("ix_spans_start", spans.c.start_ns, spans.c.trace_id, spans.c.span_id)
sa.Index("ix_spans_service_start", spans.c.service_name, spans.c.start_ns)
sa.Index("ix_spans_name_start", spans.c.name, spans.c.start_ns)
# The other spans of a call, in any trace. Most spans have no key: the index leaves them out.
sa.Index(
    "ix_spans_call_key",
    spans.c.llm_call_key,
    spans.c.start_ns,
    sqlite_where=spans.c.llm_call_key.is_not(None),
    postgresql_where=spans.c.llm_call_key.is_not(None),
)

traces = sa.Table(
    "traces",
    metadata,
    sa.Column("trace_id", TRACE_ID, primary_key=True),
    sa.Column("root_span_id", SPAN_ID, nullable=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("service_name", sa.Text, nullable=True),
    sa.Column("start_ns", sa.BigInteger, nullable=False),
    sa.Column("end_ns", sa.BigInteger, nullable=False),
    sa.Column("span_count", sa.Integer, nullable=False),
    sa.Column("error_count", sa.Integer, nullable=False),
    sa.Column("llm_call_count", sa.Integer, nullable=False),
    sa.Column("input_tokens", sa.BigInteger, nullable=False),
    sa.Column("output_tokens", sa.BigInteger, nullable=False),
    sa.Column("cache_read_input_tokens", sa.BigInteger, nullable=False),
    sa.Column("cache_creation_input_tokens", sa.BigInteger, nullable=False),
    sa.Column("models", JSON, nullable=False),
)
sa.Index("ix_traces_start", traces.c.start_ns, traces.c.trace_id)
sa.Index("ix_traces_service_start", traces.c.service_name, traces.c.start_ns)

span_logs = sa.Table(
    "span_logs",
    metadata,
    sa.Column("log_id", CONTENT_HASH, primary_key=True),
    sa.Column("trace_id", TRACE_ID, nullable=False),
    sa.Column("span_id", SPAN_ID, nullable=False),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Column("observed_time_ns", sa.BigInteger, nullable=False),
    sa.Column("severity_number", sa.SmallInteger, nullable=False),
    sa.Column("severity_text", sa.Text, nullable=False),
    sa.Column("event_name", sa.Text, nullable=False),
    sa.Column("body", JSON, nullable=True),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
    sa.Column("flags", sa.BigInteger, nullable=False),
    sa.Column("resource_hash", CONTENT_HASH, nullable=False),
    sa.Column("scope_hash", CONTENT_HASH, nullable=False),
)
sa.Index("ix_span_logs_span", span_logs.c.trace_id, span_logs.c.span_id, span_logs.c.time_ns)

# For each long piece of search text (a message, a tool result) of a trace, the span that
# indexes it: the other spans of the trace that repeat it leave it out of their text.
search_pieces = sa.Table(
    "search_pieces",
    metadata,
    sa.Column("trace_id", TRACE_ID, primary_key=True),
    sa.Column("piece_hash", CONTENT_HASH, primary_key=True),
    sa.Column("span_id", SPAN_ID, nullable=False),
    sqlite_with_rowid=False,
)

# The text of long attribute values, cut into chunks and each stored once however many spans
# send it (app.long_values), zstd-compressed. `newest_minute` is the minute of the latest start
# of a span that uses the chunk, moved forward at most once a minute: once every span from
# before a minute is gone, so are the chunks no later span uses (app.store.drop_unused_chunks).
# On SQLite a rowid table (migration 0013): the rows, large, are appended in order, and only
# the digest key, small, goes in at a random place of its index.
chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("digest", CONTENT_HASH, primary_key=True),
    sa.Column("newest_minute", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
sa.Index("ix_chunks_newest_minute", chunks.c.newest_minute)

span_search = sa.Table(
    "span_search",
    metadata,
    # A rowid alias on SQLite, which the FTS5 index refers to; spans can outnumber 2**31.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("trace_id", TRACE_ID, nullable=False),
    sa.Column("span_id", SPAN_ID, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.UniqueConstraint("trace_id", "span_id", name="uq_span_search_span"),
)

# Where `spyglass db copy` got to (app.db_copy), one row per source, kept in the destination
# and committed with each chunk it covers, so that an interrupted copy resumes after it.
copy_progress = sa.Table(
    "copy_progress",
    metadata,
    # The source's identity: its URL without user or password (app.db_copy.source_identity).
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("phase", sa.Text, nullable=False),
    # The last key copied in the phase's order; NULL before the phase's first chunk.
    sa.Column("last_key", sa.LargeBinary, nullable=True),
    sa.Column("copied_spans", sa.BigInteger, nullable=False),
    sa.Column("updated_ns", sa.BigInteger, nullable=False),
)
