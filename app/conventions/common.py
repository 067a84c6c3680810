"""What every convention produces, and the small coercions they share.

Attribute values come from any emitter, so every reader here takes whatever it is given (the
wrong type, NaN, a number past 64 bits, text that is not JSON) and never raises.
"""

from __future__ import annotations

import base64
import json
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

    def usage(self) -> dict[str, int | None]:
        """The `usage` block of a conversation."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
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
    elif isinstance(value, str) and len(value) <= 40:  # int() of 5000 digits raises
        try:
            number = int(value.strip())
        except ValueError:
            return None
    return number if number is not None and 0 <= number <= MAX_COUNT else None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        # float() of an int past 1e308 raises.
        return float(value) if abs(value) <= 2**1000 else None
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# A finish reason is a word (`end_turn`, `tool_use`); one longer than this is an emitter's bug,
# cut so that it cannot bloat the span row it is stored in.
MAX_REASON_CHARS = 200


def as_str_list(value: Any) -> list[str]:
    """A list of strings from a string array, a JSON array in a string, or one bare string."""
    value = structured(value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [item[:MAX_REASON_CHARS] for item in value if isinstance(item, str) and item]


def first(attributes: dict[str, Any], *keys: str) -> Any:
    """The value of the first key present: conventions renamed keys over time."""
    for key in keys:
        if key in attributes:
            return attributes[key]
    return None


def structured(value: Any) -> Any:
    """A value that may arrive as a JSON string or as a structured OTLP value.

    Only text that looks like a JSON array or object is parsed: a plain instruction such as
    "null" or "42" is text, and stays text. So does text that looks like JSON but is not (cut
    short, or nested past the parser's limit): the caller keeps it as it came.
    """
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


# --- output bounds ------------------------------------------------------------------------------

# Deeper than any real conversation (messages, parts, a tool result's documents, a tool's
# arguments), and well inside what JSON encoders accept (orjson stops at 255 levels).
MAX_DEPTH = 96
_INT64 = 2**63


def jsonable(value: Any, depth: int = 0) -> Any:
    """`value` as plain JSON that any encoder writes: nothing dropped, nothing that raises.

    NaN and the infinities become "NaN", "Infinity" and "-Infinity", as the OTLP decoder
    writes them; integers past 64 bits become their digits; keys become strings; a lone
    surrogate in text becomes "?"; anything nested deeper than `MAX_DEPTH` becomes its JSON
    text; any other object its `str()`.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if value.isascii() else _utf8(value)
    if isinstance(value, int):
        return value if -_INT64 <= value < 2 * _INT64 else _big_int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
        return _json_text(value)
    if isinstance(value, dict):
        return {_key(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _utf8(text: str) -> str:
    """`text`, with any lone surrogate (which no UTF-8 encoder writes) replaced."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode(errors="replace").decode()
    return text


def _big_int(value: int) -> str:
    if value.bit_length() > 10_000:  # str() refuses past 4300 digits
        return f"<integer of {value.bit_length()} bits>"
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    text = jsonable(key)
    return text if isinstance(text, str) else json.dumps(text)


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError, TypeError):
        return f"<a {type(value).__name__} nested too deep to show>"


def clipped(value: Any, max_chars: int) -> Any:
    """A small value as it is; a large one as the start of its JSON text, ending in "…".

    For values that sit beside the conversation (request parameters), where one huge value
    must not crowd out the rest. The span's attributes still hold it whole.
    """
    if isinstance(value, str):
        return value if len(value) <= max_chars else value[:max_chars] + "…"
    if isinstance(value, dict | list):
        text = _json_text(jsonable(value))
        return value if len(text) <= max_chars else text[:max_chars] + "…"
    return value


def streaming(**known: Any) -> dict[str, Any]:
    """The `streaming` block of a conversation; what a convention does not record is None.

    `complete` and `outcome` (complete, closed, cancelled or error) are None when unknown: a
    convention that does not record them, or a stream whose own span has not arrived.
    """
    block: dict[str, Any] = {
        "time_to_first_token_ms": None,
        "duration_ms": None,
        "chunk_count": None,
        "output_chars": None,
        "output_tokens_per_second": None,
        "complete": None,
        "outcome": None,
        "timeline": [],
    }
    block.update(known)
    return block


# Finish reasons of every provider and instrumentor, onto the OpenTelemetry GenAI enum. Sources
# disagree (OpenLLMetry maps end_turn to stop, the others keep the provider's word), so a
# conversation carries both: `finish_reasons` as the source reported them, and
# `finish_reasons_normalized` on this one scale.
FINISH_REASONS = {
    "stop": ("end_turn", "stop", "stop_sequence", "pause_turn", "complete", "finished"),
    "length": ("max_tokens", "length", "model_context_window_exceeded", "max_output_tokens"),
    "tool_call": ("tool_use", "tool_calls", "tool_call", "function_call"),
    "content_filter": (
        "refusal",
        "content_filter",
        "safety",
        "recitation",
        "blocklist",
        "prohibited_content",
    ),
    "error": ("error",),
}
_FINISH_BY_RAW = {raw: normal for normal, raws in FINISH_REASONS.items() for raw in raws}


def normalize_finish_reason(reason: str) -> str:
    """One finish reason on the GenAI scale: stop, length, tool_call, content_filter, error;
    anything else is `other(<reason>)`, so nothing is lost."""
    return _FINISH_BY_RAW.get(reason.strip().lower(), f"other({reason})")
