"""Long attribute values, kept apart from the others, cut into shared chunks, compressed.

An LLM span's weight is in a few long texts: the messages, the request and the response as
JSON. An agent's calls each re-send the whole conversation so far, so call 20 carries the text
of calls 1 to 19 again: stored as they come, most of the database is repeated history.

`split` takes every string of LONG_VALUE_CHARS or more out of a span's attributes and cuts it
into chunks at content-defined places: after a `}` that `,{` or `]` follows, which in a JSON
list of messages (or of parts) is where one ends, and wherever else it occurs, since any rule
that depends only on the text cuts a repeated prefix the same way each time. Pieces shorter
than MIN_CHUNK_CHARS are joined to the next, so a chunk is worth its key. Each chunk is stored once in the `chunks` table, zstd-compressed, keyed by a 16-byte
BLAKE2b digest of its text (`app.store`); a span keeps the order of all its keys and, for each
long value, the digests of its chunks (`packed`). `merge` puts the values back, exactly as
sent, from the texts of those chunks (`chunk_texts`). The short end of a list after its last
cut is new in every call (the next call's list goes on past it), so it is kept with the span,
in the compressed document, not as a chunk; so is a value that holds a call's whole response
(`WHOLE_RESPONSES`), which no later call sends again as it is. Each chunk costs the writer a
page written at a random place of the digest-keyed table, so a chunk nothing shares is waste.

A plain text (an OpenInference message's content) has no cut and is one chunk: repeated in
every later call, it is still stored once.

Spans stored before chunks were used hold their long values inline in one compressed
document (zstd, or zlib before that); `merge` reads those too, told apart by magic numbers.
The values of lists flattened into attributes (keys with a numeric part, as OpenInference and
OpenLLMetry write messages) go in the compressed document too, whatever their length. The
other short values stay plain JSON, so that the `attr` filter can still compare them in SQL.
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson
import zstandard

LONG_VALUE_CHARS = 256
MIN_CHUNK_CHARS = 512
COMPRESSION_LEVEL = 1
DIGEST_BYTES = 16
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Packed values of chunked spans: this, the length of the compressed key document, the
# document, then the chunks' digests.
CHUNKED_MAGIC = b"SGC1"
_LENGTH = struct.Struct(">I")
# A key of a list flattened into attributes, one key per item and field
# (`llm.input_messages.3.message.role`, `gen_ai.prompt.0.content`): an agent's spans carry
# hundreds, repeating their history's. Their values go in the packed document, compressed,
# whatever their length; nobody filters spans by the role of their fourth message.
_FLATTENED = re.compile(r"\.\d+(?:\.|$)")
# Values that hold a call's response whole: no later call sends one again as it is (the next
# call's history holds the reply re-serialised inside its list of messages, cut elsewhere), so
# as chunks they would be rows nothing shares, each at a random place in the digest-keyed
# table. They go in the compressed document, however long.
WHOLE_RESPONSES = frozenset(
    {"gen_ai.output.messages", "output.value", "response_data", "spyglass.stream.timeline"}
)
# The end of an object that another follows in a list, or that ends a list: where a message
# or a part ends. Cutting before the list's `]` too keeps the last message's chunk the same
# when the next call adds a message after it.
_CUT = re.compile(r"\}(?=\s*(?:,\s*\{|\]))")
# The digests and compressed data of chunks seen lately, by their text: history comes back in
# every call of a conversation, and hashing and compressing it again each time would cost
# more than the rest of `split`. A hit costs a dict lookup (the text's hash and one compare).
# On the ingest bench's agent loops, 2,048 hit as often as 8,192 (74%), for a quarter of
# the memory: a conversation's history comes back within a few batches.
KNOWN_CHUNKS = 2048
# A value whose chunk is missing (it should never be) reads as this rather than failing.
MISSING_CHUNK = "\N{REPLACEMENT CHARACTER}[spyglass: stored text missing]"

# Neither is safe to share between threads: one of each per thread.
_local = threading.local()
_known_lock = threading.Lock()
_known: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
KNOWN_KEYS = 4096
_flattened_keys: dict[str, bool] = {}


class Split(NamedTuple):
    short: dict[str, Any]
    packed: bytes | None  # None when no value is long
    chunks: dict[bytes, bytes]  # digest -> compressed text, for the `chunks` table


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
    return _local.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor


def _encode(text: str) -> bytes:
    # A JSON document may decode to a lone surrogate; keep it rather than fail.
    return text.encode("utf-8", "surrogatepass")


def cut(text: str) -> list[str]:
    """`text` in chunks that join back to it, cut at content-defined places (see above)."""
    chunks: list[str] = []
    start = 0
    for match in _CUT.finditer(text):
        end = match.end()
        if end - start >= MIN_CHUNK_CHARS:
            chunks.append(text[start:end])
            start = end
    chunks.append(text[start:])
    return chunks


def _chunk(text: str) -> tuple[bytes, bytes]:
    """A chunk's digest and compressed data."""
    found = _known.get(text)
    if found is not None:
        return found
    data = _encode(text)
    made = (hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest(), _compressor().compress(data))
    with _known_lock:
        if len(_known) >= KNOWN_CHUNKS:
            # The oldest entry first: a finished conversation's chunks are not seen again.
            # (An OrderedDict, since finding a plain dict's first key after many deletions
            # walks past every deleted slot.)
            _known.popitem(last=False)
        _known[text] = made
    return made


