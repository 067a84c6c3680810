"""What every convention produces, and the small coercions they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class LlmSummary:
    """The facts about one LLM call that lists and totals need, stored as span columns."""

    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None  # the total input, cache reads and writes included
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    finish_reasons: list[str] = field(default_factory=list)
    streaming: bool = False
    time_to_first_token_ms: float | None = None
    # False when the span is part of a call that another span counts (a streamed response).
    is_call: bool = True

    @staticmethod
    def columns(convention: str | None, summary: LlmSummary | None) -> dict[str, Any]:
        s = summary or LlmSummary()
        return {
            "llm_convention": convention,
            "llm_is_call": s.is_call if summary else None,
            "llm_provider": s.provider,
            "llm_request_model": s.request_model,
            "llm_response_model": s.response_model,
            "llm_input_tokens": s.input_tokens,
            "llm_output_tokens": s.output_tokens,
            "llm_cache_read_tokens": s.cache_read_input_tokens,
            "llm_cache_creation_tokens": s.cache_creation_input_tokens,
            "llm_finish_reasons": s.finish_reasons if summary else None,
            "llm_streaming": s.streaming if summary else None,
            "llm_ttft_ms": s.time_to_first_token_ms,
        }


# No real call counts past a trillion tokens. A larger or negative count is an emitter's bug;
# storing it would overflow the 64-bit sums of a trace summary and refuse the whole batch.
# The raw attribute is kept either way.
MAX_COUNT = 10**12


def as_int(value: Any) -> int | None:
    """A token count from an attribute that may be an int, a float or a numeric string."""
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    return number if number is not None and 0 <= number <= MAX_COUNT else None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def first(attributes: dict[str, Any], *keys: str) -> Any:
    """The value of the first key present: conventions renamed keys over time."""
    for key in keys:
        if key in attributes:
            return attributes[key]
    return None


def structured(value: Any) -> Any:
    """A value that may arrive as a JSON string or as a structured OTLP value.

    Only text that looks like a JSON array or object is parsed: a plain instruction such as
    "null" or "42" is text, and stays text.
    """
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value
