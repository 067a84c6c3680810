"""Spans from OpenLLMetry (Traceloop's `opentelemetry-instrumentation-anthropic` and `-openai`).

It has written three forms over time, all read here:

- up to 0.53, each message flattened into indexed keys (`gen_ai.prompt.N.role`,
  `gen_ai.completion.N.content`, ...), a block list as JSON text, and thinking as a completion
  of its own whose role is "thinking";
- from 0.54, the GenAI JSON messages that `otel_genai` reads. Only the instrumentation scope
  tells these spans from other GenAI emitters;
- with `use_attributes=False`, the content leaves the span for log events that carry no trace or
  span id, so the span keeps only its metadata. Such events are read if they do reach the span.

Two of its habits are kept as reported. From 0.54 it maps finish reasons onto the GenAI scale
(end_turn becomes stop); `finish_reasons` keeps its word and `finish_reasons_normalized` puts
every version on one scale. For a streamed Anthropic call its output count includes
message_start's placeholder (conventions.md, section 0.5): no raw usage travels with these
spans to recount from, so the count stays and a note in `notes` says so. Its input count
includes the cache reads and writes in every version that records them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from app.conventions import anthropic_blocks, shapes
from app.conventions.common import (
    LlmSummary,
    as_int,
    as_str,
    clipped,
    first,
    jsonable,
    normalize_finish_reason,
    streaming,
    structured,
)
from app.conventions.otel_genai import CONVENTION as GENAI
from app.conventions.otel_genai import MAX_PARAM_CHARS, request_params

# The instrumentation scopes of its Anthropic and OpenAI instrumentors. The OTel contrib's own
# `opentelemetry.instrumentation.openai_v2` shares the start of the name, not the dot.
ANTHROPIC_SCOPE = "opentelemetry.instrumentation.anthropic"
OPENAI_SCOPE = "opentelemetry.instrumentation.openai"
LEGACY_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.")
LEGACY_KEY = re.compile(r"gen_ai\.(prompt|completion)\.(\d+)\.(.+)", re.DOTALL)
TOOL_KEY = re.compile(r"llm\.request\.functions\.(\d+)\.(.+)", re.DOTALL)
CALL_KEY = re.compile(r"(tool_calls|function_call)(?:\.(\d+))?\.(.+)", re.DOTALL)
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")

# Every name a count has had, newest first: the GenAI names, then OpenLLMetry's own.
INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
OUTPUT_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
)
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.usage.cache_read_input_tokens",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.usage.cache_creation_input_tokens",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
)
STREAM_FLAGS = ("gen_ai.request.stream", "gen_ai.is_streaming", "llm.is_streaming")
# Request parameters outside `gen_ai.request.*`, by the name the API gives them.
OTHER_PARAMS = {
    "gen_ai.is_streaming": "stream",
    "llm.is_streaming": "stream",
    "llm.top_k": "top_k",
    "llm.frequency_penalty": "frequency_penalty",
    "llm.presence_penalty": "presence_penalty",
    "llm.chat.stop_sequences": "stop_sequences",
    "llm.user": "user",
    "llm.headers": "headers",
}
# `llm.request.type` says "completion" even for a chat (conventions.md, section 6.1).
OPERATIONS = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}
THINKING_ROLES = ("thinking", "reasoning")
CHUNK_EVENT = "gen_ai.content.completion.chunk"
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
# Parts of the GenAI shape that a block list may already hold, kept as they are.
GENAI_PARTS = frozenset(
    {"reasoning", "tool_call", "server_tool_call", "tool_call_response", "blob", "uri", "file"}
)

NOTE_CONTENT_ELSEWHERE = {
    "kind": "content_elsewhere",
    "message": (
        "This span has no messages and no request model, as OpenLLMetry writes its spans when "
        "it sends the messages as log events instead (use_attributes=False). Those events "
        "carry no trace or span id, so they cannot be joined to this span."
    ),
}
NOTE_STREAM_OUTPUT_TOKENS = {
    "kind": "output_tokens_overcounted",
    "message": (
        "For a streamed Anthropic call, OpenLLMetry adds message_start's placeholder output "
        "count (usually 1) to the final count, so the output tokens shown, as it reported "
        "them, may be that much too high."
    ),
}


class OpenLLMetry:
    name = "openllmetry"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        if not isinstance(attributes, dict):
            return False
        if _is_legacy(attributes):
            return True
        scope = scope_name if isinstance(scope_name, str) else ""
        ours = scope in (ANTHROPIC_SCOPE, OPENAI_SCOPE) or scope.startswith(OPENAI_SCOPE + ".")
        return ours and any(
            isinstance(key, str) and key.startswith(("gen_ai.", "llm.")) for key in attributes
        )

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        if not isinstance(attributes, dict):
            attributes = {}
        summary = GENAI.summarize(attributes)
        summary.provider = _provider(attributes)
        summary.request_model = as_str(
            first(attributes, "gen_ai.request.model", "llm.request.model")
        )
        summary.response_model = as_str(
            first(attributes, "gen_ai.response.model", "llm.response.model")
        )
        summary.input_tokens = _count(attributes, INPUT_KEYS)
        summary.output_tokens = _count(attributes, OUTPUT_KEYS)
        summary.cache_read_input_tokens = _count(attributes, CACHE_READ_KEYS)
        summary.cache_creation_input_tokens = _count(attributes, CACHE_WRITE_KEYS)
        if not summary.finish_reasons and _is_legacy(attributes):
            summary.finish_reasons = _finish_reasons(_legacy_output(attributes))
        summary.streaming = summary.streaming or any(
            attributes.get(flag) is True for flag in STREAM_FLAGS
        )
        return summary

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The call; `parts` are unused (OpenLLMetry records a call in one span), `events`
        give a stream's chunks, and `logs` the messages when they were sent as log events."""
        if not isinstance(attributes, dict):
            attributes = {}
        summary = self.summarize(attributes)
        anthropic = summary.provider == "anthropic"
        if _is_legacy(attributes):
            system, inputs = _legacy_input(attributes, anthropic)
            outputs = _legacy_output(attributes)
            tools = _legacy_tools(attributes)
        else:
            genai = GENAI.conversation(attributes)
            system, inputs = genai["system_instructions"], genai["input_messages"]
            outputs, tools = genai["output_messages"], genai["tools"]
        notes: list[dict[str, str]] = []
        logged = _from_logs(logs, anthropic)
        if logged is not None:
            system, inputs = system or logged["system"], inputs or logged["input"]
            outputs, tools = outputs or logged["output"], tools or logged["tools"]
        elif _content_elsewhere(attributes):
            notes.append(NOTE_CONTENT_ELSEWHERE)
        reasons = summary.finish_reasons or _finish_reasons(outputs)
        chunks = _chunks(events)
        if anthropic and summary.streaming and summary.output_tokens is not None:
            notes.append(NOTE_STREAM_OUTPUT_TOKENS)
        usage: dict[str, int | None] = summary.usage()
        reasoning = _count(attributes, REASONING_KEYS)
        if reasoning is not None:
            usage["reasoning_output_tokens"] = reasoning
        return jsonable(
            {
                "provider": summary.provider,
                "operation": _operation(attributes),
                "request_model": summary.request_model,
                "response_model": summary.response_model,
                "system_instructions": system,
                "input_messages": inputs,
                "output_messages": outputs,
                "tools": [anthropic_blocks.with_parameters(tool) for tool in tools],
                "request_params": _request_params(attributes),
                "usage": usage,
                "finish_reasons": reasons,
                "finish_reasons_normalized": [normalize_finish_reason(r) for r in reasons],
                "streaming": _streaming(summary, chunks),
                "notes": notes,
            }
        )


