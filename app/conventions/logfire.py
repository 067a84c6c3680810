"""Spans from Pydantic Logfire's `instrument_anthropic` and `instrument_openai` (scope `logfire.*`).

Logfire writes a call in one of two formats, or both. Format 1 keeps the request body as sent
(`request_data`) and a digest of the response (`response_data`); format 2, the default since
Logfire 5, uses the GenAI `gen_ai.*` messages, but passes Anthropic blocks it has no part for
(thinking, server tools) through raw. Where a span has both, the `gen_ai.*` messages win.

A streamed call is two records: a short request span ("Message with …") that ends when the
stream is handed back, and a zero-duration log span ("streaming response from … took …s")
written when the stream ends, with the input, output, usage and the stream's duration. They are
siblings, often in different traces. The log span is the call; the request span is a part of
it, and `stream_request_key` / `stream_response_key` give both the same key so that the store
can pair them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from app.conventions import anthropic_blocks, shapes
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
from app.conventions.otel_genai import MAX_PARAM_CHARS, request_params

SCOPE_PREFIX = "logfire."
STREAM_LOG_TEMPLATE = "streaming response from"
# `logfire.level_num` of a record at level error or above.
ERROR_LEVEL = 17
# Present on a span only once the response came back; a streamed request span has none.
RESPONSE_KEYS = (
    "gen_ai.response.id",
    "gen_ai.output.messages",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.raw",
    "response_data",
)
CONTENT_KEYS = (
    "request_data",
    "response_data",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
)
# Fields of a format 1 request body that the conversation shows elsewhere than its parameters.
CONTENT_FIELDS = frozenset(
    {"model", "messages", "system", "instructions", "tools", "prompt", "input"}
)
# Keys of a message, in either provider's shape, that its parts say in full.
MESSAGE_FIELDS = frozenset(
    {"role", "content", "tool_calls", "tool_call_id", "function_call", "name", "type"}
)
# Anthropic blocks that format 2 passes through as they are, read as our client reads them.
ANTHROPIC_BLOCKS = frozenset(
    {"thinking", "redacted_thinking", "tool_use", "tool_result", "server_tool_use", "mcp_tool_use"}
)
MAX_NESTING = shapes.MAX_NESTING
# Format 2 records an SDK block object passed back as content by its Python repr, e.g.
# "TextBlock(citations=None, text='Hi', type='text')"; such text is read back as the block.
SDK_REPR = re.compile(r"[A-Z][A-Za-z]*Block\(.*\)", re.DOTALL)
MAX_REPR_CHARS = 100_000
# JSON text read by several steps of one answer: parsed once, up front.
PARSED_ONCE = ("request_data", "response_data", "gen_ai.usage.raw")


class Logfire:
    name = "logfire"

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        if not isinstance(attributes, dict) or not isinstance(scope_name, str):
            return False
        if not scope_name.startswith(SCOPE_PREFIX):
            return False
        return any(key in attributes for key in CONTENT_KEYS) or _is_stream_log(attributes)

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary:
        if not isinstance(attributes, dict):
            return LlmSummary()
        attributes = _parsed(attributes)
        stream_request = _is_stream_request(attributes)
        usage = _usage(attributes)
        return LlmSummary(
            provider=_provider(attributes),
            request_model=_request_model(attributes),
            # Logfire copies the request model into the response model of a span that got no
            # response (a stream's request span, an error): that names no response.
            response_model=(
                as_str(attributes.get("gen_ai.response.model"))
                if _has_response(attributes)
                else None
            ),
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_read_input_tokens=usage["cache_read_input_tokens"],
            cache_creation_input_tokens=usage["cache_creation_input_tokens"],
            finish_reasons=_finish_reasons(attributes),
            streaming=(
                stream_request or _is_stream_log(attributes) or _stream_flag(attributes) is True
            ),
            is_call=not stream_request,
        )

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The call; for either record of a stream, both read together when `parts` holds the
        other. A streamed request alone has its input and a streaming block of Nones."""
        attributes = _parsed(attributes) if isinstance(attributes, dict) else {}
        call, request = _pair(attributes, parts)
        conversation = self._read(call, events if call is attributes else ())
        if request is not None:
            # The log span repeats the request, but an older Logfire may not have.
            asked = self._read(request, ())
            for key in ("system_instructions", "input_messages", "tools"):
                if not conversation[key]:
                    conversation[key] = asked[key]
            for key, value in asked["request_params"].items():
                conversation["request_params"].setdefault(key, value)
        return jsonable(conversation)

    def _read(self, attributes: dict[str, Any], events: Any) -> dict[str, Any]:
        summary = self.summarize(attributes)
        body = _request_data(attributes)
        response = _response_data(attributes)
        anthropic = summary.provider == "anthropic"

        if "gen_ai.system_instructions" in attributes:
            system = _genai_parts(attributes["gen_ai.system_instructions"])
        else:
            system = anthropic_blocks.content_parts(first(body, "system", "instructions"))
        if "gen_ai.input.messages" in attributes:
            inputs = _genai_messages(attributes["gen_ai.input.messages"])
        else:
            inputs = _body_messages(body)
        if "gen_ai.output.messages" in attributes:
            outputs = _genai_messages(attributes["gen_ai.output.messages"])
        elif response:
            outputs = _response_messages(response, anthropic)
        else:
            outputs = []
        if not inputs and not outputs and "events" in attributes:
            # Format 1 of OpenAI's Responses API: its messages as a list of GenAI events.
            inputs, outputs = _event_messages(attributes["events"], _has_response(attributes))

        reasons = summary.finish_reasons or _message_reasons(outputs)
        if not reasons and isinstance(response.get("finish_reason"), str):
            reasons = as_str_list(response["finish_reason"])
        for message, reason in zip(outputs, reasons, strict=False):
            if message.get("finish_reason") is None:
                message["finish_reason"] = reason
        failed, error = _error(attributes, events)
        if failed and _is_stream_log(attributes):
            for message in outputs:
                message["incomplete"] = True

        return {
            "provider": summary.provider,
            "operation": as_str(attributes.get("gen_ai.operation.name")),
            "request_model": summary.request_model,
            "response_model": summary.response_model,
            "system_instructions": system,
            "input_messages": inputs,
            "output_messages": outputs,
            "tools": [anthropic_blocks.tool_definition(tool) for tool in _tools(attributes, body)],
            "request_params": _params(attributes, body),
            "usage": summary.usage(),
            "finish_reasons": reasons,
            "finish_reasons_normalized": (
                [normalize_finish_reason(reason) for reason in reasons]
                or (["error"] if failed else [])
            ),
            "streaming": _streaming(attributes, summary, outputs, response, failed),
            "error": error,
        }


