"""From request bytes to a batch ready to store: decompress, decode, read LLM summaries and
the key of the call each LLM span records, compute each span's search text, and set the long
attribute values apart, in compressed chunks stored once however often they are sent
(`app.long_values`).

This is the CPU-bound part of an export. The receiver runs it in a worker thread so that the
event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

from app import call_links, long_values, otlp, search
from app.conventions import summary_columns

# Span and service names are indexed columns; PostgreSQL refuses an index entry past about
# 2.7 KB. A longer name (no instrumentation writes one) is kept whole in the attribute
# FULL_NAME_KEY, and the column holds its start and an ellipsis; a service's whole name is
# in its resource's attributes already.
MAX_INDEXED_CHARS = 512
FULL_NAME_KEY = "spyglass.span.full_name"


def decode(
    signal: str, body: bytes, fmt: otlp.Format, encoding: str | None, limit: int
) -> otlp.Batch:
    """Decode one export of `signal` ("traces", "logs" or "metrics")."""
    raw = otlp.decompress(body, encoding, limit)
    if signal == "traces":
        batch = otlp.decode_traces(raw, fmt)
        for record in batch.records:
            _shorten_indexed_names(record)
            record.update(summary_columns(record["attributes"], record["scope_name"]))
            record.update(
                call_links.columns(
                    record["llm_convention"],
                    record["attributes"],
                    record["llm_is_call"],
                    record["scope_name"],
                )
            )
            record["search_pieces"] = search.search_pieces(
                record["name"], record["attributes"], record["scope_name"]
            )
            # Last: everything above reads the attributes whole.
            split = long_values.split(record["attributes"])
            record["attributes"], record["long_attributes"], record["chunks"] = split
        return batch
    if signal == "logs":
        return otlp.decode_logs(raw, fmt)
    otlp.decode_metrics(raw, fmt)
    return otlp.Batch()


def _shorten_indexed_names(record: dict) -> None:
    name = record["name"]
    if len(name) > MAX_INDEXED_CHARS:
        record["attributes"][FULL_NAME_KEY] = name
        record["name"] = name[: MAX_INDEXED_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
    service = record.get("service_name")
    if service and len(service) > MAX_INDEXED_CHARS:
        record["service_name"] = service[: MAX_INDEXED_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
