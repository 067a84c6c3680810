"""Anthropic's content blocks, request bodies, usage and tools, read into the normalised shape.

Several emitters record the Anthropic API's own JSON (a request body, a response, blocks passed
through raw); this module is the one reader of it, shared by the conventions that meet it:

- `block(value)` / `content_parts(value)`: a content block (or a list of them) to a part, as
  our own client maps it, dropping nothing (with `whole`, every other field of the block stays
  on its part as sent): text with citations; thinking and redacted_thinking to `reasoning`;
  tool_use, server_tool_use and mcp_tool_use to `tool_call` or `server_tool_call`;
  tool_result and every `*_tool_result` to their responses; image and document sources to
  `blob`, `uri`, `file` or `document`; search_result. OpenAI's content parts are read too. A
  block with no part of its own is kept whole under `raw`;
- `raw_usage(raw, provider)`: a provider's usage object to totals, the input counting the
  cache reads and writes;
- `tool_definition(tool)`: a tool definition, Anthropic's or OpenAI's, as
  `{"type": "function", "name", "description", "parameters"}` (a server tool kept raw);
  `with_parameters(tool)` keeps a definition as sent but moves its schema under `parameters`.
"""

from __future__ import annotations

from typing import Any

from app.conventions import shapes
from app.conventions.common import as_int, structured

MAX_NESTING = shapes.MAX_NESTING


# The fields of a block that its part says in its own words; the rest are the block's own.
READ = {
    "text": ("text", "content"),
    "thinking": ("thinking",),
    "tool_use": ("id", "name", "input"),
    "server_tool_use": ("id", "name", "input"),
    "mcp_tool_use": ("id", "name", "input"),
    "tool_result": ("tool_use_id", "content"),
    "image": ("source",),
    "document": ("source",),
    "search_result": ("source", "title", "content"),
    "image_url": ("image_url",),
    "input_audio": ("input_audio",),
    "file": ("file",),
}


def content_parts(content: Any, *, whole: bool = False) -> list[dict[str, Any]]:
    # Inside a request body already read as JSON, text is text even when it looks like JSON.
    if content is None:
        return []
    items = content if isinstance(content, list) else [content]
    return [block(item, whole=whole) for item in items]


def block(value: Any, depth: int = 0, *, whole: bool = False) -> dict[str, Any]:
    """One content block of Anthropic's or OpenAI's API as a part, mapped as our own client
    maps it, dropping nothing: a block with no part of its own is kept whole under `raw`.

    With `whole`, the block's other fields (a cache_control, a field newer than this code…)
    stay on its part as sent, for conventions that show the provider's JSON; without it, the
    part is what our client records. Both keep a thinking block's signature and the data of
    redacted thinking: the API checks them when the block is sent back.
    """
    if isinstance(value, str):
        return {"type": "text", "content": value}
    if not isinstance(value, dict):
        return shapes.raw_part(value)
    kind = value.get("type")
    if not isinstance(kind, str) or not kind or depth >= MAX_NESTING:
        return shapes.raw_part(value, kind if isinstance(kind, str) and kind else shapes.UNKNOWN)
    part = _fitted(value, kind, depth, whole)
    if whole and "raw" not in part:
        read = READ.get(kind, ("tool_use_id", "content"))
        for key, item in value.items():
            if key != "type" and key not in read and item is not None:
                part.setdefault(key, item)
    return part