def _flattened(key: str) -> bool:
    """Whether `key` is one of a flattened list's (see `_FLATTENED`); remembered, since the
    same few hundred keys come back in every span of an app."""
    found = _flattened_keys.get(key)
    if found is None:
        found = _FLATTENED.search(key) is not None
        if len(_flattened_keys) >= KNOWN_KEYS:
            _flattened_keys.clear()
        _flattened_keys[key] = found
    return found


def split(attributes: dict[str, Any]) -> Split:
    """The short attributes, the long ones packed as digests, and the chunks they refer to."""
    long: list[tuple[str, str]] = []
    inline: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str) and len(value) >= LONG_VALUE_CHARS:
            if key in WHOLE_RESPONSES:
                inline[key] = value
            else:
                long.append((key, value))
        elif _flattened(key):
            inline[key] = value
    if not long and not inline:
        return Split(attributes, None, {})
    chunks: dict[bytes, bytes] = {}
    digests: list[bytes] = []
    counts: list[tuple[str, int]] = []
    tails: dict[str, str] = {}
    for key, value in long:
        pieces = cut(value)
        if len(pieces) > 1 and len(pieces[-1]) < MIN_CHUNK_CHARS:
            # The end of a list that was cut: what came after its last cut. The next call
            # sends the list with more after it, so this piece never comes back as it is;
            # it goes in the compressed document rather than being a chunk of its own.
            tails[key] = pieces.pop()
        counts.append((key, len(pieces)))
        for piece in pieces:
            digest, compressed = _chunk(piece)
            digests.append(digest)
            chunks[digest] = compressed
    apart = {k for k, _ in long} | inline.keys()
    short = {k: v for k, v in attributes.items() if k not in apart}
    document = _compressor().compress(
        orjson.dumps({"keys": list(attributes), "long": counts, "inline": inline, "tails": tails})
    )
    packed = b"".join((CHUNKED_MAGIC, _LENGTH.pack(len(document)), document, *digests))
    return Split(short, packed, chunks)


def _chunked(packed: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = _LENGTH.unpack_from(packed, len(CHUNKED_MAGIC))
    start = len(CHUNKED_MAGIC) + _LENGTH.size
    document = orjson.loads(_decompressor().decompress(packed[start : start + length]))
    return document, packed[start + length :]


def chunk_digests(packed: bytes | None) -> list[bytes]:
    """The digests of the chunks a span's packed values refer to (none for older spans)."""
    if packed is None or not packed.startswith(CHUNKED_MAGIC):
        return []
    _, digests = _chunked(packed)
    return [digests[i : i + DIGEST_BYTES] for i in range(0, len(digests), DIGEST_BYTES)]


def digests_of(packed_values: Iterable[bytes | None]) -> set[bytes]:
    return {digest for packed in packed_values for digest in chunk_digests(packed)}


def compress_text(text: str) -> bytes:
    """`text` zstd-compressed, as a chunk is stored (`chunk_text` reads it back)."""
    return _compressor().compress(_encode(text))


def chunk_text(compressed: bytes) -> str:
    """A chunk's text from what the `chunks` table holds, or any `compress_text` result."""
    return _decompressor().decompress(compressed).decode("utf-8", "surrogatepass")


def restore(split: Split) -> dict[str, Any]:
    """The attributes `split` was given, from its result alone (chunks included)."""
    texts = {digest: chunk_text(data) for digest, data in split.chunks.items()}
    return merge(split.short, split.packed, texts)


def merge(
    short: dict[str, Any], packed: bytes | None, chunk_texts: Mapping[bytes, str] | None = None
) -> dict[str, Any]:
    """The attributes as they were sent, in their order, from what `split` gave; the chunks'
    texts by digest, for a chunked span."""
    if packed is None:
        return short
    if packed.startswith(CHUNKED_MAGIC):
        document, digests = _chunked(packed)
        texts = chunk_texts or {}
        tails = document.get("tails", {})  # absent from spans stored before tails
        long, position = {}, 0
        for key, count in document["long"]:
            parts = []
            for _ in range(count):
                digest = digests[position : position + DIGEST_BYTES]
                position += DIGEST_BYTES
                parts.append(texts.get(digest, MISSING_CHUNK))
            long[key] = "".join(parts) + tails.get(key, "")
        long.update(document.get("inline", {}))
    else:
        if packed[:4] == ZSTD_MAGIC:
            document = orjson.loads(_decompressor().decompress(packed))
        else:
            document = orjson.loads(zlib.decompress(packed))
        long = document["values"]
    merged = {}
    for key in document["keys"]:
        if key in long:
            merged[key] = long[key]
        elif key in short:
            merged[key] = short[key]
        else:
            # PostgreSQL stores NUL in a JSON key as U+FFFD (app.database); the key order is
            # kept as sent, so such a key is found, and shown, in its stored form.
            stored = key.replace("\x00", "\ufffd")
            merged[stored] = short[stored]
    return merged