# --- which form --------------------------------------------------------------------------------


def _is_legacy(attributes: dict[str, Any]) -> bool:
    return any(
        isinstance(key, str) and key.startswith(LEGACY_PREFIXES) and LEGACY_KEY.fullmatch(key)
        for key in attributes
    )


def _content_elsewhere(attributes: dict[str, Any]) -> bool:
    """Whether the span is one of events mode, which keeps the operation, provider and usage
    but no content and, unlike a span whose content capture is off, no request model."""
    return (
        any(key in attributes for key in ("gen_ai.operation.name", "gen_ai.provider.name"))
        and not any(
            key in attributes
            for key in (*CONTENT_KEYS, "gen_ai.request.model", "llm.request.model")
        )
        and not _is_legacy(attributes)
    )


# --- the summary -------------------------------------------------------------------------------


def _provider(attributes: dict[str, Any]) -> str | None:
    # Up to 0.53 the Anthropic instrumentor wrote `gen_ai.system` as "Anthropic".
    provider = as_str(first(attributes, "gen_ai.provider.name", "gen_ai.system", "llm.vendor"))
    return (provider.strip().lower() or None) if provider else None


def _count(attributes: dict[str, Any], keys: Iterable[str]) -> int | None:
    """The first usable count under any of its names."""
    for key in keys:
        count = as_int(attributes.get(key))
        if count is not None:
            return count
    return None


