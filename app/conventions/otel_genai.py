"""The OpenTelemetry GenAI semantic conventions (`gen_ai.*`), which our own client emits too.

Messages live in `gen_ai.system_instructions`, `gen_ai.input.messages` and
`gen_ai.output.messages`, either as JSON strings or as structured OTLP values. They already
have the normalised shape; `shapes` fits whatever else arrives into it, dropping nothing.

Older versions of the conventions kept the content elsewhere, and emitters still send them
(conventions.md section 4). Where the span's attributes hold no messages, they are read from:

- the `gen_ai.client.inference.operation.details` log record (1.37+), whose attributes repeat
  the span's with the messages as structured values (`details_attributes`);
- the per-message log events of 1.28–1.36, `gen_ai.{system,user,assistant,tool}.message` and
  `gen_ai.choice`, whose bodies are OpenAI-shaped (`log_event_content`);
- the span events of 1.26–1.27, `gen_ai.content.prompt` and `gen_ai.content.completion`,
  holding OpenAI messages as JSON text (`span_event_content`).

A span whose operation is not a model call (a tool run, an agent's invocation) is read too,
but is not counted as a call; a tool run shows its call and result as messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
    normalize_finish_reason,
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
# Operations that are not a model call: their spans hold calls, or run between them.
NOT_CALLS = frozenset(
    {"execute_tool", "invoke_agent", "create_agent", "invoke_workflow", "retrieval"}
)
CONTENT_KEYS = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages")
# Where a tool run (`execute_tool`) keeps what it was given and what it answered (1.38).
TOOL_RESULT_KEYS = ("gen_ai.tool.call.result",)

# The older forms of the content (conventions.md sections 3.5 and 4).
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
PROMPT_EVENT, PROMPT_KEY = "gen_ai.content.prompt", "gen_ai.prompt"
COMPLETION_EVENT, COMPLETION_KEY = "gen_ai.content.completion", "gen_ai.completion"
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"


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
            is_call=as_str(attributes.get("gen_ai.operation.name")) not in NOT_CALLS,
        )

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        attributes = with_details(attributes, logs)
        return build(attributes, self.summarize(attributes), events=events, logs=logs)


def build(
    attributes: dict[str, Any],
    summary: LlmSummary,
    *,
    events: Any = (),
    logs: Any = (),
    merge_choices: bool = False,
    tool_result_keys: Sequence[str] = TOOL_RESULT_KEYS,
) -> dict[str, Any]:
    """The conversation of a GenAI span, from its attributes and `summary` (which a convention
    built on this one may have read its own way).

    Content the attributes lack is taken from the span's older-form `events` and `logs`;
    `merge_choices` reads every `gen_ai.choice` event as part of one answer (see
    `log_event_content`). `tool_result_keys` are where a tool run's result may be.
    """
    if not isinstance(attributes, dict):
        attributes = {}
    system = shapes.parts(attributes.get("gen_ai.system_instructions"))
    inputs = shapes.messages(attributes.get("gen_ai.input.messages"))
    outputs = shapes.messages(attributes.get("gen_ai.output.messages"))
    tools = shapes.tools(attributes.get("gen_ai.tool.definitions"))
    older = Content()
    if not (system and inputs and outputs and tools):
        older = log_event_content(logs, merge_choices=merge_choices)
        if older.is_empty():
            older = span_event_content(events)
    operation = as_str(attributes.get("gen_ai.operation.name"))
    if operation == "execute_tool" and not (inputs or outputs or older.inputs or older.outputs):
        run = tool_run(attributes, tool_result_keys)
        older.inputs, older.outputs = run.inputs, run.outputs
        older.tools = older.tools or run.tools
    outputs = outputs or older.outputs
    finish_reasons = (
        summary.finish_reasons or older.finish_reasons or _message_finish_reasons(outputs)
    )
    _fill_finish_reasons(outputs, summary.finish_reasons)
    failed, error = call_error(attributes, events)
    usage: dict[str, int | None] = summary.usage()
    reasoning = as_int(attributes.get("gen_ai.usage.reasoning.output_tokens"))
    if reasoning is not None:
        usage["reasoning_output_tokens"] = reasoning
    return jsonable(
        {
            "provider": summary.provider,
            "operation": operation,
            "request_model": summary.request_model,
            "response_model": summary.response_model,
            "system_instructions": system or older.system,
            "input_messages": inputs or older.inputs,
            "output_messages": outputs,
            "tools": tools or older.tools,
            "request_params": request_params(attributes),
            "usage": usage,
            "finish_reasons": finish_reasons,
            # A call that failed without a reason ended in error (conventions.md 8.3).
            "finish_reasons_normalized": (
                [normalize_finish_reason(reason) for reason in finish_reasons]
                or (["error"] if failed else [])
            ),
            "streaming": (
                streaming(time_to_first_token_ms=summary.time_to_first_token_ms)
                if summary.streaming
                else None
            ),
            "error": error,
        }
    )


def call_error(attributes: dict[str, Any], events: Any = ()) -> tuple[bool, dict[str, Any] | None]:
    """Whether the call failed, and `{"type", "message"}` of what it failed with: the span's
    `exception` event, else its `error.type`, which the conventions set only on failure."""
    exception = next((e for e in _records(events) if e.get("name") == "exception"), None)
    if exception is None and attributes.get("error.type") is None:
        return False, None
    details = exception.get("attributes") if exception is not None else None
    details = details if isinstance(details, dict) else {}
    return True, {
        "type": as_str(details.get("exception.type")) or as_str(attributes.get("error.type")),
        "message": as_str(details.get("exception.message")),
    }


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


@dataclass
class Content:
    """What a source other than the span's content attributes says of the call."""

    system: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    tools: list[Any] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.system or self.inputs or self.outputs or self.tools)


