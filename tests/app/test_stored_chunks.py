"""`app.stored_chunks`: the writer's memory of the chunks it committed."""

from __future__ import annotations

from app.stored_chunks import StoredChunks


def test_only_committed_chunks_with_a_minute_as_late_are_skipped() -> None:
    stored = StoredChunks()
    assert stored.needs_writing(b"a", 10)
    stored.written(b"a", 10)
    assert stored.needs_writing(b"a", 10)  # not committed yet
    stored.committed()
    assert not stored.needs_writing(b"a", 10)
    assert not stored.needs_writing(b"a", 9)
    assert stored.needs_writing(b"a", 11)  # its newest_minute must move forward


def test_a_rolled_back_or_forgotten_write_is_written_again() -> None:
    stored = StoredChunks()
    stored.written(b"a", 1)
    stored.discard()
    stored.committed()
    assert stored.needs_writing(b"a", 1)
    stored.written(b"a", 1)
    stored.committed()
    stored.forget()
    assert stored.needs_writing(b"a", 1)


def test_it_keeps_the_chunks_used_last() -> None:
    stored = StoredChunks(capacity=2)
    for digest in (b"a", b"b"):
        stored.written(digest, 1)
        stored.committed()
    stored.written(b"a", 2)  # used again: now the youngest
    stored.written(b"c", 2)
    stored.committed()
    assert len(stored) == 2
    assert stored.needs_writing(b"b", 1)
    assert not stored.needs_writing(b"a", 2) and not stored.needs_writing(b"c", 2)
