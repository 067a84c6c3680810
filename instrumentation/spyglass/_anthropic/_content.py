"""Anthropic content blocks as OpenTelemetry GenAI message parts, faithfully and within bounds.

Every block type is kept: the ones the GenAI conventions name map onto their parts (`text`,
`reasoning`, `tool_call`, `tool_call_response`, `server_tool_call`, `server_tool_call_response`,
`blob`, `uri`, `file`); any other is passed through whole as `{"type": <type>, "raw": <block>}`.

Values may be plain dicts (what the caller wrote) or SDK objects (a `resp.content` passed back as
assistant content); both are read as the API's JSON, never as Python reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any

from spyglass._settings import Settings

# The SDK's markers for "not given"; the request body never carries them.
_OMITTED = frozenset({"NotGiven", "Omit"})
MIN_TEXT_CHARS = 64


def plain(value: Any) -> Any:
    """An SDK object, dict or list as the JSON the API speaks."""
    if isinstance(value, dict):
        return {
            str(key): plain(item)
            for key, item in value.items()
            if type(item).__name__ not in _OMITTED
        }
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "model_dump"):  # pydantic: every SDK model
        return plain(_dump(value))
    if isinstance(value, bytes | bytearray):
        return {"type": "bytes", "size": len(value)}
    if hasattr(value, "__iter__"):
        return [plain(item) for item in value]
    return str(value)


def _as_json(value: Any) -> Any:
    """`plain(value)`, skipped for what is JSON already.

    The converter's input has been through `plain()` once (the request body, the response, the
    assembled stream), so its dicts and lists hold JSON only; converting them again on every
    call would cost the app time for nothing.
    """
    return value if type(value) in (dict, list, str) else plain(value)


def _dump(model: Any) -> Any:
    # A block type newer than the SDK is parsed into the wrong model (a TextBlock with extra
    # fields); pydantic would warn about it on every dump, in the caller's app.
    try:
        return model.model_dump(mode="json", exclude_none=True, by_alias=True, warnings=False)
    except TypeError:  # a model_dump without `warnings`
        return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def _field(value: Any, name: str, default: Any = None) -> Any:
    if isinstance(value, dict):
        return value.get(name, default)
    return getattr(value, name, default)


class Converter:
    """Turns one call's content into parts, cutting any text past `max_chars`."""

    def __init__(self, settings: Settings, max_chars: int) -> None:
        self.settings = settings
        self.max_chars = max_chars
        self.truncated = False

    # --- bounds -------------------------------------------------------------------------------

    def cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        self.truncated = True
        return text[: self.max_chars]

    def _text_part(self, kind: str, text: str, **extra: Any) -> dict[str, Any]:
        part: dict[str, Any] = {"type": kind, "content": self.cut(text), **extra}
        if len(text) > self.max_chars:
            part.update(truncated=True, original_length=len(text))
        return part

    def bounded(self, value: Any) -> Any:
        """A JSON value with every long string cut: tool arguments, results, raw blocks."""
        if isinstance(value, str):
            return self.cut(value)
        if isinstance(value, dict):
            return {key: self.bounded(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.bounded(item) for item in value]
        return value

    # --- blocks -------------------------------------------------------------------------------

    def part(self, block: Any) -> dict[str, Any]:
        block = _as_json(block)
        if isinstance(block, str):
            return self._text_part("text", block)
        if not isinstance(block, dict):
            return {"type": "unknown", "raw": self.bounded(block)}
        kind = block.get("type")
        handler = _HANDLERS.get(kind)
        if handler is None and isinstance(kind, str) and kind.endswith("_tool_result"):
            handler = Converter._server_tool_result
        if handler is None:
            return {
                "type": kind if isinstance(kind, str) else "unknown",
                "raw": self.bounded(block),
            }
        part = handler(self, block)
        # What only a stream cut short or newer than this code leaves on a block: tool input
        # JSON that never parsed, and deltas of an unknown type.
        if "partial_input_json" in block:
            part["partial_arguments"] = self.cut(block["partial_input_json"])
        if block.get("unparsed_deltas"):
            part["unparsed_deltas"] = self.bounded(block["unparsed_deltas"])
        return part

    def parts(self, content: Any) -> list[dict[str, Any]]:
        if content is None:
            return []
        if isinstance(content, str):
            return [self._text_part("text", content)]
        content = _as_json(content)
        if isinstance(content, dict):  # one block where a list was expected
            return [self.part(content)]
        return [self.part(block) for block in content]

    def _text(self, block: dict) -> dict[str, Any]:
        extra = {"citations": self.bounded(block["citations"])} if block.get("citations") else {}
        return self._text_part("text", block.get("text", ""), **extra)

    def _thinking(self, block: dict) -> dict[str, Any]:
        # The signature is opaque, but it is what the API checks when the block is sent back
        # in a later turn: a faithful record keeps it.
        signature = block.get("signature")
        extra = (
            {"signature": self.cut(signature)} if signature and isinstance(signature, str) else {}
        )
        return self._text_part("reasoning", block.get("thinking", ""), **extra)

    def _redacted_thinking(self, block: dict) -> dict[str, Any]:
        data = block.get("data")
        part: dict[str, Any] = {"type": "reasoning", "redacted": True}
        if isinstance(data, str):
            part.update(data=self.cut(data), data_length=len(data))
        return part

    def _tool_use(self, block: dict) -> dict[str, Any]:
        part = {
            "type": "tool_call",
            "id": block.get("id"),
            "name": block.get("name"),
            "arguments": self.bounded(block.get("input")),
        }
        for extra in ("caller", "toolset_name"):
            if block.get(extra) is not None:
                part[extra] = block[extra]
        return part

    def _server_tool_use(self, block: dict) -> dict[str, Any]:
        part = {
            "type": "server_tool_call",
            "id": block.get("id"),
            "name": block.get("name"),
            "arguments": self.bounded(block.get("input")),
            "anthropic_type": block.get("type"),
        }
        if block.get("server_name") is not None:
            part["server_name"] = block["server_name"]
        return part

    def _tool_result(self, block: dict) -> dict[str, Any]:
        content = block.get("content")
        response: Any = self.cut(content) if isinstance(content, str) else self.parts(content)
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": response,
            "is_error": bool(block.get("is_error")),
        }

    def _server_tool_result(self, block: dict) -> dict[str, Any]:
        part = {
            "type": "server_tool_call_response",
            "id": block.get("tool_use_id"),
            "anthropic_type": block.get("type"),
            "response": self.bounded(block.get("content")),
        }
        if "is_error" in block:
            part["is_error"] = bool(block["is_error"])
        return part

    def _media(self, block: dict) -> dict[str, Any]:
        modality = "image" if block.get("type") == "image" else "document"
        source = block.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        part: dict[str, Any]
        if kind == "base64":
            data = source.get("data") or ""
            try:
                raw = base64.b64decode(data, validate=False)
            except (binascii.Error, ValueError):
                raw = data.encode("utf-8", "surrogatepass")
            part = {
                "type": "blob",
                "modality": modality,
                "mime_type": source.get("media_type"),
                "size": len(raw),
                "sha256": hashlib.sha256(raw).hexdigest(),
            }
            if self.settings.keep_media:
                # Kept within the same bound as any text, so that the size cap holds and one
                # large image cannot crowd out the conversation.
                if len(data) <= self.max_chars:
                    part["content"] = data
                else:
                    self.truncated = True
                    part["truncated"] = True
        elif kind == "url":
            part = {"type": "uri", "modality": modality, "uri": source.get("url")}
        elif kind == "file":
            part = {"type": "file", "modality": modality, "file_id": source.get("file_id")}
        elif kind == "text":
            part = self._text_part(
                "document", source.get("data", ""), mime_type=source.get("media_type", "text/plain")
            )
        elif kind == "content":
            part = {"type": "document", "content": self.parts(source.get("content"))}
        else:
            return {"type": block.get("type", "unknown"), "raw": self.bounded(block)}
        for extra in ("title", "context", "citations"):
            if block.get(extra) is not None:
                part[extra] = self.bounded(block[extra])
        return part

    def _search_result(self, block: dict) -> dict[str, Any]:
        part = {
            "type": "search_result",
            "source": block.get("source"),
            "title": block.get("title"),
            "content": self.parts(block.get("content")),
        }
        if block.get("citations") is not None:
            part["citations"] = block["citations"]
        return part

    # --- messages ------------------------------------------------------------------------------

    def messages(self, messages: Any) -> list[dict[str, Any]]:
        result = []
        for message in _as_json(messages) or []:
            if not isinstance(message, dict):
                result.append({"role": "unknown", "parts": [self.part(message)]})
                continue
            result.append(
                {"role": message.get("role", "user"), "parts": self.parts(message.get("content"))}
            )
        return result

    def system(self, system: Any) -> list[dict[str, Any]]:
        return self.parts(system)

    def tools(self, tools: Any) -> list[dict[str, Any]]:
        definitions = []
        for tool in _as_json(tools) or []:
            if not isinstance(tool, dict):
                continue
            if tool.get("type") in (None, "custom"):
                definitions.append(
                    {
                        "type": "function",
                        "name": tool.get("name"),
                        "description": self.bounded(tool.get("description")),
                        "parameters": tool.get("input_schema"),
                    }
                )
            else:  # a server tool (web search, code execution, …): keep it as sent
                definitions.append({"type": tool["type"], "name": tool.get("name"), "raw": tool})
        return definitions

    def output(self, content: Any, stop_reason: Any, **extra: Any) -> list[dict[str, Any]]:
        message = {"role": "assistant", "parts": self.parts(content), "finish_reason": stop_reason}
        message.update(extra)
        return [message]


