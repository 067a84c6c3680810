"""Spans from the anthropic SDK's own tracing (scope `com.anthropic.sdk.python`, anthropic ≥ 1.14).

The SDK follows the GenAI conventions, which `otel_genai` reads, with a few words of its own
(anthropic-sdk.md section 7):

- `anthropic.messages.create` (operation `chat`) is the call. It records no
  `gen_ai.response.finish_reasons`, only `anthropic.message.stop_reason`; its cache writes are
  `gen_ai.usage.cache_write.input_tokens`; a streamed call has
  `gen_ai.response.time_to_first_chunk`. Content (`gen_ai.input.messages`…) is there only in
  the SDK's content mode, and never the output of `create(stream=True)`.
- The span covers every retry: `http.request.resend_count` and `http.response.status_code`
  are shown in the conversation's `http` block, with the request id; `error.type` (the API's
  error type) in its `error`. `notes` say what the SDK left out: the messages, outside its
  content mode; the output of `create(stream=True)`; content cut to its size limit.
- The tool runner's span (`anthropic.messages.tool_runner`, operation `invoke_agent`), each
  tool run (`anthropic.custom_tool_use <name>`…, `execute_tool`), token counting
  (`anthropic.messages.count_tokens`) and the SDK's other API calls are not model calls: they
  are read, but not counted as calls (`is_call` false). A tool run shows the call it ran and
  its result (`anthropic.tool_result.content` in content mode); a tool runner shows the tool
  runs beneath it, which the store hands it as its parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.conventions import otel_genai
from app.conventions.common import (
    MAX_REASON_CHARS,
    LlmSummary,
    as_str,
    clipped,
    jsonable,
    streaming,
)
from app.conventions.otel_genai import CONVENTION as GENAI
from app.conventions.otel_genai import MARKERS, MAX_PARAM_CHARS

SCOPE = "com.anthropic.sdk.python"
# Keys only the SDK sets: they tell its spans apart when the scope is not known.
OWN_KEYS = (
    "anthropic.message.stop_reason",
    "anthropic.tool_result.content",
    "anthropic.message.count_tokens.input_tokens",
)
# Spans of Spyglass's own client carry `anthropic.*` keys too; they are not the SDK's.
SPYGLASS_SPAN_TYPE = "spyglass.span.type"
CALL_OPERATION = "chat"
TOOL_RESULT_KEYS = ("gen_ai.tool.call.result", "anthropic.tool_result.content")
# The request parameters the SDK records outside `gen_ai.request.*`, by their API names.
EXTRA_PARAMS = {
    "anthropic.request.service_tier": "service_tier",
    "anthropic.beta": "betas",
}
THINKING = {"anthropic.thinking.type": "type", "anthropic.thinking.budget_tokens": "budget_tokens"}
HTTP = {
    "http.response.status_code": "status_code",
    "http.request.resend_count": "resend_count",
    "anthropic.request.id": "request_id",
}
NOTE_NO_CONTENT = {
    "kind": "content_not_recorded",
    "message": (
        "The anthropic SDK records the messages of a call only in its content mode "
        "(ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content); this span has the metadata only."
    ),
}
NOTE_NO_STREAM_OUTPUT = {
    "kind": "stream_output_not_recorded",
    "message": (
        "For create(stream=True) the anthropic SDK records no output messages, even in content "
        "mode (messages.stream() does); the usage and stop reason are still shown."
    ),
}
NOTE_TRUNCATED = {
    "kind": "content_truncated",
    "message": (
        "The anthropic SDK cut this span's content to its max_content_bytes: it drops "
        "system instructions first, then input, then output."
    ),
}


class AnthropicSdk:
    name = "anthropic-sdk"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        """A span of the SDK's scope (or a platform client's, `….bedrock`…) that says
        anything of GenAI; without a scope, one carrying a key only the SDK sets."""
        if not isinstance(attributes, dict):
            return False
        if isinstance(scope_name, str) and scope_name:
            if scope_name != SCOPE and not scope_name.startswith(SCOPE + "."):
                return False
            return any(key in attributes for key in (*MARKERS, "gen_ai.tool.name"))
        return SPYGLASS_SPAN_TYPE not in attributes and any(key in attributes for key in OWN_KEYS)

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        summary = GENAI.summarize(attributes)
        if not summary.finish_reasons:
            stop_reason = as_str(attributes.get("anthropic.message.stop_reason"))
            if stop_reason is not None:
                summary.finish_reasons = [stop_reason[:MAX_REASON_CHARS]]
        summary.is_call = attributes.get("gen_ai.operation.name") == CALL_OPERATION
        return summary

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        attributes = otel_genai.with_details(attributes, logs)
        summary = self.summarize(attributes)
        conversation = otel_genai.build(
            attributes, summary, events=events, logs=logs, tool_result_keys=TOOL_RESULT_KEYS
        )
        conversation["request_params"].update(jsonable(_request_params(attributes)))
        conversation["http"] = jsonable(_http(attributes))
        if conversation["streaming"] is not None:
            conversation["streaming"] = jsonable(_streaming(attributes, summary))
        if conversation["operation"] == "invoke_agent" and not conversation["output_messages"]:
            conversation["output_messages"] = jsonable(_tool_runs(parts))
        conversation["notes"] = _notes(attributes, conversation)
        return conversation


def _request_params(attributes: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        name: clipped(attributes[key], MAX_PARAM_CHARS)
        for key, name in EXTRA_PARAMS.items()
        if key in attributes
    }
    thinking = {name: attributes[key] for key, name in THINKING.items() if key in attributes}
    if thinking:
        params["thinking"] = clipped(thinking, MAX_PARAM_CHARS)
    return params


def _http(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """How the request went over HTTP: its status, how often it was resent, its request id."""
    found = {
        name: clipped(attributes[key], MAX_PARAM_CHARS)
        for key, name in HTTP.items()
        if attributes.get(key) is not None
    }
    return found or None


def _streaming(attributes: dict[str, Any], summary: LlmSummary) -> dict[str, Any]:
    """The SDK times the first chunk, and ends a stream's span when the stream ends: with a
    stop reason when it got to the end, with an error type when it broke."""
    if "error.type" in attributes:
        complete, outcome = False, "error"
    elif "anthropic.message.stop_reason" in attributes:
        complete, outcome = True, "complete"
    else:
        complete, outcome = None, None
    return streaming(
        time_to_first_token_ms=summary.time_to_first_token_ms, complete=complete, outcome=outcome
    )


def _notes(attributes: dict[str, Any], conversation: dict[str, Any]) -> list[dict[str, str]]:
    """What the SDK is known to leave out of this span."""
    notes = []
    content = any(key in attributes for key in otel_genai.CONTENT_KEYS)
    if conversation["operation"] == CALL_OPERATION and not content:
        notes.append(NOTE_NO_CONTENT)
    elif (
        conversation["streaming"] is not None
        and "gen_ai.input.messages" in attributes
        and not conversation["output_messages"]
        and conversation["error"] is None
    ):
        notes.append(NOTE_NO_STREAM_OUTPUT)
    if attributes.get("anthropic.content.truncated") is True:
        notes.append(NOTE_TRUNCATED)
    return notes


def _tool_runs(parts: Any) -> list[dict[str, Any]]:
    """The tool runs beneath a tool runner's span, each its call and its result, in order."""
    messages: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list | tuple) else ():
        if isinstance(part, dict) and part.get("gen_ai.operation.name") == "execute_tool":
            run = otel_genai.tool_run(part, TOOL_RESULT_KEYS)
            messages.extend([*run.inputs, *run.outputs])
    return messages


CONVENTION = AnthropicSdk()