# --- tool runs -----------------------------------------------------------------------------------


def tool_run(attributes: dict[str, Any], result_keys: Sequence[str] = TOOL_RESULT_KEYS) -> Content:
    """An `execute_tool` span as messages: the call it ran, then what the tool answered.

    The call is a `tool_call` part (id, name, arguments) in an assistant message, the result a
    `tool_call_response` in a `tool` message, an error when the span has an `error.type`; the
    tool's name, description and type make its definition. What the span lacks is left out.
    """
    if not isinstance(attributes, dict):
        return Content()
    call: dict[str, Any] = {"type": "tool_call"}
    for key, name in (("gen_ai.tool.call.id", "id"), ("gen_ai.tool.name", "name")):
        if attributes.get(key) is not None:
            call[name] = attributes[key]
    if "gen_ai.tool.call.arguments" in attributes:
        call["arguments"] = shapes.arguments(attributes["gen_ai.tool.call.arguments"])
    content = Content()
    if len(call) > 1:
        content.inputs.append({"role": "assistant", "parts": [call]})
    key = next((key for key in result_keys if key in attributes), None)
    if key is not None:
        response: dict[str, Any] = {"type": "tool_call_response"}
        if "id" in call:
            response["id"] = call["id"]
        response["response"] = structured(attributes[key])
        if "error.type" in attributes:
            response["is_error"] = True
        content.outputs.append({"role": "tool", "parts": [shapes.part(response)]})
    definition = {
        name: attributes[key]
        for key, name in (
            ("gen_ai.tool.name", "name"),
            ("gen_ai.tool.description", "description"),
            ("gen_ai.tool.type", "type"),
        )
        if attributes.get(key) is not None
    }
    if "name" in definition:
        content.tools.append(definition)
    return content


# --- older forms of the content ------------------------------------------------------------------


def with_details(attributes: Any, logs: Any) -> dict[str, Any]:
    """The span's attributes, with what its `gen_ai.client.inference.operation.details` log
    record adds: the record repeats the span's attributes, messages included (which the span
    may have left out), as structured values. The span's own values win."""
    if not isinstance(attributes, dict):
        attributes = {}
    details = details_attributes(logs)
    return {**details, **attributes} if details else attributes


def details_attributes(logs: Any) -> dict[str, Any]:
    """The attributes of the span's `gen_ai.client.inference.operation.details` records, the
    first record's value winning where they overlap."""
    found: dict[str, Any] = {}
    for log in _records(logs):
        if _event_name(log) == DETAILS_EVENT and isinstance(log.get("attributes"), dict):
            for key, value in log["attributes"].items():
                found.setdefault(key, value)
    return found


def log_event_content(logs: Any, *, merge_choices: bool = False) -> Content:
    """The messages of the per-message log events (GenAI 1.28–1.36), in the order given.

    `gen_ai.system.message` gives system instructions; `gen_ai.user.message`,
    `gen_ai.assistant.message` and `gen_ai.tool.message` give input messages (a tool message's
    `id` is the call it answers); `gen_ai.choice` gives an output message per `index`, choices
    with the same index making one message. With `merge_choices`, every choice is part of one
    message: OpenLLMetry sends each content block of one answer as its own choice. A user
    message whose content is only `{"tools": [...]}` is tool definitions (OpenLLMetry again).
    """
    content = Content()
    choices: dict[Any, dict[str, Any]] = {}
    for log in _records(logs):
        name = _event_name(log)
        body = structured(log.get("body"))
        if name in MESSAGE_EVENTS:
            _add_message(content, MESSAGE_EVENTS[name], body)
        elif name == CHOICE_EVENT:
            _add_choice(choices, body, merge_choices)
    for message in choices.values():
        content.outputs.append(message)
        reason = message.get("finish_reason")
        if isinstance(reason, str) and reason:
            content.finish_reasons.append(reason)
    content.finish_reasons = as_str_list(content.finish_reasons)
    return content


