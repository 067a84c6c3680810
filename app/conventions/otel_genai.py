"""The OpenTelemetry GenAI semantic conventions (`gen_ai.*`), which our own client emits too.

Messages live in `gen_ai.system_instructions`, `gen_ai.input.messages` and
`gen_ai.output.messages`, either as JSON strings or as structured OTLP values. They already
have the normalised shape; `shapes` fits whatever else arrives into it, dropping nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.conventions import shapes
from app.conventions.common import (
    LlmSummary,
    as_float,
    as_int,
    as_str,
    as_str_list,
    clipped,
    first,
    jsonable,
    streaming,
    structured,
)

MARKERS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model")
PARAM_PREFIX = "gen_ai.request."
# Under the prefix, but what the call is rather than how it was asked.
NOT_PARAMS = frozenset({"gen_ai.request.model"})
# Request parameters kept outside the prefix.
OTHER_PARAMS = {"gen_ai.output.type": "output_type"}
# A parameter's value past this many characters (of its JSON) is shown cut; the span's
# attributes keep it whole.
MAX_PARAM_CHARS = 2_000


class OtelGenAI:
    name = "otel-genai"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        return isinstance(attributes, dict) and any(key in attributes for key in MARKERS)

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        ttft_s = as_float(attributes.get("gen_ai.response.time_to_first_chunk"))
        cache_read = as_int(attributes.get("gen_ai.usage.cache_read.input_tokens"))
        cache_write = as_int(
            first(
                attributes,
                "gen_ai.usage.cache_write.input_tokens",
                "gen_ai.usage.cache_creation.input_tokens",
            )
        )
        return LlmSummary(
            provider=as_str(first(attributes, "gen_ai.provider.name", "gen_ai.system")),
            request_model=as_str(attributes.get("gen_ai.request.model")),
            response_model=as_str(attributes.get("gen_ai.response.model")),
            # The whole input, cache included: the conventions say so since 1.40, the version
            # that added the cache counts, and our own client follows them.
            input_tokens=as_int(
                first(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
            ),
            output_tokens=as_int(
                first(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
            ),
            cache_read_input_tokens=cache_read,
            cache_creation_input_tokens=cache_write,
            finish_reasons=as_str_list(attributes.get("gen_ai.response.finish_reasons")),
            streaming=attributes.get("gen_ai.request.stream") is True or ttft_s is not None,
            # as_float again: seconds near the float limit overflow as milliseconds.
            time_to_first_token_ms=None if ttft_s is None else as_float(ttft_s * 1000.0),
        )

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        if not isinstance(attributes, dict):
            attributes = {}
        summary = self.summarize(attributes)
        output_messages = shapes.messages(attributes.get("gen_ai.output.messages"))
        finish_reasons = summary.finish_reasons or _message_finish_reasons(output_messages)
        _fill_finish_reasons(output_messages, summary.finish_reasons)
        return jsonable(
            {
                "provider": summary.provider,
                "operation": as_str(attributes.get("gen_ai.operation.name")),
                "request_model": summary.request_model,
                "response_model": summary.response_model,
                "system_instructions": shapes.parts(attributes.get("gen_ai.system_instructions")),
                "input_messages": shapes.messages(attributes.get("gen_ai.input.messages")),
                "output_messages": output_messages,
                "tools": shapes.tools(attributes.get("gen_ai.tool.definitions")),
                "request_params": request_params(attributes),
                "usage": summary.usage(),
                "finish_reasons": finish_reasons,
                "streaming": (
                    streaming(time_to_first_token_ms=summary.time_to_first_token_ms)
                    if summary.streaming
                    else None
                ),
            }
        )


def request_params(attributes: dict[str, Any]) -> dict[str, Any]:
    """`gen_ai.request.*` but the model, by their short names, large values cut."""
    params: dict[str, Any] = {}
    for key, value in attributes.items():
        if not isinstance(key, str):
            continue
        if key.startswith(PARAM_PREFIX) and key not in NOT_PARAMS:
            name = key.removeprefix(PARAM_PREFIX)
        elif key in OTHER_PARAMS:
            name = OTHER_PARAMS[key]
        else:
            continue
        # Some emitters send an array parameter (stop sequences) as JSON text.
        params[name] = clipped(structured(value), MAX_PARAM_CHARS)
    return params


def _message_finish_reasons(messages: list[dict[str, Any]]) -> list[str]:
    """The reasons the output messages give, for an emitter that sets no finish_reasons."""
    reasons = [message.get("finish_reason") for message in messages]
    return as_str_list([reason for reason in reasons if isinstance(reason, str)])


def _fill_finish_reasons(messages: list[dict[str, Any]], reasons: list[str]) -> None:
    """Give each output message its choice's finish reason when it does not say it itself.

    The GenAI conventions moved the reason out of the output message into
    `gen_ai.response.finish_reasons`, one per choice, in the order of the messages.
    """
    for message, reason in zip(messages, reasons, strict=False):
        if message.get("finish_reason") is None:
            message["finish_reason"] = reason


CONVENTION = OtelGenAI()
