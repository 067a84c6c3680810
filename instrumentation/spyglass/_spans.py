"""`span()`: a span of the user's own, under which LLM calls become children."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

_TRACER_NAME = "spyglass"


def _attribute(value: Any) -> AttributeValue:
    """OTel attributes take scalars and homogeneous lists; anything else is recorded as JSON."""
    if isinstance(value, str | bool | int | float):
        return value
    homogeneous = isinstance(value, list | tuple) and len({type(v) for v in value}) == 1
    if homogeneous and isinstance(value[0], str | bool | int | float):
        return list(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):  # keys that are not strings, circular references
        return str(value)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """Open a span; exceptions inside mark it as an error and propagate untouched."""
    tracer = trace.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        name,
        attributes={
            key: _attribute(value) for key, value in attributes.items() if value is not None
        },
    ) as current:
        yield current
