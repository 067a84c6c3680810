"""An attribute value as an emitter may send it: JSON text, or a structured OTLP value.

The structured form goes through a real OTLP `AnyValue` and the collector's own decoder, so a
test sees exactly what the collector would (kvlists as dicts, arrays as lists, null as None).
"""

from __future__ import annotations

import json
from typing import Any

from app.otlp import natural
from tests.otlp_builders import any_value

ENCODINGS = ("json", "structured")


def structured(value: Any) -> Any:
    """`value` as the collector decodes it from a structured OTLP attribute."""
    return natural(any_value(value))


def encoded(value: Any, encoding: str) -> Any:
    """`value` (a Python value, or JSON text as the client writes it) in `encoding`."""
    if isinstance(value, str):
        value = json.loads(value)
    return json.dumps(value) if encoding == "json" else structured(value)
