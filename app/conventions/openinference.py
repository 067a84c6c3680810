"""Spans from OpenInference instrumentors (Arize Phoenix): `openinference.span.kind` = "LLM".

OpenInference flattens each message into indexed keys
(`llm.input_messages.1.message.contents.0.message_content.text`); this module rebuilds the
messages from them. It also reads the raw request and response the instrumentors keep as JSON
(`input.value`, `output.value`, `llm.invocation_parameters`) for what some versions leave out
or count wrong: the Anthropic `system` parameter, tool call ids and thinking in 0.1.x, and the
input tokens of 0.1.20 streams. Other span kinds (CHAIN, TOOL, AGENT…) are context, not calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from app.conventions import anthropic_blocks, shapes
from app.conventions.common import (
    LlmSummary,
    as_float,
    as_int,
    as_str,
    as_str_list,
    clipped,
    jsonable,
    normalize_finish_reason,
    streaming,
    structured,
)
from app.conventions.otel_genai import MAX_PARAM_CHARS

KIND = "openinference.span.kind"
INPUT_MESSAGES = "llm.input_messages"
OUTPUT_MESSAGES = "llm.output_messages"
MESSAGE_PREFIXES = (f"{INPUT_MESSAGES}.", f"{OUTPUT_MESSAGES}.")
CONVERSATION_KEYS = ("system_instructions", "input_messages", "output_messages")
# The openai instrumentor marks the first streamed token with this span event.
FIRST_TOKEN_EVENT = "First Token Stream Event"
# Request keys shown elsewhere in the conversation than among the parameters.
NOT_PARAMS = frozenset({"model", "messages", "system", "tools"})
# A key is split at most this often: the tree of one key is never deeper.
MAX_SEGMENTS = 12
# Structured values nested deeper than this are kept whole rather than flattened.
MAX_FLAT_DEPTH = 16
DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", re.DOTALL)
# How the capture tests write an event's time: an offset from the span's start.


class OpenInference:
    name = "openinference"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        if not isinstance(attributes, dict):
            return False
        kind = attributes.get(KIND)
        return isinstance(kind, str) and kind.strip().upper() == "LLM"

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        return _Span(attributes).summary()

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        return jsonable(_Span(attributes).conversation(events))

    def search_values(self, attributes: dict[str, Any]) -> list[Any]:
        """The values that hold the call's words, read straight off the attributes.

        The flattened messages are already text (and tool arguments JSON text): building the
        whole conversation for them, as the viewer does, cost half of ingest. A span without
        them (an old instrumentor's) is read through its conversation.
        """
        found = [v for k, v in attributes.items() if k.startswith(MESSAGE_PREFIXES)]
        if not found:
            conversation = self.conversation(attributes)
            return [conversation.get(key) for key in CONVERSATION_KEYS]
        # Anthropic's instructions are a parameter; newer versions repeat them as a message.
        system = _dict(attributes.get("llm.invocation_parameters")).get("system")
        # Blocks the flattened output leaves out (thinking) are in the raw response.
        raw = _raw_output(_dict(attributes.get("output.value")))
        return [*([system] if system is not None else []), *found, *raw]


class _Span:
    """One span's attributes, with its raw JSON values parsed once, when first needed."""

    def __init__(self, attributes: Any) -> None:
        self.attributes: dict[str, Any] = attributes if isinstance(attributes, dict) else {}

    @cached_property
    def invocation(self) -> dict[str, Any]:
        return _dict(self.attributes.get("llm.invocation_parameters"))

    @cached_property
    def request(self) -> dict[str, Any]:
        return _dict(self.attributes.get("input.value"))

    @cached_property
    def response(self) -> dict[str, Any]:
        return _dict(self.attributes.get("output.value"))

    # --- the summary -----------------------------------------------------------------------------

    def summary(self) -> LlmSummary:
        a = self.attributes
        usage = self.usage()
        return LlmSummary(
            provider=self.provider(),
            request_model=(
                as_str(a.get("llm.request.model_name"))
                or as_str(self.invocation.get("model"))
                or as_str(self._request_if("model").get("model"))
            ),
            response_model=self.response_model(),
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_read_input_tokens=usage["cache_read_input_tokens"],
            cache_creation_input_tokens=usage["cache_creation_input_tokens"],
            finish_reasons=self.finish_reasons(),
            streaming=self.streams(),
        )

    def provider(self) -> str | None:
        provider = as_str(self.attributes.get("llm.provider")) or as_str(
            self.attributes.get("llm.system")
        )
        return (provider.strip().lower() or None) if provider else None

    def speaks_anthropic(self) -> bool:
        """Whether the API called is Anthropic's (also through a cloud: `llm.system`)."""
        return any(
            isinstance(value, str) and value.strip().lower() == "anthropic"
            for value in (self.attributes.get("llm.provider"), self.attributes.get("llm.system"))
        )

    def response_model(self) -> str | None:
        a = self.attributes
        named = as_str(a.get("llm.response.model_name")) or as_str(self.response.get("model"))
        if named or "llm.request.model_name" in a:
            # Versions that name the request model apart set `llm.model_name` to it until a
            # response names its own: without one, there is no response model.
            return named
        return as_str(a.get("llm.model_name"))

    def usage(self) -> dict[str, int | None]:
        """The token counts, the input as the whole input, cache reads and writes included.

        The raw usage in `output.value` is the provider's own count, so its input wins: 0.1.20
        reported the uncached input alone on streams.
        """
        a = self.attributes
        prompt = as_int(a.get("llm.token_count.prompt"))
        read = as_int(a.get("llm.token_count.prompt_details.cache_read"))
        write = as_int(a.get("llm.token_count.prompt_details.cache_write"))
        output = as_int(a.get("llm.token_count.completion"))
        raw = anthropic_blocks.raw_usage(self.response.get("usage"), "anthropic")
        if raw["input_tokens"] is not None:
            prompt = raw["input_tokens"]
            if raw["cache_read_input_tokens"] is not None:
                read = raw["cache_read_input_tokens"]
            if raw["cache_creation_input_tokens"] is not None:
                write = raw["cache_creation_input_tokens"]
        elif prompt is not None and prompt < (read or 0) + (write or 0):
            # A total cannot be smaller than its parts: this count left the cache out.
            prompt = as_int(prompt + (read or 0) + (write or 0))
        return {
            "input_tokens": prompt,
            "output_tokens": output if output is not None else raw["output_tokens"],
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
        }

    def finish_reasons(self) -> list[str]:
        reasons = as_str_list(self.attributes.get("llm.finish_reason"))
        if reasons:
            return reasons
        if "stop_reason" in self.response:
            return as_str_list(self.response.get("stop_reason"))
        choices = self.response.get("choices")
        return as_str_list(
            [choice.get("finish_reason") for choice in choices if isinstance(choice, dict)]
            if isinstance(choices, list)
            else None
        )

    def streams(self) -> bool:
        return (
            self.invocation.get("stream") is True
            or self._request_if("stream").get("stream") is True
        )

    def _request_if(self, key: str) -> dict[str, Any]:
        """`input.value`, parsed only when its text may hold `key`: it holds every message."""
        text = self.attributes.get("input.value")
        if isinstance(text, str) and f'"{key}"' not in text:
            return {}
        return self.request

    # --- the conversation ------------------------------------------------------------------------

    def conversation(self, events: Any) -> dict[str, Any]:
        summary = self.summary()
        inputs = self.messages(INPUT_MESSAGES) or self.prompts()
        if not inputs:
            inputs = _native_messages(self.request.get("messages"))
        outputs = self.messages(OUTPUT_MESSAGES) or self.choices()
        raw_outputs = _raw_output(self.response)
        if outputs:
            for message, raw in zip(outputs, raw_outputs, strict=False):
                _repair(message, raw)
        else:
            outputs = raw_outputs
        system, inputs = self.system(inputs)
        reasons = summary.finish_reasons
        for message, reason in zip(outputs, reasons, strict=False):
            message.setdefault("finish_reason", reason)
        first_token, ttft, first_token_time = _first_token(events)
        block = None
        if summary.streaming or first_token:
            block = streaming(time_to_first_token_ms=ttft)
            if first_token_time is not None:
                block["first_token_time"] = first_token_time
        return {
            "provider": summary.provider,
            "operation": "text_completion" if self._has(self.attributes, "llm.prompts") else "chat",
            "request_model": summary.request_model,
            "response_model": summary.response_model,
            "system_instructions": system,
            "input_messages": inputs,
            "output_messages": outputs,
            "tools": self.tools(),
            "request_params": self.request_params(),
            "usage": summary.usage(),
            "finish_reasons": reasons,
            "finish_reasons_normalized": [normalize_finish_reason(r) for r in reasons],
            "streaming": block,
        }

    def messages(self, prefix: str) -> list[dict[str, Any]]:
        items, extra = _indexed(_tree(self.attributes, prefix))
        messages = [_message(item) for item in items]
        if extra:
            messages.append({"role": shapes.UNKNOWN, "parts": [shapes.raw_part(extra)]})
        return messages

    def prompts(self) -> list[dict[str, Any]]:
        """The prompts of a completions call (`llm.prompts.N.prompt.text`)."""
        return self._completions("llm.prompts", "prompt.text", "user")

    def choices(self) -> list[dict[str, Any]]:
        return self._completions("llm.choices", "completion.text", "assistant")

    def _completions(self, prefix: str, key: str, role: str) -> list[dict[str, Any]]:
        items, extra = _indexed(_tree(self.attributes, prefix))
        messages = []
        for item in [*items, *([extra] if extra else [])]:
            fields = _flat(item)
            text = fields.pop(key, None)
            parts = [] if text is None else _text_parts(text)
            if fields:
                parts.append(shapes.raw_part(fields))
            messages.append({"role": role, "parts": parts})
        return messages

    def system(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
        """The instructions, and the messages without them.

        Anthropic takes its instructions apart from the messages (the `system` parameter), which
        OpenInference records as a first message of role system (since 1.0.3; 0.1.x left it out,
        so it is read from the request). Other APIs keep system messages among the others.
        """
        if any(message.get("role") == "system" for message in inputs):
            if not self.speaks_anthropic():
                return [], inputs
            system: list[dict[str, Any]] = []
            while (
                inputs and inputs[0].keys() == {"role", "parts"} and inputs[0]["role"] == "system"
            ):
                system.extend(inputs[0]["parts"])
                inputs = inputs[1:]
            return system, inputs
        value = self.invocation.get("system")
        if value is None:
            value = self._request_if("system").get("system")
        return (_native_parts(value) if value is not None else []), inputs

    def tools(self) -> list[Any]:
        items, extra = _indexed(_tree(self.attributes, "llm.tools"))
        tools = [_tool_of(item) for item in items]
        if extra:
            tools.append(shapes.raw_part(extra))
        if tools:
            return tools
        value = self.invocation.get("tools")
        if value is None:
            value = self._request_if("tools").get("tools")
        return [anthropic_blocks.with_parameters(tool) for tool in shapes.tools(value)]

    def request_params(self) -> dict[str, Any]:
        """The invocation parameters, and whatever else the request sent but its content."""
        value = structured(self.attributes.get("llm.invocation_parameters"))
        params: dict[str, Any] = {}
        if value is not None and not isinstance(value, dict):
            params["invocation_parameters"] = value
        for source in (self.invocation, self.request):
            for key, item in source.items():
                if isinstance(key, str) and key not in NOT_PARAMS:
                    params.setdefault(key, item)
        return {key: clipped(item, MAX_PARAM_CHARS) for key, item in params.items()}

    @staticmethod
    def _has(attributes: dict[str, Any], prefix: str) -> bool:
        return any(isinstance(k, str) and k.startswith(prefix + ".") for k in attributes)


# --- rebuilding flattened keys ---------------------------------------------------------------------


class _Node(dict):
    """A level of the tree rebuilt from dotted keys (unlike a dict an emitter sent)."""


def _tree(attributes: dict[str, Any], prefix: str) -> Any:
    """The keys under `prefix.` as a tree: `a.0.b` = 1 becomes {"a": {"0": {"b": 1}}}.

    The key `prefix` itself, when an emitter sent the whole list as one structured value, is
    read when no flattened key is there; otherwise it joins the rest under "".
    """
    root = _Node()
    dotted = prefix + "."
    for key, value in attributes.items():
        if isinstance(key, str) and key.startswith(dotted):
            _insert(root, key[len(dotted) :].split(".", MAX_SEGMENTS), value)
    if prefix in attributes:
        whole = structured(attributes[prefix])
        if not root:
            return whole
        root[""] = whole
    return root


def _insert(node: _Node, path: list[str], value: Any) -> None:
    for segment in path[:-1]:
        child = node.get(segment)
        if not isinstance(child, _Node):
            child = node[segment] = _Node() if segment not in node else _Node({"": child})
        node = child
    last = path[-1]
    if isinstance(node.get(last), _Node):
        node[last][""] = value
    else:
        node[last] = value


def _indexed(value: Any) -> tuple[list[Any], dict[str, Any]]:
    """The items of a list sent as indexed keys (in numeric order: 10 after 9) or as a list,
    and what else was under it, flattened."""
    value = structured(value)
    if isinstance(value, list):
        return value, {}
    if not isinstance(value, dict):
        return [], ({} if value is None else {"": value})
    indexed, extra = [], {}
    for key, item in value.items():
        if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 18:
            indexed.append((int(key), key, item))
        else:
            extra.update(_flat(item, str(key)))
    return [item for _, _, item in sorted(indexed, key=lambda entry: entry[:2])], extra


def _flat(value: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """A tree as dotted keys again, relative to where it was taken from."""
    if not isinstance(value, dict) or not value or depth >= MAX_FLAT_DEPTH:
        return {prefix: value} if prefix or value != {} else {}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        flat.update(
            _flat(item, f"{prefix}.{name}" if prefix and name else prefix or name, depth + 1)
        )
    return flat


def _dict(value: Any) -> dict[str, Any]:
    value = structured(value)
    return value if isinstance(value, dict) else {}


# --- messages and parts ----------------------------------------------------------------------------

MESSAGE_FIELDS = ("role", "content", "contents", "tool_calls", "tool_call_id", "name")


def _message(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return shapes.message(item)
    wrapped = item.get("message")
    if isinstance(wrapped, dict):
        fields, extra = wrapped, {k: v for k, v in item.items() if k != "message"}
    else:
        fields, extra = item, {}
    role, content = fields.get("role"), fields.get("content")
    listed, unread = _indexed(fields["contents"]) if "contents" in fields else ([], {})
    contents = [_content_part(entry) for entry in listed]
    if unread:
        contents.append(shapes.raw_part(unread))
    calls = _new_calls(contents, _tool_calls(fields.get("tool_calls")))
    leftover = _flat({k: v for k, v in fields.items() if k not in MESSAGE_FIELDS})
    call = _function_call(leftover)
    if call is not None:
        calls.append(call)
    message: dict[str, Any] = {"role": role if isinstance(role, str) and role else shapes.UNKNOWN}
    if role is not None and message["role"] == shapes.UNKNOWN:
        message["raw_role"] = role
    name, tool_call_id = fields.get("name"), fields.get("tool_call_id")
    if role == "tool" or tool_call_id is not None:
        # A tool's result: OpenAI and OpenInference 3.x say so by role, 0.1.x only by the id.
        result: dict[str, Any] = {"type": "tool_call_response", "id": tool_call_id}
        if name is not None:
            result["name"] = name
        if content is not None:
            result["response"] = content
            message["parts"] = [result, *contents, *calls]
        else:
            result["response"] = contents
            message["parts"] = [result, *calls]
    else:
        if name is not None:
            message["name"] = name
        text = [] if content is None else _text_parts(content)
        message["parts"] = [*text, *contents, *calls]
    leftover.update(_flat(extra) if extra else {})
    if leftover:
        message["attributes"] = leftover
    return message


def _text_parts(value: Any) -> list[dict[str, Any]]:
    """`message.content`: text as sent (even when it looks like JSON), anything else fitted."""
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    if isinstance(value, list):
        return [shapes.part(item) for item in value]
    return [shapes.part(value)]


def _content_part(item: Any) -> dict[str, Any]:
    """One `message.contents.N` entry: a `message_content` (text, image, reasoning…), or in
    3.x a tool call as a `tool_call`."""
    if not isinstance(item, dict) or not ({"message_content", "tool_call"} & item.keys()):
        return shapes.part(item)
    content: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in _flat(item).items():
        if key.startswith("message_content."):
            content[key.removeprefix("message_content.")] = value
        else:
            rest[key] = value
    kind = content.pop("type", None)
    if any(key.startswith("tool_call.") for key in rest) and kind in (
        None,
        "tool_use",
        "tool_call",
    ):
        part = _tool_call(rest)
        rest = {}
    elif kind == "text" or (kind is None and isinstance(content.get("text"), str)):
        part = {"type": "text", "content": content.pop("text", None)}
    elif kind == "reasoning":
        part = _reasoning(content)
    elif kind in ("image", "audio"):
        part = _media(kind, content)
    else:
        raw = {**content, **rest} if kind is None else {"type": kind, **content, **rest}
        return shapes.raw_part(raw, kind if isinstance(kind, str) and kind else shapes.UNKNOWN)
    for key, value in {**content, **rest}.items():
        part.setdefault(key or "value", value)
    return part


def _reasoning(content: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "reasoning"}
    text = content.pop("text", None)
    if text is not None:
        part["content"] = text
    data = content.pop("data", None)
    if data is not None:
        # Redacted thinking: the provider's encrypted block, with no text.
        part.update(redacted=True, data=data)
        if isinstance(data, str):
            part["data_length"] = len(data)
    return part


def _media(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    url = content.pop(f"{kind}.{kind}.url", None)
    mime = content.pop(f"{kind}.{kind}.mime_type", None)
    part: dict[str, Any] = {"modality": kind}
    found = DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if found and "base64" in found.group(2).split(";"):
        part.update(type="blob", mime_type=mime or found.group(1) or None, content=found.group(3))
    else:
        part.update(type="uri", uri=url)
        if mime is not None:
            part["mime_type"] = mime
    return {key: value for key, value in part.items() if value is not None or key == "uri"}


def _tool_calls(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items, extra = _indexed(value)
    calls = [_tool_call(_flat(item)) for item in items]
    if extra:
        calls.append(shapes.raw_part(extra))
    return calls


def _tool_call(fields: dict[str, Any]) -> dict[str, Any]:
    """A call from its dotted fields: `tool_call.id`, `tool_call.function.name/arguments`."""
    fields = {key.removeprefix("tool_call."): value for key, value in fields.items()}
    if not ({"id", "function.name", "function.arguments"} & fields.keys()):
        return shapes.raw_part(fields)
    part: dict[str, Any] = {"type": "tool_call"}
    for key, field in (("id", "id"), ("name", "function.name")):
        if field in fields:
            part[key] = fields.pop(field)
    arguments = fields.pop("function.arguments", None)
    parsed = structured(arguments)
    part["arguments"] = parsed if isinstance(parsed, dict) else arguments
    for key, value in fields.items():
        part.setdefault(key or "value", value)
    return part


def _new_calls(parts: list[dict[str, Any]], calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls of `message.tool_calls` not already among the message's contents.

    OpenInference 3.x writes each Anthropic tool call twice: in order among the contents, and
    again in `tool_calls`. Counted once, where the contents put it. A call matches by id, or
    without ids by name and arguments, and each one matches only once.
    """
    listed = [part for part in parts if part.get("type") == "tool_call"]
    new = []
    for call in calls:
        twin = next((part for part in listed if _same_call(part, call)), None)
        if twin is None:
            new.append(call)
        else:
            listed = [part for part in listed if part is not twin]
    return new


def _same_call(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if b.get("type") != "tool_call":
        return False
    if isinstance(a.get("id"), str) and isinstance(b.get("id"), str):
        return a["id"] == b["id"]
    return _equal(a.get("name"), b.get("name")) and _equal(a.get("arguments"), b.get("arguments"))


def _equal(a: Any, b: Any) -> bool:
    try:
        return a == b
    except RecursionError:  # values nested past what Python compares
        return False


def _function_call(leftover: dict[str, Any]) -> dict[str, Any] | None:
    """OpenAI's older `function_call`, as OpenInference names it."""
    if "function_call_name" not in leftover:
        return None
    arguments = leftover.pop("function_call_arguments_json", None)
    parsed = structured(arguments)
    return {
        "type": "tool_call",
        "name": leftover.pop("function_call_name"),
        "arguments": parsed if isinstance(parsed, dict) else arguments,
    }


# --- tools -----------------------------------------------------------------------------------------


def _tool_of(item: Any) -> Any:
    """`llm.tools.N`: the provider's own tool JSON in `tool.json_schema`, or its parts."""
    if not isinstance(item, dict):
        return anthropic_blocks.with_parameters(item)
    fields = {key.removeprefix("tool."): value for key, value in _flat(item).items()}
    if "json_schema" in fields:
        tool = anthropic_blocks.with_parameters(fields.pop("json_schema"))
    else:
        tool = {}
        for key in ("name", "description", "parameters"):
            if key in fields:
                tool[key] = structured(fields.pop(key))
    if not fields:
        return tool
    if not isinstance(tool, dict):
        tool = {"raw": tool}
    for key, value in fields.items():
        tool.setdefault(key or "value", value)
    return tool


# --- the provider's own JSON: input.value and output.value ----------------------------------------


def _raw_output(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The output messages of a raw Anthropic Message or OpenAI ChatCompletion."""
    content = response.get("content")
    if isinstance(content, list):
        role = response.get("role")
        return [
            {
                "role": role if isinstance(role, str) and role else "assistant",
                "parts": _native_parts(content),
            }
        ]
    choices = response.get("choices")
    if isinstance(choices, list):
        return [
            _native_message(choice.get("message"))
            for choice in choices
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict)
        ]
    return []


def _repair(message: dict[str, Any], raw: dict[str, Any]) -> None:
    """Fill in what a message's attributes left out from the raw response: tool call ids (0.1.x
    records none on output) and thinking (0.1.x drops it). Thinking comes first in a response.
    """
    parts = message.get("parts")
    if not isinstance(parts, list):
        return
    raw_calls = [p for p in raw["parts"] if p.get("type") == "tool_call" and "id" in p]
    for part in parts:
        if part.get("type") == "tool_call" and not isinstance(part.get("id"), str):
            twin = next((c for c in raw_calls if _equal(c.get("name"), part.get("name"))), None)
            if twin is not None:
                raw_calls = [call for call in raw_calls if call is not twin]
                part["id"] = twin["id"]
    if not any(part.get("type") == "reasoning" for part in parts):
        thinking = [p for p in raw["parts"] if p.get("type") == "reasoning"]
        parts[:0] = thinking


def _native_messages(value: Any) -> list[dict[str, Any]]:
    """The messages of a raw request, for a span whose flattened messages were left out."""
    if value is None:
        return []
    return [_native_message(item) for item in (value if isinstance(value, list) else [value])]


def _native_message(value: Any) -> dict[str, Any]:
    """An Anthropic or OpenAI message: the two share role and content, and differ in blocks."""
    if not isinstance(value, dict):
        return shapes.message(value)
    role = value.get("role")
    rest = {
        key: item
        for key, item in value.items()
        if key not in ("role", "content", "tool_calls", "tool_call_id")
        and item not in (None, [], {})
    }
    message: dict[str, Any] = {"role": role if isinstance(role, str) and role else shapes.UNKNOWN}
    content = value.get("content")
    if role == "tool" or "tool_call_id" in value:
        parts = [
            {"type": "tool_call_response", "id": value.get("tool_call_id"), "response": content}
        ]
    else:
        parts = _native_parts(content) if content is not None else []
    calls = value.get("tool_calls")
    parts.extend(shapes.openai_tool_calls(calls if isinstance(calls, list) else []))
    if rest:
        parts.append(shapes.raw_part(rest, "message_fields"))
    message["parts"] = parts
    return message


def _native_parts(value: Any) -> list[dict[str, Any]]:
    """Raw content, text or Anthropic blocks, with every field of a block kept on its part."""
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    if not isinstance(value, list):
        return [shapes.part(value)]
    return anthropic_blocks.content_parts(value, whole=True)


# --- timing ----------------------------------------------------------------------------------------


def _first_token(events: Any) -> tuple[bool, float | None, str | None]:
    """Whether a first token was marked, the time to it in ms (the event's `offset_ms` from
    the span's start), and the event's own time when no offset is known."""
    for event in events if isinstance(events, list | tuple) else ():
        if not isinstance(event, dict) or event.get("name") != FIRST_TOKEN_EVENT:
            continue
        offset = as_float(event.get("offset_ms"))
        if offset is not None and offset >= 0:
            return True, offset, None
        time = event.get("time")
        return True, None, time if isinstance(time, str) else None
    return False, None, None


CONVENTION = OpenInference()
