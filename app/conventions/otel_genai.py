"""The OpenTelemetry GenAI semantic conventions (`gen_ai.*`), which our own client emits too.

Messages live in `gen_ai.system_instructions`, `gen_ai.input.messages` and
`gen_ai.output.messages`, either as JSON strings or as structured OTLP values; they already
have the normalised shape, so anything that is not a list of messages is kept as a raw part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.conventions.common import (
    LlmSummary,
    as_float,
    as_int,
    as_str,
    as_str_list,
    first,
    structured,
)

MARKERS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model")


class OtelGenAI:
    name = "otel-genai"

    def claims(self, attributes: dict[str, Any]) -> bool:
        return any(key in attributes for key in MARKERS)

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        ttft_s = as_float(attributes.get("gen_ai.response.time_to_first_chunk"))
        return LlmSummary(
            provider=as_str(first(attributes, "gen_ai.provider.name", "gen_ai.system")),
            request_model=as_str(attributes.get("gen_ai.request.model")),
            response_model=as_str(attributes.get("gen_ai.response.model")),
            input_tokens=as_int(
                first(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
            ),
            output_tokens=as_int(
                first(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
            ),
            cache_read_input_tokens=as_int(attributes.get("gen_ai.usage.cache_read.input_tokens")),
            cache_creation_input_tokens=as_int(
                first(
                    attributes,
                    "gen_ai.usage.cache_write.input_tokens",
                    "gen_ai.usage.cache_creation.input_tokens",
                )
            ),
            finish_reasons=as_str_list(attributes.get("gen_ai.response.finish_reasons")),
            streaming=attributes.get("gen_ai.request.stream") is True or ttft_s is not None,
            time_to_first_token_ms=None if ttft_s is None else ttft_s * 1000.0,
        )

    def conversation(
        self, attributes: dict[str, Any], parts: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        summary = self.summarize(attributes)
        return {
            "provider": summary.provider,
            "operation": as_str(attributes.get("gen_ai.operation.name")),
            "request_model": summary.request_model,
            "response_model": summary.response_model,
            "system_instructions": _parts(attributes.get("gen_ai.system_instructions")),
            "input_messages": _messages(attributes.get("gen_ai.input.messages")),
            "output_messages": _messages(attributes.get("gen_ai.output.messages")),
            "tools": _list(attributes.get("gen_ai.tool.definitions")),
            "request_params": {
                key.removeprefix("gen_ai.request."): value
                for key, value in attributes.items()
                if key.startswith("gen_ai.request.") and key != "gen_ai.request.model"
            },
            "usage": {
                "input_tokens": summary.input_tokens,
                "output_tokens": summary.output_tokens,
                "cache_read_input_tokens": summary.cache_read_input_tokens,
                "cache_creation_input_tokens": summary.cache_creation_input_tokens,
            },
            "finish_reasons": summary.finish_reasons,
        }


def _list(value: Any) -> list[Any]:
    value = structured(value)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parts(value: Any) -> list[dict[str, Any]]:
    """System instructions: a list of parts, or bare text in older emitters."""
    value = structured(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    return [
        part if isinstance(part, dict) else {"type": "raw", "raw": part} for part in _list(value)
    ]


def _messages(value: Any) -> list[dict[str, Any]]:
    messages = []
    for message in _list(value):
        if isinstance(message, dict) and isinstance(message.get("parts"), list):
            messages.append(message)
        else:
            # Not the shape we know: keep it whole rather than guess.
            messages.append({"role": "unknown", "parts": [{"type": "raw", "raw": message}]})
    return messages


CONVENTION = OtelGenAI()