def span_event_content(events: Any) -> Content:
    """The messages of `gen_ai.content.prompt` / `gen_ai.content.completion` span events
    (GenAI 1.26–1.27): OpenAI chat messages as JSON text, in `gen_ai.prompt` and
    `gen_ai.completion`. A completion may also list choices (`{"message", "finish_reason"}`).
    """
    content = Content()
    for event in _records(events):
        name, attributes = event.get("name"), event.get("attributes")
        if not isinstance(attributes, dict):
            continue
        if name == PROMPT_EVENT and PROMPT_KEY in attributes:
            content.inputs.extend(_event_messages(attributes[PROMPT_KEY], "user"))
        elif name == COMPLETION_EVENT and COMPLETION_KEY in attributes:
            for message in _event_messages(attributes[COMPLETION_KEY], "assistant"):
                content.outputs.append(message)
                reason = message.get("finish_reason")
                if isinstance(reason, str) and reason:
                    content.finish_reasons.append(reason)
    content.finish_reasons = as_str_list(content.finish_reasons)
    return content


def _event_messages(value: Any, role: str) -> list[dict[str, Any]]:
    """Messages from an event's JSON: a list of messages or choices, one, or bare text."""
    value = structured(value)
    if isinstance(value, str):
        return [{"role": role, "parts": [{"type": "text", "content": value}]}]
    messages = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and isinstance(item.get("message"), dict):
            messages.append(_choice_message(item))
        elif isinstance(item, dict) and "parts" not in item and "role" not in item:
            messages.append(shapes.openai_message({"role": role, **item}))
        else:
            messages.append(shapes.openai_message(item))
    return messages


def _add_message(content: Content, role: str, body: Any) -> None:
    if not isinstance(body, dict):
        body = {"content": body}
    if role == "system":
        content.system.extend(shapes.openai_content(body.get("content")))
        rest = {key: value for key, value in body.items() if key not in ("content", "role")}
        if rest:  # nothing dropped: what else the event says stays beside the instructions
            content.system.append(shapes.raw_part(rest, "system_message"))
        return
    inner = structured(body.get("content"))
    if role == "user" and isinstance(inner, dict) and inner.keys() == {"tools"}:
        content.tools.extend(shapes.tools(inner["tools"]))
        return
    message: dict[str, Any] = {"role": role, "content": None, **body}
    if role == "tool" and "id" in message and "tool_call_id" not in message:
        message["tool_call_id"] = message.pop("id")
    content.inputs.append(shapes.openai_message(message))


def _add_choice(choices: dict[Any, dict[str, Any]], body: Any, merge: bool) -> None:
    if not isinstance(body, dict):
        body = {"message": {"content": body}}
    message = _choice_message(body)
    index = body.get("index")
    key = 0 if merge else (index if isinstance(index, int | str) else len(choices))
    if key not in choices:
        choices[key] = message
        return
    merged = choices[key]
    merged["parts"].extend(message["parts"])
    for name, value in message.items():
        if name != "parts" and value is not None:
            merged.setdefault(name, value)
            if merged[name] is None:
                merged[name] = value


def _choice_message(choice: dict[str, Any]) -> dict[str, Any]:
    """A `gen_ai.choice` body (or a completion's choice): `{index, finish_reason, message,
    tool_calls}`, as one output message."""
    inner = structured(choice.get("message"))
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(inner, dict):
        message.update(inner)
    elif inner is not None:
        message["content"] = inner
    if "tool_calls" in choice:  # beside the message, in the 1.28+ event body
        message["tool_calls"] = [
            *_items(message.get("tool_calls")),
            *_items(choice["tool_calls"]),
        ]
    result = shapes.openai_message(message)
    for key, value in choice.items():
        if key not in ("message", "tool_calls"):
            result.setdefault(key, value)
    return result


def _items(value: Any) -> list[Any]:
    value = structured(value)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _records(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, dict)]


def _event_name(log: dict[str, Any]) -> Any:
    """A log record's event name: its own field, or (older SDKs) the `event.name` attribute."""
    name = log.get("event_name")
    if not name and isinstance(log.get("attributes"), dict):
        name = log["attributes"].get("event.name")
    return name


CONVENTION = OtelGenAI()