# --- which record is which ---------------------------------------------------------------------


def _parsed(attributes: dict[str, Any]) -> dict[str, Any]:
    """`attributes` with the JSON text that several steps read already parsed (a shallow copy:
    the span's own attributes are left as they are)."""
    texts = [key for key in PARSED_ONCE if isinstance(attributes.get(key), str)]
    if not texts:
        return attributes
    return {**attributes, **{key: structured(attributes[key]) for key in texts}}


def _is_stream_log(attributes: dict[str, Any]) -> bool:
    """The log span Logfire writes when a stream ends: the streamed call itself."""
    if attributes.get("logfire.span_type") != "log":
        return False
    template = attributes.get("logfire.msg_template")
    if isinstance(template, str) and template.startswith(STREAM_LOG_TEMPLATE):
        return True
    return as_float(attributes.get("duration")) is not None and "request_data" in attributes


def _is_stream_request(attributes: dict[str, Any]) -> bool:
    """The request span of a stream, whose response the stream's log span records.

    Format 1 says whether the request streamed; format 2 keeps only the model of the body, so
    there a chat span that neither got a response nor failed is taken for one. A request that
    failed before its stream began gets no log span, so it stays the call.
    """
    if attributes.get("logfire.span_type") == "log" or _failed(attributes):
        return False
    flag = _stream_flag(attributes)
    if flag is not None:
        return flag
    operation = attributes.get("gen_ai.operation.name")
    return operation in ("chat", "text_completion") and not _has_response(attributes)


