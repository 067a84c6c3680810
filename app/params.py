"""Query parameters that the REST API and the pages both read: times and time ranges.

Each parser raises `queries.BadQuery` with a message fit to show the user; the API turns it
into a 422 and a page into its error view.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.queries import MAX_INT64, MIN_INT64, BadQuery

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The list page's quick ranges: label, and how far back from now.
RANGES: dict[str, tuple[str, int]] = {
    "15m": ("last 15 minutes", 15 * 60),
    "1h": ("last hour", 3600),
    "24h": ("last 24 hours", 86_400),
    "7d": ("last 7 days", 7 * 86_400),
}


def clamp(ns: int) -> int:
    """Stored times fit in 64 bits, so a bound past that range compares like the range's end."""
    return min(max(ns, MIN_INT64), MAX_INT64)


def time_ns(name: str, value: str | None) -> int | None:
    """An RFC 3339 time or Unix nanoseconds, as nanoseconds; None when absent."""
    if value is None or value == "":
        return None
    # isdigit alone is true of "²" and other digits int() refuses.
    if value.isascii() and value.isdigit():
        digits = value.lstrip("0") or "0"
        # Past 20 digits it is past any 64-bit time, and int() refuses past 4300 digits.
        return clamp(int(digits) if len(digits) <= 20 else 10**20)
    try:
        # RFC 3339 allows a lower-case "t" and "z"; Python's parser does not.
        moment = datetime.fromisoformat(value.upper())
    except ValueError:
        raise BadQuery(
            f"{name} must be an RFC 3339 time like 2026-12-04T17:00:00Z or Unix nanoseconds,"
            f" got {value[:80]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return clamp((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def range_since_ns(value: str | None, now_ns: int | None = None) -> int | None:
    """The start of a quick range ("1h", …) counted back from now; None for no range."""
    if not value:
        return None
    if value not in RANGES:
        raise BadQuery(f"range must be one of {', '.join(RANGES)}, got {value[:20]!r}")
    now = time.time_ns() if now_ns is None else now_ns
    return now - RANGES[value][1] * 1_000_000_000
