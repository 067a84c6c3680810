"""Errors inside the instrumentation never reach the app: logged once, then swallowed.

Under Spyglass's own test suite (`SPYGLASS_RAISE_INTERNAL_ERRORS=1`) they are raised instead, so
that a bug cannot hide behind the safety net.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("spyglass")
_reported: set[str] = set()


def internal_error(where: str) -> None:
    """Call from an `except` block inside the instrumentation."""
    if os.environ.get("SPYGLASS_RAISE_INTERNAL_ERRORS", "").lower() in ("1", "true", "yes"):
        raise
    if where not in _reported:
        _reported.add(where)
        log.exception("spyglass: internal error in %s; the call itself is unaffected", where)