def _stream_flag(attributes: dict[str, Any]) -> bool | None:
    """Whether the request asked to stream; None when the span does not say."""
    if isinstance(attributes.get("gen_ai.request.stream"), bool):
        return attributes["gen_ai.request.stream"]
    body = _request_data(attributes)
    if isinstance(body.get("stream"), bool):
        return body["stream"]
    # A whole request body that does not ask to stream did not.
    return False if (CONTENT_FIELDS - {"model"}) & body.keys() else None


def _has_response(attributes: dict[str, Any]) -> bool:
    return any(key in attributes for key in RESPONSE_KEYS)


def _failed(attributes: dict[str, Any]) -> bool:
    level = as_int(attributes.get("logfire.level_num"))
    return (
        (level is not None and level >= ERROR_LEVEL)
        or "logfire.exception.fingerprint" in attributes
        or "error.type" in attributes
    )


def _pair(attributes: dict[str, Any], parts: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The record to read the call from, and the stream's request span to fill it in from."""
    candidates = (
        [_parsed(p) for p in parts if isinstance(p, dict)]
        if isinstance(parts, list | tuple)
        else []
    )
    if _is_stream_log(attributes):
        key = stream_response_key(attributes)
        requests = [p for p in candidates if _is_stream_request(p)]
        match = next((p for p in requests if stream_request_key(p) == key), None)
        return attributes, match or next(iter(requests), None)
    if _is_stream_request(attributes):
        key = stream_request_key(attributes)
        logs = [p for p in candidates if _is_stream_log(p)]
        match = next((p for p in logs if stream_response_key(p) == key), None)
        log = match or next(iter(logs), None)
        if log is not None:
            return log, attributes
    return attributes, None


def stream_request_key(attributes: dict[str, Any]) -> str | None:
    """The key a streamed request span shares with its stream's log span; None for any other.

    The log span repeats every attribute Logfire set from the request (the body or its model,
    the GenAI request parameters, input messages, instructions and tools), so a digest of them
    matches. Two identical requests share it too: pair those by time.
    """
    if not isinstance(attributes, dict):
        return None
    attributes = _parsed(attributes)
    if not _is_stream_request(attributes):
        return None
    if "request_data" not in attributes and "logfire.msg_template" not in attributes:
        return None
    return _request_digest(attributes)


def stream_response_key(attributes: dict[str, Any]) -> str | None:
    """The key a stream's log span shares with its request span; None for any other span."""
    if not isinstance(attributes, dict) or not _is_stream_log(attributes):
        return None
    return _request_digest(_parsed(attributes))


def _request_digest(attributes: dict[str, Any]) -> str:
    material = {
        "provider": _provider(attributes),
        "operation": attributes.get("gen_ai.operation.name"),
        "model": _request_model(attributes),
        "async": attributes.get("async"),
        "request_data": structured(attributes.get("request_data")),
        "input": structured(attributes.get("gen_ai.input.messages")),
        "system": structured(attributes.get("gen_ai.system_instructions")),
        "tools": structured(attributes.get("gen_ai.tool.definitions")),
        "params": {
            key: structured(value)
            for key, value in attributes.items()
            if isinstance(key, str) and key.startswith("gen_ai.request.")
        },
    }
    # Parsed and re-written with sorted keys: JSON text and structured values give one key.
    text = json.dumps(jsonable(material), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "logfire:" + hashlib.sha256(text.encode()).hexdigest()


# --- the summary -------------------------------------------------------------------------------


def _provider(attributes: dict[str, Any]) -> str | None:
    provider = as_str(attributes.get("gen_ai.provider.name"))
    if provider is None:
        system = as_str(attributes.get("gen_ai.system"))
        provider = system.lower() if system else None
    return provider


def _request_model(attributes: dict[str, Any]) -> str | None:
    return as_str(attributes.get("gen_ai.request.model")) or as_str(
        _request_data(attributes).get("model")
    )


def _request_data(attributes: dict[str, Any]) -> dict[str, Any]:
    body = structured(attributes.get("request_data"))
    return body if isinstance(body, dict) else {}


def _response_data(attributes: dict[str, Any]) -> dict[str, Any]:
    data = structured(attributes.get("response_data"))
    return data if isinstance(data, dict) else {}


def _finish_reasons(attributes: dict[str, Any]) -> list[str]:
    return as_str_list(attributes.get("gen_ai.response.finish_reasons"))


def _usage(attributes: dict[str, Any]) -> dict[str, int | None]:
    """Token counts, from the provider's own usage object where the span has it.

    Logfire before 4.31 left the cache out of `gen_ai.usage.input_tokens` for Anthropic, so
    the raw usage (`gen_ai.usage.raw`, or the format 1 `response_data.usage`) is recounted by
    the provider's rules: Anthropic's `input_tokens` excludes cache reads and writes, OpenAI's
    `prompt_tokens` (and the Responses API's `input_tokens`) include them.
    """
    usage = {
        "input_tokens": as_int(
            first(attributes, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
        ),
        "output_tokens": as_int(
            first(attributes, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
        ),
        "cache_read_input_tokens": as_int(
            first(
                attributes,
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
            )
        ),
        "cache_creation_input_tokens": as_int(
            first(
                attributes,
                "gen_ai.usage.cache_write.input_tokens",
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens",
            )
        ),
    }
    raw = structured(attributes.get("gen_ai.usage.raw"))
    if not isinstance(raw, dict):
        raw = _response_data(attributes).get("usage")
    if isinstance(raw, dict):
        for key, value in anthropic_blocks.raw_usage(raw, _provider(attributes)).items():
            if value is not None:
                usage[key] = value
    return usage


# --- the conversation's parts ------------------------------------------------------------------


def _params(attributes: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The GenAI request parameters, and every other field of a format 1 request body."""
    params = request_params(attributes)
    for key, value in body.items():
        if isinstance(key, str) and key not in CONTENT_FIELDS:
            params.setdefault(key, clipped(value, MAX_PARAM_CHARS))
    return params


def _tools(attributes: dict[str, Any], body: dict[str, Any]) -> list[Any]:
    if "gen_ai.tool.definitions" in attributes:
        return shapes.tools(attributes["gen_ai.tool.definitions"])
    return shapes.tools(body.get("tools"))


def _genai_messages(value: Any) -> list[dict[str, Any]]:
    messages = shapes.messages(value)
    for message in messages:
        message["parts"] = [_genai_part(part) for part in message["parts"]]
    return messages


def _genai_parts(value: Any) -> list[dict[str, Any]]:
    return [_genai_part(part) for part in shapes.parts(value)]


def _genai_part(part: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A format 2 part: the GenAI ones as they are, Anthropic's raw blocks read as blocks."""
    kind = part["type"]
    if kind == "text" and isinstance(part.get("content"), str):
        block = _sdk_block(part["content"])
        return anthropic_blocks.block(block, depth) if block is not None else part
    if kind in ANTHROPIC_BLOCKS or kind.endswith("_tool_result"):
        return anthropic_blocks.block(part, depth)
    if kind in ("image", "document") and "source" in part:
        return anthropic_blocks.block(part, depth)
    if kind in ("blob", "uri", "file") and "media_type" in part and "mime_type" not in part:
        part = {("mime_type" if key == "media_type" else key): v for key, v in part.items()}
    if kind == "tool_call_response" and isinstance(part.get("response"), list):
        response = part["response"]
        if depth < MAX_NESTING and all(_typed(item) for item in response):
            part = {**part, "response": [_genai_part(item, depth + 1) for item in response]}
    return part


def _typed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and bool(value["type"])


def _sdk_block(text: str) -> dict[str, Any] | None:
    """The block an SDK object's repr spells, read as data (never run), when it is one."""
    if len(text) > MAX_REPR_CHARS or not SDK_REPR.fullmatch(text):
        return None
    try:
        block = _repr_value(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return None
    return block if block["type"] else None


def _repr_value(node: ast.AST, depth: int = 0) -> Any:
    """A value of a pydantic repr: a model (`Name(field=…)`, as a dict of its fields that are
    set), a list, tuple or dict of them, or a literal. Anything else raises ValueError."""
    if depth > MAX_NESTING:
        raise ValueError("nested too deep")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.args:
            raise ValueError("not a model")
        fields = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise ValueError("not a model")
            value = _repr_value(keyword.value, depth + 1)
            if value is not None:
                fields[keyword.arg] = value
        return fields
    if isinstance(node, ast.List | ast.Tuple):
        return [_repr_value(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise ValueError("a ** in a dict")
        return {
            ast.literal_eval(key): _repr_value(value, depth + 1)
            for key, value in zip(node.keys, node.values, strict=True)
        }
    return ast.literal_eval(node)


def _body_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The input of a format 1 request body: chat messages, a prompt, or an input."""
    if "messages" in body:
        messages = body["messages"]
        return [_message(m) for m in (messages if isinstance(messages, list) else [messages])]
    value = first(body, "prompt", "input")
    if value is None:
        return []
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return [_message(item) for item in value]
    return [{"role": "user", "parts": anthropic_blocks.content_parts(value)}]


def _message(value: Any) -> dict[str, Any]:
    """One message of either provider's API: content as text or blocks, OpenAI's tool calls
    and tool results, or an input item of the Responses API."""
    if not isinstance(value, dict):
        return {"role": shapes.UNKNOWN, "parts": [anthropic_blocks.block(value)]}
    kind = value.get("type")
    if kind == "function_call":
        function = {"name": value.get("name"), "arguments": value.get("arguments")}
        return {
            "role": "assistant",
            "parts": [_tool_call({"id": value.get("call_id"), "function": function})],
        }
    if kind == "function_call_output":
        part = {"type": "tool_call_response", "id": value.get("call_id")}
        return {"role": "tool", "parts": [{**part, "response": value.get("output")}]}
    role = value.get("role")
    content = value.get("content")
    if role in ("tool", "function"):
        # OpenAI's tool result: the message's content is the tool's answer.
        response = content if isinstance(content, str) else anthropic_blocks.content_parts(content)
        part = {"type": "tool_call_response", "id": value.get("tool_call_id")}
        parts = [{**part, "response": response}]
    else:
        parts = anthropic_blocks.content_parts(content)
    calls = value.get("tool_calls")
    parts.extend(_tool_call(call) for call in (calls if isinstance(calls, list) else []))
    if isinstance(value.get("function_call"), dict):
        parts.append(_tool_call({"function": value["function_call"]}))
    for key, item in value.items():
        # What a part cannot say (a refusal, audio, annotations) is kept beside the parts.
        if key not in MESSAGE_FIELDS and item not in (None, [], {}, ""):
            parts.append(shapes.raw_part(item, str(key)))
    message: dict[str, Any] = {"role": role if isinstance(role, str) and role else shapes.UNKNOWN}
    if value.get("name") is not None:
        message["name"] = value["name"]
    message["parts"] = parts
    return message


def _tool_call(call: Any) -> dict[str, Any]:
    """OpenAI's tool call as shapes reads it; Logfire's calls always say their id, if None."""
    part = shapes.openai_tool_call(call)
    if part["type"] == "tool_call":
        part.setdefault("id", None)
    return part


def _response_messages(response: dict[str, Any], anthropic: bool) -> list[dict[str, Any]]:
    """The output in a format 1 `response_data`."""
    if isinstance(response.get("message"), dict):
        message = _message({"role": "assistant", **response["message"]})
        if anthropic:
            for part in message["parts"]:
                _unwrap_input(part)
    else:
        text = first(response, "combined_chunk_content", "text")
        message = {
            "role": "assistant",
            "parts": anthropic_blocks.content_parts(text) if text else [],
        }
    consumed = {
        "message",
        "usage",
        "combined_chunk_content",
        "chunk_count",
        "text",
        "finish_reason",
    }
    for key, value in response.items():
        if key not in consumed and value not in (None, [], {}, ""):
            message["parts"].append(shapes.raw_part(value, str(key)))
    return [message] if message["parts"] or "message" in response else []


def _unwrap_input(part: dict[str, Any]) -> None:
    """Format 1 writes an Anthropic tool call's arguments as `{"input": <arguments>}`."""
    arguments = part.get("arguments") if part.get("type") == "tool_call" else None
    if isinstance(arguments, dict) and arguments.keys() == {"input"}:
        part["arguments"] = arguments["input"]


def _event_messages(value: Any, has_response: bool) -> tuple[list[dict], list[dict]]:
    """Messages from a list of GenAI events (`{"event.name", "role", "content", …}`); the
    assistant's events after the last other one are the output, when a response came."""
    events = structured(value)
    if not isinstance(events, list):
        return [], []
    messages = []
    for event in events:
        if not isinstance(event, dict):
            messages.append({"role": shapes.UNKNOWN, "parts": [anthropic_blocks.block(event)]})
            continue
        name = event.get("event.name")
        role = event.get("role")
        if not isinstance(role, str) and isinstance(name, str):
            role = name.removeprefix("gen_ai.").removesuffix(".message")
        if name == "gen_ai.unknown":
            message = {"role": role or shapes.UNKNOWN, "parts": [shapes.raw_part(event)]}
        elif name == "gen_ai.tool.message" or role == "tool":
            part = {"type": "tool_call_response", "id": event.get("id")}
            part |= {"name": event.get("name"), "response": event.get("content")}
            message = {"role": "tool", "parts": [part]}
        else:
            fields = {key: v for key, v in event.items() if key != "event.name"}
            message = _message({**fields, "role": role})
        messages.append(message)
    split = len(messages)
    while has_response and split and messages[split - 1]["role"] == "assistant":
        split -= 1
    return messages[:split], messages[split:]


def _message_reasons(messages: list[dict[str, Any]]) -> list[str]:
    reasons = [message.get("finish_reason") for message in messages]
    return as_str_list([reason for reason in reasons if isinstance(reason, str)])


# --- errors and the stream ---------------------------------------------------------------------


def _error(attributes: dict[str, Any], events: Any) -> tuple[bool, dict[str, Any] | None]:
    """Whether the call failed, and what it failed with: Logfire records the exception as an
    `exception` event, and on a stream's log span also as `error.type`."""
    exception: dict[str, Any] = {}
    for event in events if isinstance(events, list | tuple) else ():
        if isinstance(event, dict) and event.get("name") == "exception":
            found = event.get("attributes")
            exception = found if isinstance(found, dict) else {}
            break
    failed = _failed(attributes) or bool(exception)
    if not failed:
        return False, None
    return True, {
        "type": as_str(exception.get("exception.type")) or as_str(attributes.get("error.type")),
        "message": as_str(exception.get("exception.message")),
    }


def _streaming(
    attributes: dict[str, Any],
    summary: LlmSummary,
    outputs: list[dict[str, Any]],
    response: dict[str, Any],
    failed: bool,
) -> dict[str, Any] | None:
    """The stream as Logfire saw it: how long it ran, from the first read to the last (no time
    to first token, no chunk times); on its request span alone, nothing yet."""
    if not summary.streaming:
        return None
    if not _is_stream_log(attributes):
        return streaming(complete=False, outcome="error") if failed else streaming()
    seconds = as_float(attributes.get("duration"))
    duration_ms = as_float(seconds * 1000.0) if seconds is not None and seconds >= 0 else None
    rate = None
    if duration_ms and summary.output_tokens is not None:
        rate = as_float(summary.output_tokens / (duration_ms / 1000.0))
    if failed:
        complete, outcome = False, "error"
    elif summary.finish_reasons or _message_reasons(outputs):
        complete, outcome = True, "complete"
    else:
        complete, outcome = False, None  # ended early, for a reason the log does not say
    return streaming(
        duration_ms=duration_ms,
        chunk_count=as_int(response.get("chunk_count")),
        output_chars=_output_chars(outputs),
        output_tokens_per_second=rate,
        complete=complete,
        outcome=outcome,
    )


def _output_chars(messages: list[dict[str, Any]]) -> int | None:
    chars = [
        len(part["content"])
        for message in messages
        for part in message["parts"]
        if part.get("type") in ("text", "reasoning") and isinstance(part.get("content"), str)
    ]
    return sum(chars) if chars else None


CONVENTION = Logfire()
