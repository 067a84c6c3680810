"""The messages and parts of a normalised conversation, fitted from whatever an emitter sent.

A message is `{"role": <str>, "parts": [<part>, …], …}` and a part is `{"type": <str>, …}`, as
in the OpenTelemetry GenAI conventions. What already has that shape is kept exactly as it came.
Anything else is fitted into it without losing a thing:

- a value where a part was expected, or a part without a type, becomes
  `{"type": "unknown", "raw": <value>}` (bare text becomes a text part);
- a message that is not one becomes a message of role "unknown" holding it as such a part;
- a message written the older way, `{"role", "content"}`, has its content read as parts;
- JSON text where a message, a part or a list of them was expected is read as JSON.

Two small repairs make parts readable without changing what they say: a text part written
the Anthropic way (`text` rather than `content`) is read as text, and tool arguments sent as
JSON text are read as the object they spell.
"""

from __future__ import annotations

from typing import Any

from app.conventions.common import structured

UNKNOWN = "unknown"
# Parts hold parts (a tool result holding documents holding text): past this, kept as they are.
MAX_NESTING = 16
# Part types whose field holds a list of parts.
_NESTED = {"tool_call_response": "response", "document": "content", "search_result": "content"}


def raw_part(value: Any, kind: str = UNKNOWN) -> dict[str, Any]:
    return {"type": kind, "raw": value}


def part(value: Any, depth: int = 0) -> dict[str, Any]:
    """One part, from a part, JSON text of one, bare text, or anything else (kept raw)."""
    if isinstance(value, str):
        parsed = structured(value)
        if not _is_typed(parsed):
            return {"type": "text", "content": value}
        value = parsed
    if not _is_typed(value):
        return raw_part(value)
    if depth >= MAX_NESTING:
        return value
    kind = value["type"]
    if kind == "text" and not isinstance(value.get("content"), str):
        text = value.get("text")
        if "content" not in value and isinstance(text, str):
            value = {key: item for key, item in value.items() if key != "text"}
            value["content"] = text
    elif kind in ("tool_call", "server_tool_call") and isinstance(value.get("arguments"), str):
        arguments = structured(value["arguments"])
        if isinstance(arguments, dict):
            value = {**value, "arguments": arguments}
    field = _NESTED.get(kind)
    nested = value.get(field) if field else None
    if isinstance(nested, list) and nested and all(_is_typed(item) for item in nested):
        value = {**value, field: [part(item, depth + 1) for item in nested]}
    return value


def parts(value: Any) -> list[dict[str, Any]]:
    """A list of parts (system instructions), from a list, JSON text, or one bare value.

    A system message written as a message (`{"role": "system", "parts" or "content": …}`)
    gives its parts.
    """
    value = structured(value)
    if value is None:
        return []
    result: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict) and "type" not in item and _is_bare_message(item):
            result.extend(message(item)["parts"])
        else:
            result.append(part(item))
    return result


def messages(value: Any) -> list[dict[str, Any]]:
    """A list of messages, from a list, JSON text of one, or one message on its own."""
    value = structured(value)
    if value is None:
        return []
    return [message(item) for item in (value if isinstance(value, list) else [value])]


def message(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        parsed = structured(value)
        if not isinstance(parsed, dict):
            return {"role": UNKNOWN, "parts": [raw_part(value)]}
        value = parsed
    if not isinstance(value, dict):
        return {"role": UNKNOWN, "parts": [raw_part(value)]}
    if "parts" in value:
        result = dict(value)
        result["parts"] = _parts_of(value["parts"])
    elif "content" in value:
        result = {key: item for key, item in value.items() if key != "content"}
        result["parts"] = _parts_of(value["content"])
    else:
        return {"role": _role(value.get("role")), "parts": [raw_part(value)]}
    role = value.get("role")
    if not isinstance(role, str) or not role:
        result["role"] = UNKNOWN
        if role is not None:
            result["raw_role"] = role
    return result


def tools(value: Any) -> list[Any]:
    """Tool definitions, kept as sent: from a list, JSON text of one, or one on its own."""
    value = structured(value)
    if value is None:
        return []
    return [structured(item) for item in (value if isinstance(value, list) else [value])]


def _parts_of(value: Any) -> list[dict[str, Any]]:
    value = structured(value)
    if value is None:
        return []
    return [part(item) for item in (value if isinstance(value, list) else [value])]


def _is_bare_message(value: dict[str, Any]) -> bool:
    """A message with nothing to it but its role and content, which its parts say in full."""
    return bool({"parts", "content"} & value.keys()) and value.keys() <= {
        "role",
        "parts",
        "content",
    }


def _is_typed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and bool(value["type"])


def _role(value: Any) -> str:
    return value if isinstance(value, str) and value else UNKNOWN
