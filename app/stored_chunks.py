"""What one SQLite writer has committed to `chunks` lately, so that it need not write it again.

An agent's every call re-sends the conversation so far, so most chunks a span refers to were
stored by an earlier call of its trace, and writing them again changes nothing but, once a
minute, their `newest_minute` (`store.write_chunks`). Asking the database costs a B-tree probe
per chunk, a quarter of the writer's time on an agent load; this remembers the last
`CAPACITY` chunks the writer committed, with the minute it wrote, and lets it skip a chunk
already stored with that minute or a later one.

It is right only while nothing else deletes chunks. Only retention does
(`store.drop_unused_chunks`), and on the writer's own thread, which calls `forget` around
maintenance; a transaction that fails leaves it as it was (`discard`). The `Writer` uses one
on SQLite only: several collectors may share a PostgreSQL database, and another one's
retention would go unseen.
"""

from __future__ import annotations

from collections import OrderedDict

# About 150 bytes each, a MB or so: an agent load's active conversations use a few thousand.
CAPACITY = 8192


class StoredChunks:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        # digest -> newest minute committed, oldest first
        self._minutes: OrderedDict[bytes, int] = OrderedDict()
        self._pending: dict[bytes, int] = {}  # written in the open transaction

    def needs_writing(self, digest: bytes, minute: int) -> bool:
        stored = self._minutes.get(digest)
        return stored is None or stored < minute

    def written(self, digest: bytes, minute: int) -> None:
        """The open transaction wrote this chunk with this minute (or found a later one)."""
        self._pending[digest] = minute

    def committed(self) -> None:
        for digest, minute in self._pending.items():
            self._minutes.pop(digest, None)  # to the young end
            self._minutes[digest] = minute
        self._pending.clear()
        while len(self._minutes) > self._capacity:
            # An OrderedDict: a plain dict's first key, after many deletions, is found by
            # walking past every deleted slot.
            self._minutes.popitem(last=False)

    def discard(self) -> None:
        """The open transaction was rolled back: what it wrote is not stored."""
        self._pending.clear()

    def forget(self) -> None:
        """Chunks may have been deleted: know nothing."""
        self._minutes.clear()
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._minutes)
