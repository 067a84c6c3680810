"""Long attribute values, kept apart from the others and compressed.

An LLM span's weight is in a few long texts: the messages, the request and the response as
JSON. Stored as they come they are most of the database (about 9.7 KB of an 11 KB span on the
bench), and most of what the writer writes. `split` takes every string of LONG_VALUE_CHARS or
more out of a span's attributes and packs them, with the order of all the keys, into one
zlib-compressed document (text compresses about 3×; level 1 costs ~60 µs for 8 KB, in the
ingest threads, which release the GIL while zlib works). `merge` puts them back. The short
values stay plain JSON, so that the `attr` filter can still compare them in SQL.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

LONG_VALUE_CHARS = 256
COMPRESSION_LEVEL = 1


def split(attributes: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """The short attributes, and the long ones packed (None when there are none)."""
    long = {
        k: v for k, v in attributes.items() if isinstance(v, str) and len(v) >= LONG_VALUE_CHARS
    }
    if not long:
        return attributes, None
    short = {k: v for k, v in attributes.items() if k not in long}
    packed = orjson.dumps({"keys": list(attributes), "values": long})
    return short, zlib.compress(packed, COMPRESSION_LEVEL)


def merge(short: dict[str, Any], packed: bytes | None) -> dict[str, Any]:
    """The attributes as they were sent, in their order, from what `split` gave."""
    if packed is None:
        return short
    document = orjson.loads(zlib.decompress(packed))
    long = document["values"]
    return {key: long[key] if key in long else short[key] for key in document["keys"]}