_HANDLERS: dict[str, Callable[[Converter, dict], dict[str, Any]]] = {
    "text": Converter._text,
    "thinking": Converter._thinking,
    "redacted_thinking": Converter._redacted_thinking,
    "tool_use": Converter._tool_use,
    "server_tool_use": Converter._server_tool_use,
    "mcp_tool_use": Converter._server_tool_use,
    "tool_result": Converter._tool_result,
    "image": Converter._media,
    "document": Converter._media,
    "search_result": Converter._search_result,
}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(settings: Settings, build: Callable[[Converter], Any]) -> tuple[str, bool]:
    """`build`'s parts as a JSON string within `settings.max_attribute_bytes`, and whether cut.

    When the JSON is too large, the per-text limit is halved and the parts are built again,
    so the texts that make it large are cut and the structure stays whole. When even the
    shortest texts leave it too large (very many items), only the latest items that fit are kept.
    """
    limit = settings.max_attribute_bytes
    max_chars = settings.max_text_chars
    while True:
        converter = Converter(settings, max_chars)
        value = build(converter)
        text = _dumps(value)
        # surrogatepass: a lone surrogate is measured here and replaced on export (_delivery).
        if len(text.encode("utf-8", "surrogatepass")) <= limit:
            return text, converter.truncated
        if max_chars <= MIN_TEXT_CHARS:
            break
        max_chars = max(MIN_TEXT_CHARS, max_chars // 2)
    kept: list[str] = []
    size = len("[]")
    for item in reversed(value if isinstance(value, list) else []):
        item_text = _dumps(item)
        size += len(item_text.encode("utf-8", "surrogatepass")) + len(",")
        if size > limit:
            break
        kept.append(item_text)
    return "[" + ",".join(reversed(kept)) + "]", True
