"""Long attribute values, kept apart from the others and compressed.

An LLM span's weight is in a few long texts: the messages, the request and the response as
JSON. Stored as they come they are most of the database (about 9.7 KB of an 11 KB span on the
bench), and most of what the writer writes. `split` takes every string of LONG_VALUE_CHARS or
more out of a span's attributes and packs them, with the order of all the keys, into one
zstd-compressed document (text compresses about 3.3×; level 1 costs ~25 µs for 9 KB, in the
ingest thread). `merge` puts them back. Spans split before zstd was used hold zlib streams,
which `merge` tells apart by zstd's magic number. The short
values stay plain JSON, so that the `attr` filter can still compare them in SQL.
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

import orjson
import zstandard

LONG_VALUE_CHARS = 256
COMPRESSION_LEVEL = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Neither is safe to share between threads: one of each per thread.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
    return _local.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor


def split(attributes: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """The short attributes, and the long ones packed (None when there are none)."""
    long = {
        k: v for k, v in attributes.items() if isinstance(v, str) and len(v) >= LONG_VALUE_CHARS
    }
    if not long:
        return attributes, None
    short = {k: v for k, v in attributes.items() if k not in long}
    packed = orjson.dumps({"keys": list(attributes), "values": long})
    return short, _compressor().compress(packed)


def merge(short: dict[str, Any], packed: bytes | None) -> dict[str, Any]:
    """The attributes as they were sent, in their order, from what `split` gave."""
    if packed is None:
        return short
    if packed[:4] == ZSTD_MAGIC:
        document = orjson.loads(_decompressor().decompress(packed))
    else:
        document = orjson.loads(zlib.decompress(packed))
    long = document["values"]
    return {key: long[key] if key in long else short[key] for key in document["keys"]}