def _fitted(block: dict[str, Any], kind: str, depth: int, whole: bool) -> dict[str, Any]:
    if kind == "text" and isinstance(block.get("text", block.get("content")), str):
        part = {"type": "text", "content": block.get("text", block.get("content"))}
        if block.get("citations"):
            part["citations"] = block["citations"]
        return part
    # OpenLLMetry writes a thinking block's text under `content`.
    thinking = block.get("thinking", block.get("content", ""))
    if kind == "thinking" and isinstance(thinking, str):
        part = {"type": "reasoning", "content": thinking}
        signature = block.get("signature")
        return part | ({"signature": signature} if signature and isinstance(signature, str) else {})
    if kind == "redacted_thinking":
        data = block.get("data")
        part = {"type": "reasoning", "redacted": True}
        if not isinstance(data, str):
            return part | {"data_length": None}
        return part | {"data": data, "data_length": len(data)}
    if kind == "tool_use":
        part = {"type": "tool_call", "id": block.get("id"), "name": block.get("name")}
        return part | {"arguments": block.get("input")} | _present(block, "caller", "toolset_name")
    if kind in ("server_tool_use", "mcp_tool_use"):
        part = {"type": "server_tool_call", "id": block.get("id"), "name": block.get("name")}
        part |= {"arguments": block.get("input"), "anthropic_type": kind}
        return part | _present(block, "server_name")
    if kind == "tool_result":
        content = block.get("content")
        part = {"type": "tool_call_response", "id": block.get("tool_use_id")}
        part["response"] = (
            content if isinstance(content, str) else _nested_parts(content, depth, whole)
        )
        return part | _is_error(block, whole, always=True)
    if kind.endswith("_tool_result"):
        part = {"type": "server_tool_call_response", "id": block.get("tool_use_id")}
        part |= {"anthropic_type": kind, "response": block.get("content")}
        return part | _is_error(block, whole, always=False)
    if kind in ("image", "document"):
        return _media(block, depth, whole)
    if kind == "search_result" and isinstance(block.get("source"), str):
        # Without the source it must name, it is kept as it came.
        part = {"type": "search_result", "source": block.get("source"), "title": block.get("title")}
        return (
            part
            | {"content": _nested_parts(block.get("content"), depth, whole)}
            | _present(block, "citations")
        )
    if kind == "image_url" and isinstance(block.get("image_url"), dict):
        return _url_part(block["image_url"].get("url"), "image") | _present(
            block["image_url"], "detail"
        )
    if kind == "input_audio" and isinstance(block.get("input_audio"), dict):
        audio = block["input_audio"]
        part = {"type": "blob", "modality": "audio", "content": audio.get("data")}
        return part | _present(audio, "format")
    if kind == "file" and isinstance(block.get("file"), dict):
        file = block["file"]
        if isinstance(file.get("file_data"), str):
            part = _url_part(file["file_data"], "document")
        else:
            part = {"type": "file", "modality": "document", "file_id": file.get("file_id")}
        return part | _present(file, "filename")
    return shapes.raw_part(block, kind)


def _is_error(block: dict[str, Any], whole: bool, *, always: bool) -> dict[str, Any]:
    """A tool result's `is_error`: as sent when `whole` (then with the other fields), else as
    a flag, on a tool_result even when it was left out."""
    if whole or not (always or "is_error" in block):
        return {}
    return {"is_error": bool(block.get("is_error"))}


def _nested_parts(content: Any, depth: int, whole: bool) -> list[dict[str, Any]]:
    if content is None:
        return []
    items = content if isinstance(content, list) else [content]
    return [block(item, depth + 1, whole=whole) for item in items]


def _media(block: dict[str, Any], depth: int, whole: bool) -> dict[str, Any]:
    """An Anthropic image or document block, by the kind of its source."""
    modality = "image" if block["type"] == "image" else "document"
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        part = {"type": "blob", "modality": modality, "mime_type": source.get("media_type")}
        part["content"] = source.get("data")
    elif kind == "url":
        part = {"type": "uri", "modality": modality, "uri": source.get("url")}
    elif kind == "file":
        part = {"type": "file", "modality": modality, "file_id": source.get("file_id")}
    elif kind == "text":
        part = {"type": "document", "content": source.get("data")}
        part["mime_type"] = source.get("media_type", "text/plain")
    elif kind == "content":
        nested = _nested_parts(source.get("content"), depth, whole)
        part = {"type": "document", "content": nested}
    else:
        return shapes.raw_part(block, block["type"])
    return part | _present(block, "title", "context", "citations")


def _url_part(url: Any, modality: str) -> dict[str, Any]:
    """A URL, or the data a `data:` URL holds."""
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        head, _, data = url.partition(";base64,")
        return {"type": "blob", "modality": modality, "mime_type": head[5:], "content": data}
    return {"type": "uri", "modality": modality, "uri": url}