def _finish_reasons(messages: list[dict[str, Any]]) -> list[str]:
    reasons = (message.get("finish_reason") for message in messages)
    return [reason for reason in reasons if isinstance(reason, str) and reason]


def _operation(attributes: dict[str, Any]) -> str | None:
    operation = as_str(attributes.get("gen_ai.operation.name"))
    if operation:
        return operation
    kind = as_str(attributes.get("llm.request.type"))
    if kind == "completion" and any("role" in f for f in _indexed(attributes, "prompt")):
        return "chat"  # messages with roles: the Messages API, which it calls completion too
    return OPERATIONS.get(kind, kind) if kind else None


def _request_params(attributes: dict[str, Any]) -> dict[str, Any]:
    params = request_params(attributes)
    for key, name in OTHER_PARAMS.items():
        if key in attributes:
            params.setdefault(name, clipped(structured(attributes[key]), MAX_PARAM_CHARS))
    return params


def _streaming(summary: LlmSummary, chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What is known of a stream. OpenLLMetry's OpenAI instrumentor adds an event per chunk;
    their times are absolute and the span's start is not given here, so they give the chunk
    count and when the first and last chunk came, not the time to the first one."""
    if not (summary.streaming or chunks):
        return None
    block = streaming(
        time_to_first_token_ms=summary.time_to_first_token_ms,
        chunk_count=len(chunks) or None,
    )
    times = [chunk["time"] for chunk in chunks if _instant(chunk.get("time")) is not None]
    if times:
        block["first_chunk_time"], block["last_chunk_time"] = times[0], times[-1]
    return block


def _chunks(events: Any) -> list[dict[str, Any]]:
    if not isinstance(events, list | tuple):
        return []
    return [e for e in events if isinstance(e, dict) and e.get("name") == CHUNK_EVENT]


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the indexed form (up to 0.53) -------------------------------------------------------------


def _indexed(attributes: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The fields of each `gen_ai.<kind>.N.*`, in the order of N as a number."""
    entries: dict[str, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key.startswith(LEGACY_PREFIXES):
            continue
        match = LEGACY_KEY.fullmatch(key)
        if match and match[1] == kind:
            entries.setdefault(match[2].lstrip("0") or "0", {})[match[3]] = value
    # Digits compared as numbers without int(), which refuses past 4300 of them.
    return [entries[index] for index in sorted(entries, key=lambda n: (len(n), n))]


def _legacy_input(
    attributes: dict[str, Any], anthropic: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The system instructions and the input messages.

    Anthropic takes its system prompt beside the messages, and OpenLLMetry wrote it as prompt
    0 with role "system": it goes back to the instructions. OpenAI's system message is one of
    the messages, and stays one, as the current form keeps it.
    """
    messages = [_legacy_message(fields, "user") for fields in _indexed(attributes, "prompt")]
    system: list[dict[str, Any]] = []
    while anthropic and messages and messages[0].get("role") == "system":
        system.extend(messages.pop(0)["parts"])
    return system, messages


def _legacy_output(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """One message per choice. A "thinking" completion is the reasoning of the completion
    after it: Anthropic returns one message, which OpenLLMetry split at each thinking block."""
    messages: list[dict[str, Any]] = []
    thinking: dict[str, Any] = {}  # the thinking completions not yet given to a message
    for fields in _indexed(attributes, "completion"):
        message = _legacy_message(fields, "assistant")
        if message["role"] in THINKING_ROLES:
            _think(thinking, message)
        else:
            messages.append(_with_thinking(message, thinking))
            thinking = {}
    if thinking:  # thinking and nothing after it
        if messages:
            messages[-1]["parts"].extend(thinking["parts"])
        else:
            messages.append(_with_thinking({"role": "assistant", "parts": []}, thinking))
    return messages


def _think(thinking: dict[str, Any], message: dict[str, Any]) -> None:
    """Gather a thinking completion: its text is reasoning, its other fields are kept."""
    thinking.setdefault("parts", []).extend(_as_reasoning(part) for part in message["parts"])
    for key, value in message.items():
        if key not in ("role", "parts"):
            thinking.setdefault(key, value)


def _with_thinking(message: dict[str, Any], thinking: dict[str, Any]) -> dict[str, Any]:
    """The message with the reasoning before it first, and its finish reason when it has none
    (in 0.53 only the first completion of a message got one)."""
    if not thinking:
        return message
    message["parts"] = [*thinking["parts"], *message["parts"]]
    for key, value in thinking.items():
        if key != "parts" and message.get(key) is None:
            message[key] = value
    return message


def _as_reasoning(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") == "text":
        return {**part, "type": "reasoning"}
    return part


def _legacy_message(fields: dict[str, Any], default_role: str) -> dict[str, Any]:
    """One message from its flattened fields; a field not understood stays on the message."""
    message: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    indexed_calls: dict[tuple[str, str], dict[str, Any]] = {}
    whole_calls: list[Any] = []
    extra: dict[str, Any] = {}
    for field, value in fields.items():
        call = CALL_KEY.fullmatch(field)
        if field in ("role", "tool_call_id"):
            continue
        if field in ("content", "user"):  # "user": the prompt of the old completions API
            parts.extend(content_parts(value))
        elif field == "finish_reason" and isinstance(value, str):
            message["finish_reason"] = value
        elif field == "name" and isinstance(value, str):
            message["name"] = value
        elif call:
            indexed_calls.setdefault((call[1], call[2] or ""), {})[call[3]] = value
        elif field in ("tool_calls", "function_call"):
            listed = structured(value)
            whole_calls.extend(listed if isinstance(listed, list) else [listed])
        else:
            extra[field] = value
    role = fields.get("role")
    message["role"] = role if isinstance(role, str) and role else default_role
    if role is not None and not (isinstance(role, str) and role):
        message["raw_role"] = role
    call_id = fields.get("tool_call_id")
    if isinstance(call_id, str) and call_id:
        # An OpenAI tool message: its content is the result of that call.
        response = _response_of(parts, fields.get("content"))
        parts = [{"type": "tool_call_response", "id": call_id, "response": response}]
    elif call_id is not None:
        extra["tool_call_id"] = call_id
    ordered = sorted(indexed_calls.items(), key=lambda item: _call_order(item[0]))
    _add_calls(parts, [*(call for _, call in ordered), *whole_calls])
    if "parts" in extra:  # not ours to read, and not to be taken for the parts read
        extra["raw_parts"] = extra.pop("parts")
    extra.update(message)  # the fields read win over leftovers of the same name
    return {"role": extra.pop("role"), "parts": parts, **extra}


def _call_order(key: tuple[str, str]) -> tuple[str, int, str]:
    name, index = key
    digits = index.lstrip("0") or "0" if index else ""
    return (name, len(digits), digits)


def _response_of(parts: list[dict[str, Any]], content: Any) -> Any:
    """A tool result as sent: its text, or its parts when it had more than text."""
    if isinstance(content, str) and parts == [{"type": "text", "content": content}]:
        return content
    return parts


def _add_calls(parts: list[dict[str, Any]], calls: list[Any]) -> None:
    """Add each tool call not among the parts already: up to 0.53 the Anthropic instrumentor
    wrote an input message's tool_use blocks both in its content and as `tool_calls`."""
    known = {
        part.get("id")
        for part in parts
        if part.get("type") == "tool_call" and isinstance(part.get("id"), str)
    }
    for call in calls:
        part = shapes.openai_tool_call(call)
        ident = part.get("id")
        if isinstance(ident, str) and ident:
            if ident in known:
                continue
            known.add(ident)
        parts.append(part)


def _legacy_tools(attributes: dict[str, Any]) -> list[Any]:
    tools: dict[str, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = TOOL_KEY.fullmatch(key) if isinstance(key, str) else None
        if match:
            tools.setdefault(match[1].lstrip("0") or "0", {})[match[2]] = structured(value)
    found = [tools[index] for index in sorted(tools, key=lambda n: (len(n), n))]
    return found or shapes.tools(attributes.get("gen_ai.tool.definitions"))


# --- content blocks ----------------------------------------------------------------------------


def content_parts(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The parts of a message's content: text, JSON text of a block list, or blocks.

    Text that merely looks like JSON stays text: only a list of typed blocks (or one) is read
    as blocks, the way OpenLLMetry writes them.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parsed = structured(value)
        if isinstance(parsed, dict) and _typed(parsed):
            return [block_part(parsed, depth)]
        if isinstance(parsed, list) and parsed and all(_typed(item) for item in parsed):
            return [block_part(item, depth) for item in parsed]
        return [{"type": "text", "content": value}]
    if isinstance(value, list | tuple):
        return [block_part(item, depth) for item in value]
    return [block_part(value, depth)]


def block_part(block: Any, depth: int = 0) -> dict[str, Any]:
    """One content block (Anthropic's, OpenAI's, or already a GenAI part) as a part, with every
    field of the block kept. A kind not known here is kept as `{"type": <its type>, "raw": <it>}`.
    """
    if _typed(block) and block["type"] in GENAI_PARTS and depth < shapes.MAX_NESTING:
        return shapes.part(block)
    return anthropic_blocks.block(block, depth, whole=True)


def _typed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and bool(value["type"])


# --- log events (events mode) ------------------------------------------------------------------


def _from_logs(logs: Any, anthropic: bool) -> dict[str, list[Any]] | None:
    """The messages of the call from the per-message log events, when any reached its span.

    Each Anthropic content block of the answer is a `gen_ai.choice` of its own (thinking 0,
    text 1), so for Anthropic the choices are one message; for others, one per index.
    """
    if not isinstance(logs, list | tuple):
        return None
    found: dict[str, list[Any]] = {"system": [], "input": [], "output": [], "tools": []}
    choices: dict[Any, dict[str, Any]] = {}
    for log in logs:
        if not isinstance(log, dict):
            continue
        attributes = log.get("attributes") if isinstance(log.get("attributes"), dict) else {}
        name = log.get("event_name") or attributes.get("event.name")
        if not isinstance(name, str):
            continue
        body = structured(log.get("body"))
        if name == CHOICE_EVENT:
            _add_choice(choices, body, anthropic)
        elif name in MESSAGE_EVENTS:
            _add_message(found, MESSAGE_EVENTS[name], body, anthropic)
    if not any(found.values()) and not choices:
        return None
    found["output"] = list(choices.values())
    return found


def _add_message(found: dict[str, list[Any]], role: str, body: Any, anthropic: bool) -> None:
    if not isinstance(body, dict):
        found["input"].append({"role": role, "parts": [shapes.raw_part(body)]})
        return
    content = structured(body.get("content"))
    if role == "user" and isinstance(content, dict) and "tools" in content and not _typed(content):
        # How events mode sends the tool definitions.
        tools = structured(content["tools"])
        found["tools"].extend(tools if isinstance(tools, list) else [tools])
        return
    parts = content_parts(content)
    ident = body.get("id")
    if role == "tool" and isinstance(ident, str) and ident:
        response = _response_of(parts, content)
        parts = [{"type": "tool_call_response", "id": ident, "response": response}]
    calls = body.get("tool_calls")
    _add_calls(parts, calls if isinstance(calls, list) else [])
    if role == "system" and anthropic:
        found["system"].extend(parts)
    else:
        own = body.get("role")
        found["input"].append(
            {"role": own if isinstance(own, str) and own else role, "parts": parts}
        )


def _add_choice(choices: dict[Any, dict[str, Any]], body: Any, anthropic: bool) -> None:
    if not isinstance(body, dict):
        choices.setdefault(len(choices), {"role": "assistant", "parts": []})["parts"].append(
            shapes.raw_part(body)
        )
        return
    index = body.get("index")
    key = 0 if anthropic else (index if isinstance(index, int | str) else len(choices))
    message = choices.setdefault(key, {"role": "assistant", "parts": []})
    inner = body.get("message")
    if isinstance(inner, dict):
        if isinstance(inner.get("role"), str) and inner["role"]:
            message["role"] = inner["role"]
        message["parts"].extend(content_parts(structured(inner.get("content"))))
    elif inner is not None:
        message["parts"].append(shapes.raw_part(inner))
    calls = body.get("tool_calls")
    _add_calls(message["parts"], calls if isinstance(calls, list) else [])
    reason = body.get("finish_reason")
    if isinstance(reason, str) and reason and "finish_reason" not in message:
        message["finish_reason"] = reason


CONVENTION = OpenLLMetry()
