"""The initial schema: spans, their resources and scopes, trace summaries and span logs.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("resource_hash", sa.LargeBinary(16), primary_key=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
        sa.Column("schema_url", sa.Text, nullable=False),
    )
    op.create_table(
        "scopes",
        sa.Column("scope_hash", sa.LargeBinary(16), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
        sa.Column("schema_url", sa.Text, nullable=False),
    )
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.LargeBinary(16), primary_key=True),
        sa.Column("span_id", sa.LargeBinary(8), primary_key=True),
        sa.Column("parent_span_id", sa.LargeBinary(8), nullable=True),
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
        sa.Column("resource_hash", sa.LargeBinary(16), nullable=False),
        sa.Column("scope_hash", sa.LargeBinary(16), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
        sa.Column("events", JSON, nullable=False),
        sa.Column("dropped_events_count", sa.BigInteger, nullable=False),
        sa.Column("links", JSON, nullable=False),
        sa.Column("dropped_links_count", sa.BigInteger, nullable=False),
        sa.Column("llm_convention", sa.Text, nullable=True),
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
    )
    op.create_index("ix_spans_start", "spans", ["start_ns", "trace_id", "span_id"])
    op.create_index("ix_spans_service_start", "spans", ["service_name", "start_ns"])
    op.create_index("ix_spans_name_start", "spans", ["name", "start_ns"])
    op.create_table(
        "traces",
        sa.Column("trace_id", sa.LargeBinary(16), primary_key=True),
        sa.Column("root_span_id", sa.LargeBinary(8), nullable=True),
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
    op.create_index("ix_traces_start", "traces", ["start_ns", "trace_id"])
    op.create_index("ix_traces_service_start", "traces", ["service_name", "start_ns"])
    op.create_table(
        "span_logs",
        sa.Column("log_id", sa.LargeBinary(16), primary_key=True),
        sa.Column("trace_id", sa.LargeBinary(16), nullable=False),
        sa.Column("span_id", sa.LargeBinary(8), nullable=False),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("observed_time_ns", sa.BigInteger, nullable=False),
        sa.Column("severity_number", sa.SmallInteger, nullable=False),
        sa.Column("severity_text", sa.Text, nullable=False),
        sa.Column("event_name", sa.Text, nullable=False),
        sa.Column("body", JSON, nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("dropped_attributes_count", sa.BigInteger, nullable=False),
        sa.Column("flags", sa.BigInteger, nullable=False),
        sa.Column("resource_hash", sa.LargeBinary(16), nullable=False),
        sa.Column("scope_hash", sa.LargeBinary(16), nullable=False),
    )
    op.create_index("ix_span_logs_span", "span_logs", ["trace_id", "span_id", "time_ns"])


def downgrade() -> None:
    op.drop_table("span_logs")
    op.drop_table("traces")
    op.drop_table("spans")
    op.drop_table("scopes")
    op.drop_table("resources")
