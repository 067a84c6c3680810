"""The garbage collector tuned for a process that serves: the collector and its workers.

Decoding one export makes tens of thousands of short-lived dicts, lists and tuples (a span's
attributes, its search pieces, its rows), and unpickling a decoded batch in the collector
makes as many again. CPython runs a young-generation collection every 700 net allocations,
and its older collections walk every object the process keeps: the modules, the app, the
caches of chunks and keys. Those objects are made at start and live for ever, and the batches'
objects are freed by reference counting, not by the collector (they hold no cycles). So a
serving process moves what it made at start out of the collector's sight (`gc.freeze`) and
collects the young generation far less often. On the ingest bench that took ~6% off the
collector's CPU a span (bench/README.md); memory stayed the same.
"""

from __future__ import annotations

import gc

# Net allocations between two young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


def tune_for_serving() -> None:
    """Freeze what the process holds now and collect the young generation less often; call
    once, when the process has started and before it serves."""
    gc.collect()  # garbage made at start is freed, not frozen with the rest
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
