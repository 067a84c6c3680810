"""A trace's spans laid out as a waterfall: tree order, depth, and bars to scale.

Pure: it takes the span views of `app.queries` and returns rows for the template, so the
layout is tested without a page. Spans whose parent was never stored are shown as roots
rather than hidden, and a parent cycle (only a broken emitter makes one) cannot loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A bar never shrinks below this share of the width, so a 1 µs span is still visible.
MIN_BAR_PCT = 0.25


@dataclass
class Row:
    span: dict[str, Any]
    depth: int
    offset_pct: float
    width_pct: float
    child_count: int
    start_offset_ms: float  # from the trace's first span
    # A part of this row's call that failed (a stream broken off mid-way): the call failed too,
    # though its own span, which ended when the response began, says nothing of it.
    failed_part: dict[str, Any] | None = None

    @property
    def span_id(self) -> str:
        return self.span["span_id"]

    @property
    def is_error(self) -> bool:
        return self.span["status_code"] == "error" or self.failed_part is not None

    @property
    def error_message(self) -> str | None:
        if self.span["status_code"] == "error":
            return self.span.get("status_message")
        return self.failed_part.get("status_message") if self.failed_part else None

    @property
    def llm(self) -> dict[str, Any] | None:
        """The LLM summary of a span that records a call or part of one (a stream)."""
        return self.span.get("llm")

    @property
    def is_call(self) -> bool:
        """An LLM call of its own, as opposed to a part of one such as its stream."""
        llm = self.llm
        return bool(llm) and llm.get("is_call", True) is not False


@dataclass
class Tick:
    pct: float
    label: str


def _failed_part(kids: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (
            kid
            for kid in kids
            if kid["status_code"] == "error" and (kid.get("llm") or {}).get("role") == "part"
        ),
        None,
    )


def _tree_order(
    spans: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], int, list[dict[str, Any]]]]:
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"]
        children.setdefault(parent if parent in ids else None, []).append(span)
    ordered: list[tuple[dict[str, Any], int, list[dict[str, Any]]]] = []
    seen: set[str] = set()
    stack = [(span, 0) for span in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:
            continue
        seen.add(span["span_id"])
        kids = children.get(span["span_id"], [])
        ordered.append((span, depth, kids))
        stack.extend((child, depth + 1) for child in reversed(kids))
    # Spans caught in a parent cycle have no root to hang from: list them at the top level.
    ordered.extend((span, 0, []) for span in spans if span["span_id"] not in seen)
    return ordered


def format_ms(ms: float) -> str:
    """A duration in the unit that reads best, chosen after rounding ("1.00 s", not "1000 ms").

    A negative duration (a span that ends before it starts: an emitter's clock bug) keeps its
    sign, so it reads as the anomaly it is.
    """
    if ms < 0:
        return "−" + format_ms(-ms)
    if round(ms * 1000) < 1000:
        return f"{ms * 1000:.0f} µs"
    if round(ms, 1) < 10:
        return f"{ms:.1f} ms"
    if round(ms) < 1000:
        return f"{ms:.0f} ms"
    if round(ms / 1000, 2) < 60:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def layout(spans: list[dict[str, Any]]) -> tuple[list[Row], list[Tick]]:
    """Rows in tree order with bars placed on the trace's time scale, and the axis ticks."""
    if not spans:
        return [], []
    start = min(span["start_time_unix_nano"] for span in spans)
    end = max(span["start_time_unix_nano"] + span["duration_ms"] * 1e6 for span in spans)
    total_ms = max((end - start) / 1e6, 1e-6)
    rows = []
    for span, depth, kids in _tree_order(spans):
        offset = (span["start_time_unix_nano"] - start) / 1e6 / total_ms * 100
        width = max(span["duration_ms"] / total_ms * 100, MIN_BAR_PCT)
        offset = min(offset, 100 - MIN_BAR_PCT)
        start_offset_ms = (span["start_time_unix_nano"] - start) / 1e6
        width_pct = round(min(width, 100 - offset), 3)
        failed_part = _failed_part(kids) if span.get("llm") else None
        rows.append(
            Row(span, depth, round(offset, 3), width_pct, len(kids), start_offset_ms, failed_part)
        )
    # Three ticks fit the narrowest column without their labels running into each other.
    ticks = [Tick(pct, format_ms(total_ms * pct / 100)) for pct in (0, 50, 100)]
    return rows, ticks