def _present(source: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def raw_usage(raw: Any, provider: str | None) -> dict[str, int | None]:
    """The counts of a raw Anthropic or OpenAI usage object, the input as the whole input:
    Anthropic's `input_tokens` leaves the cache reads and writes out, OpenAI's `prompt_tokens`
    (and the Responses API's `input_tokens`) count them. Without a usage object, all None."""
    if not isinstance(raw, dict):
        raw = {}

    def detail(name: str, key: str) -> int | None:
        details = raw.get(name)
        return as_int(details.get(key)) if isinstance(details, dict) else None

    if "prompt_tokens" in raw or "completion_tokens" in raw:  # OpenAI chat completions
        return {
            "input_tokens": as_int(raw.get("prompt_tokens")),
            "output_tokens": as_int(raw.get("completion_tokens")),
            "cache_read_input_tokens": detail("prompt_tokens_details", "cached_tokens"),
            "cache_creation_input_tokens": detail("prompt_tokens_details", "cache_write_tokens"),
        }
    anthropic_keys = {"cache_read_input_tokens", "cache_creation_input_tokens"} & raw.keys()
    if provider == "anthropic" or anthropic_keys:
        uncached = as_int(raw.get("input_tokens"))
        cache_read = as_int(raw.get("cache_read_input_tokens"))
        cache_write = as_int(raw.get("cache_creation_input_tokens"))
        total = None
        if uncached is not None:
            total = as_int(uncached + (cache_read or 0) + (cache_write or 0))
        return {
            "input_tokens": total,
            "output_tokens": as_int(raw.get("output_tokens")),
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        }
    return {  # OpenAI Responses API, whose input count includes the cache
        "input_tokens": as_int(raw.get("input_tokens")),
        "output_tokens": as_int(raw.get("output_tokens")),
        "cache_read_input_tokens": detail("input_tokens_details", "cached_tokens"),
        "cache_creation_input_tokens": None,
    }


def tool_definition(tool: Any) -> Any:
    """A tool definition as `{"type": "function", "name", "description", "parameters"}`, from
    Anthropic's or OpenAI's; a server tool is kept whole under `raw`."""
    if not isinstance(tool, dict):
        return tool
    kind = tool.get("type")
    function = tool.get("function")
    if kind == "function" and isinstance(function, dict):
        result = _function_tool(function, "parameters")
        extra = {key: value for key, value in tool.items() if key not in ("type", "function")}
    elif kind in (None, "custom") and "input_schema" in tool:
        result = _function_tool(tool, "input_schema")
        extra = {}
    elif kind == "function" or (kind is None and "parameters" in tool):
        return tool
    else:
        return {
            "type": kind if isinstance(kind, str) else "unknown",
            "name": tool.get("name"),
            "raw": tool,
        }
    for key, value in extra.items():
        result.setdefault(key, value)
    return result


def _function_tool(definition: dict[str, Any], schema: str) -> dict[str, Any]:
    result = {
        "type": "function",
        "name": definition.get("name"),
        "description": definition.get("description"),
        "parameters": definition.get(schema),
    }
    for key, value in definition.items():
        if key not in ("type", "name", "description", schema):
            result.setdefault(key, value)
    return result


def with_parameters(value: Any) -> Any:
    """A tool definition kept as sent but for its schema, moved under `parameters`: Anthropic
    calls it `input_schema`, and OpenAI nests the whole under `function`."""
    tool = structured(value)
    if not isinstance(tool, dict):
        return tool
    function = tool.get("function")
    if isinstance(function, dict) and "name" in function:
        rest = {key: item for key, item in tool.items() if key != "function"}
        tool = {**function, **{key: item for key, item in rest.items() if key not in function}}
    if "input_schema" in tool and "parameters" not in tool:
        schema = tool["input_schema"]
        tool = {key: item for key, item in tool.items() if key != "input_schema"}
        tool["parameters"] = structured(schema)
    return tool
