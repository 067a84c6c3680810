"""Span attributes of a Messages call: the GenAI conventions first, `anthropic.*` for the rest.

Request parameters come from the body the SDK is about to send, `extra_body` included (the
sampling parameters travel there since anthropic 1.0). Response attributes come from a `Message`
or, for a stream, from the message the stream assembled.
"""

from __future__ import annotations

import json
from typing import Any

from spyglass._anthropic._content import encode, plain
from spyglass._settings import Settings

PROVIDER = "anthropic"
# Parameters that are content, recorded as messages rather than as parameters.
CONTENT_PARAMS = frozenset({"messages", "system", "tools"})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _scalar_list(value: Any) -> list[str] | None:
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


# "…token" but not "…tokens": authorization_token is a secret, max_tokens is not.
_SECRET_WORDS = ("secret", "password", "authorization", "api_key", "apikey", "credential")


def _is_secret(key: Any) -> bool:
    name = str(key).lower()
    return name.endswith("token") or any(word in name for word in _SECRET_WORDS)


REDACTED = "[redacted]"


def redacted(value: Any) -> Any:
    """`value` with the value of every key that names a secret replaced, at any depth.

    Parameters such as `mcp_servers[].authorization_token` carry credentials; a trace store
    is no place for them.
    """
    if isinstance(value, dict):
        return {key: REDACTED if _is_secret(key) else redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def request_attributes(params: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The request's model and parameters, from the merged JSON body."""
    capture_content = settings.capture_content
    result: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, str | bool | int | float):
            result[key] = value

    put("gen_ai.request.model", params.get("model"))
    put("gen_ai.request.max_tokens", params.get("max_tokens"))
    for name in ("temperature", "top_p", "top_k"):
        put(f"gen_ai.request.{name}", params.get(name))
    # Stop sequences and a forced tool's name are the user's words or the tools' names, which
    # a metadata-only span does not hold (the SDK's own tracing records them as content too).
    stop = _scalar_list(params.get("stop_sequences"))
    if stop is not None and capture_content:
        result["gen_ai.request.stop_sequences"] = stop
    if params.get("stream") is True:
        result["gen_ai.request.stream"] = True

    thinking = params.get("thinking")
    if isinstance(thinking, dict):
        put("anthropic.thinking.type", thinking.get("type"))
        put("anthropic.thinking.budget_tokens", thinking.get("budget_tokens"))
    output_config = params.get("output_config")
    if isinstance(output_config, dict):
        put("gen_ai.request.reasoning.level", output_config.get("effort"))
    output_format = params.get("output_format") or (output_config or {}).get("format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        result["gen_ai.output.type"] = "json"
    tool_choice = params.get("tool_choice")
    if isinstance(tool_choice, dict):
        put("anthropic.tool_choice.type", tool_choice.get("type"))
        if capture_content:
            put("anthropic.tool_choice.name", tool_choice.get("name"))
    put("anthropic.request.service_tier", params.get("service_tier"))
    thread = params.get("thread")
    if isinstance(thread, dict):
        put("anthropic.thread.previous_message_id", thread.get("previous_message_id"))

    # Every other parameter, so that nothing sent is lost (metadata, container, MCP servers, …),
    # with secrets redacted. They can hold user data, so they count as content.
    rest = {k: v for k, v in params.items() if k not in CONTENT_PARAMS}
    if rest and capture_content:
        result.update(parameters_attribute(redacted(rest), settings))
    return result


def parameters_attribute(parameters: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The other parameters as JSON, within the bounds of any content: long texts cut, and the
    whole within `max_attribute_bytes` (a `metadata` or an `extra_body` may be of any size)."""
    text, truncated = encode(settings, lambda converter: converter.bounded(plain(parameters)))
    result: dict[str, Any] = {"anthropic.request.parameters": text}
    if truncated:
        result["spyglass.content.truncated"] = True
    return result


def usage_attributes(usage: dict[str, Any]) -> dict[str, Any]:
    """Token counts with the GenAI conventions' arithmetic: input includes cache reads and writes."""

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    result: dict[str, Any] = {}
    if not usage:
        return result
    cache_read = count("cache_read_input_tokens")
    cache_write = count("cache_creation_input_tokens")
    result["gen_ai.usage.input_tokens"] = count("input_tokens") + cache_read + cache_write
    result["gen_ai.usage.output_tokens"] = count("output_tokens")
    result["gen_ai.usage.cache_read.input_tokens"] = cache_read
    # The conventions renamed "cache_creation" to "cache_write"; readers know one or the other.
    result["gen_ai.usage.cache_creation.input_tokens"] = cache_write
    result["gen_ai.usage.cache_write.input_tokens"] = cache_write
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        result["gen_ai.usage.reasoning.output_tokens"] = details["thinking_tokens"]
    result["anthropic.usage"] = _json(usage)
    return result


def response_attributes(
    message: dict[str, Any], usage: dict[str, Any], capture_content: bool
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if isinstance(message.get("id"), str):
        result["gen_ai.response.id"] = message["id"]
    if isinstance(message.get("model"), str):
        result["gen_ai.response.model"] = message["model"]
    if isinstance(message.get("stop_reason"), str):
        result["gen_ai.response.finish_reasons"] = [message["stop_reason"]]
    if isinstance(message.get("stop_sequence"), str) and capture_content:
        result["anthropic.response.stop_sequence"] = message["stop_sequence"]
    if isinstance(usage.get("service_tier"), str):
        result["anthropic.response.service_tier"] = usage["service_tier"]
    result.update(usage_attributes(usage))
    return result


def message_parts(message: Any) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """A response `Message` (or its dict) as (fields, usage, content blocks)."""
    data = plain(message)
    if not isinstance(data, dict):
        return {}, {}, []
    fields = {k: v for k, v in data.items() if k not in ("content", "usage")}
    return fields, data.get("usage") or {}, data.get("content") or []


def error_attributes(error: BaseException) -> dict[str, Any]:
    """`error.type` is the API's error type when it gave one (overloaded_error), else the class."""
    result: dict[str, Any] = {}
    api_type = getattr(error, "type", None)
    body = getattr(error, "body", None)
    if not isinstance(api_type, str) and isinstance(body, dict):
        inner = body.get("error")
        api_type = inner.get("type") if isinstance(inner, dict) else None
    result["error.type"] = api_type if isinstance(api_type, str) else type(error).__qualname__
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        result["http.response.status_code"] = status
    request_id = getattr(error, "request_id", None)
    if isinstance(request_id, str):
        result["anthropic.request.id"] = request_id
    return result
