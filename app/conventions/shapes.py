"""The messages and parts of a normalised conversation, fitted from whatever an emitter sent.

A message is `{"role": <str>, "parts": [<part>, …], …}` and a part is `{"type": <str>, …}`, as
in the OpenTelemetry GenAI conventions. What already has that shape is kept exactly as it came.
Anything else is fitted into it without losing a thing:

- a value where a part was expected, or a part without a type, becomes
  `{"type": "unknown", "raw": <value>}` (bare text becomes a text part); a part of a type
  outside `PART_KINDS` is passed through by the conventions and, once they are done,
  kept whole as `{"type": <its type>, "raw": <the part>}` (`with_other_kinds_raw`);
- a message that is not one becomes a message of role "unknown" holding it as such a part;
- a message written the older way, `{"role", "content"}`, is read as an OpenAI chat message
  (below);
- JSON text where a message, a part or a list of them was expected is read as JSON.

Two small repairs make parts readable without changing what they say: a text part written
the Anthropic way (`text` rather than `content`) is read as text, and tool arguments sent as
JSON text are read as the object they spell.

OpenAI chat messages, as the older GenAI events and several instrumentors record them, have
functions of their own for other conventions to call:

- `openai_messages(value)` / `openai_message(value)`: `{"role", "content", "tool_calls",
  "tool_call_id", "function_call", …}` to a message. A `tool` (or legacy `function`) message
  becomes a `tool_call_response` part answering its `tool_call_id`; the assistant's
  `tool_calls` become `tool_call` parts after its content; every other key stays on the message;
- `openai_content(value)`: a message's content, text or an array of content parts, to parts
  (`text`; `image_url` to a `uri` part, or a `blob` for a base64 data URL; `input_audio` to a
  `blob`; `file` to a `file` or `blob` part; any other kind kept as it came);
- `openai_tool_calls(value)` / `openai_tool_call(value)`: `[{"id", "type": "function",
  "function": {"name", "arguments"}}]` to `tool_call` parts, the arguments' JSON text read.
"""

from __future__ import annotations

from typing import Any

from app.conventions.common import structured

UNKNOWN = "unknown"
# Parts hold parts (a tool result holding documents holding text): past this, kept as they are.
MAX_NESTING = 16
# The part types a normalised conversation is made of: the GenAI conventions' own, and two of
# Anthropic's that have no GenAI equivalent. Any other is shown as `{"type": <kind>, "raw": …}`.
PART_KINDS = frozenset(
    {
        "text",
        "reasoning",
        "tool_call",
        "tool_call_response",
        "server_tool_call",
        "server_tool_call_response",
        "blob",
        "uri",
        "file",
        "document",
        "search_result",
    }
)
# Part types whose field holds a list of parts.
_NESTED = {"tool_call_response": "response", "document": "content", "search_result": "content"}


def raw_part(value: Any, kind: str = UNKNOWN) -> dict[str, Any]:
    return {"type": kind, "raw": value}


def with_other_kinds_raw(conversation: dict[str, Any]) -> dict[str, Any]:
    """The conversation with every part of a kind outside `PART_KINDS` kept whole under `raw`.

    Each convention passes through the parts it does not map (a GenAI generic part, a block
    type newer than this code); this one pass gives them the same shape whichever convention
    recorded them, so that a reader of the API finds them in one place.
    """
    result = dict(conversation)
    if isinstance(result.get("system_instructions"), list):
        result["system_instructions"] = _parts_raw(result["system_instructions"], 0)
    for key in ("input_messages", "output_messages"):
        if isinstance(result.get(key), list):
            result[key] = [
                {**item, "parts": _parts_raw(item["parts"], 0)}
                if isinstance(item, dict) and isinstance(item.get("parts"), list)
                else item
                for item in result[key]
            ]
    return result


def _parts_raw(parts: list[Any], depth: int) -> list[Any]:
    return [_part_raw(item, depth) for item in parts]


def _part_raw(value: Any, depth: int) -> Any:
    if not isinstance(value, dict) or depth >= MAX_NESTING:
        return value
    kind = value.get("type")
    if kind not in PART_KINDS:
        if isinstance(kind, str) and value.keys() == {"type", "raw"}:
            return value
        return raw_part(value, kind if isinstance(kind, str) and kind else UNKNOWN)
    field = _NESTED.get(kind)
    if field and isinstance(value.get(field), list):
        return {**value, field: _parts_raw(value[field], depth + 1)}
    return value


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
        return _with_role(result, value.get("role"))
    if OPENAI_KEYS & value.keys():
        return openai_message(value)
    return {"role": _role(value.get("role")), "parts": [raw_part(value)]}


# --- OpenAI chat messages ----------------------------------------------------------------------

# The keys of an OpenAI chat message that hold what it says; all others stay on the message.
OPENAI_KEYS = frozenset({"content", "tool_calls", "tool_call_id", "function_call"})
# Roles whose content answers a tool call.
TOOL_ROLES = ("tool", "function")


def openai_messages(value: Any) -> list[dict[str, Any]]:
    """OpenAI chat messages (a list, JSON text of one, or one message) as messages."""
    value = structured(value)
    if value is None:
        return []
    return [openai_message(item) for item in (value if isinstance(value, list) else [value])]


def openai_message(value: Any) -> dict[str, Any]:
    """One OpenAI chat message as a message; one already in the GenAI shape is kept."""
    if isinstance(value, str):
        value = structured(value)
    if not isinstance(value, dict):
        return {"role": UNKNOWN, "parts": [raw_part(value)]}
    if "parts" in value or not OPENAI_KEYS & value.keys():
        return message(value)
    role = value.get("role")
    used = {"content", "tool_calls", "function_call"}
    found: list[dict[str, Any]] = []
    if role in TOOL_ROLES:
        response: dict[str, Any] = {"type": "tool_call_response"}
        if value.get("tool_call_id") is not None:
            response["id"] = value["tool_call_id"]
            used.add("tool_call_id")
        response["response"] = _tool_response(value.get("content"))
        found.append(response)
    else:
        found.extend(openai_content(value.get("content")))
    if "tool_calls" in value:
        found.extend(openai_tool_calls(value["tool_calls"]))
    if value.get("function_call") is not None:  # the form before tool_calls
        found.append(openai_tool_call({"function": value["function_call"]}))
    result = {key: item for key, item in value.items() if key not in used}
    result["parts"] = found
    return _with_role(result, role)


def openai_content(value: Any) -> list[dict[str, Any]]:
    """A message's content as parts: text, an array of content parts, or one part.

    Text stays text even when it looks like JSON, unless it spells parts.
    """
    if isinstance(value, str):
        parsed = structured(value)
        if _is_typed(parsed):
            return [openai_part(parsed)]
        if isinstance(parsed, list) and parsed and all(_is_typed(item) for item in parsed):
            return [openai_part(item) for item in parsed]
        return [{"type": "text", "content": value}]
    if value is None:
        return []
    return [openai_part(item) for item in (value if isinstance(value, list) else [value])]


def openai_part(value: Any) -> dict[str, Any]:
    """One OpenAI content part as a part; kinds with no GenAI equal are kept as they came."""
    if not _is_typed(value):
        return part(value)
    kind = value["type"]
    if kind == "image_url":
        fitted = _image_url(value)
    elif kind == "input_audio":
        fitted = _input_audio(value)
    elif kind == "file":
        fitted = _file(value)
    else:
        fitted = None
    return fitted if fitted is not None else part(value)


def openai_tool_calls(value: Any) -> list[dict[str, Any]]:
    """An assistant's `tool_calls` as `tool_call` parts."""
    value = structured(value)
    if value is None:
        return []
    return [openai_tool_call(item) for item in (value if isinstance(value, list) else [value])]


def openai_tool_call(value: Any) -> dict[str, Any]:
    """`{"id", "type": "function", "function": {"name", "arguments"}}` as a `tool_call` part.

    A call of the newer `custom` kind (`{"custom": {"name", "input"}}`) and a flat
    `{"id", "name", "arguments"}` are read too; anything else is kept raw.
    """
    value = structured(value)
    if _is_typed(value) and value["type"] == "tool_call":
        return part(value)
    if not isinstance(value, dict):
        return raw_part(value)
    for key, arguments_key in (("function", "arguments"), ("custom", "input")):
        inner = structured(value.get(key))
        if isinstance(inner, dict):
            rest = {k: item for k, item in value.items() if k not in ("id", "type", key)}
            if value.get("type") not in (None, key, "function"):
                rest["call_type"] = value["type"]
            extra = {k: item for k, item in inner.items() if k not in ("name", arguments_key)}
            return _tool_call(value.get("id"), inner, arguments_key, {**rest, **extra})
    if "name" in value and ("arguments" in value or "input" in value):
        arguments_key = "arguments" if "arguments" in value else "input"
        rest = {
            k: item for k, item in value.items() if k not in ("id", "type", "name", arguments_key)
        }
        return _tool_call(value.get("id"), value, arguments_key, rest)
    return raw_part(value)


def _tool_call(
    ident: Any, holder: dict[str, Any], arguments_key: str, rest: dict[str, Any]
) -> dict[str, Any]:
    call: dict[str, Any] = {"type": "tool_call"}
    if ident is not None:
        call["id"] = ident
    if "name" in holder:
        call["name"] = holder["name"]
    if arguments_key in holder:
        call["arguments"] = arguments(holder[arguments_key])
    return _with_extra(call, rest)


def arguments(value: Any) -> Any:
    """Tool arguments: JSON text of an object or array is read; anything else kept as sent."""
    parsed = structured(value)
    return parsed if isinstance(parsed, dict | list) else value


def _tool_response(content: Any) -> Any:
    """What a tool answered: text as it came, an array of content parts fitted as parts."""
    if isinstance(content, list) and content and all(_is_typed(item) for item in content):
        return [openai_part(item) for item in content]
    return content


def _image_url(value: dict[str, Any]) -> dict[str, Any] | None:
    image = value.get("image_url")
    details = image if isinstance(image, dict) else {"url": image}
    url = details.get("url")
    if not isinstance(url, str):
        return None
    extra = {key: item for key, item in details.items() if key != "url"}
    extra.update((key, item) for key, item in value.items() if key not in ("type", "image_url"))
    return _with_extra(_from_url(url, "image"), extra)


def _input_audio(value: dict[str, Any]) -> dict[str, Any] | None:
    audio = value.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        return None
    blob: dict[str, Any] = {"type": "blob", "modality": "audio"}
    if isinstance(audio.get("format"), str):
        blob["mime_type"] = f"audio/{audio['format']}"
    blob["content"] = audio["data"]
    extra = {key: item for key, item in audio.items() if key not in ("data", "format")}
    return _with_extra(blob, extra)


def _file(value: dict[str, Any]) -> dict[str, Any] | None:
    file = value.get("file")
    if not isinstance(file, dict):
        return None
    if isinstance(file.get("file_id"), str):
        fitted: dict[str, Any] = {
            "type": "file",
            "modality": "document",
            "file_id": file["file_id"],
        }
        extra = {key: item for key, item in file.items() if key != "file_id"}
    elif isinstance(file.get("file_data"), str):
        fitted = _from_url(file["file_data"], "document")
        if fitted["type"] == "uri":  # plain base64, not a data URL
            fitted = {"type": "blob", "modality": "document", "content": file["file_data"]}
        extra = {key: item for key, item in file.items() if key != "file_data"}
    else:
        return None
    return _with_extra(fitted, extra)


def _with_extra(fitted: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`fitted`, with whatever else the emitter said beside it (an image's `detail`, a file's
    name); on a clash of names, the fitted field is kept and the emitter's moves to `raw_…`."""
    for key, item in extra.items():
        if key not in fitted:
            fitted[key] = item
        elif fitted[key] != item:
            fitted.setdefault(f"raw_{key}", item)
    return fitted


def _from_url(url: str, modality: str) -> dict[str, Any]:
    """A `blob` from a base64 data URL (`data:image/png;base64,…`), else a `uri` part."""
    header, comma, data = url.partition(",")
    if url.startswith("data:") and comma and header.endswith(";base64"):
        mime_type = header.removeprefix("data:").removesuffix(";base64")
        blob: dict[str, Any] = {"type": "blob", "modality": _modality(mime_type, modality)}
        if mime_type:
            blob["mime_type"] = mime_type
        blob["content"] = data
        return blob
    return {"type": "uri", "modality": modality, "uri": url}


def _modality(mime_type: str, default: str) -> str:
    kind = mime_type.partition("/")[0]
    return kind if kind in ("image", "audio", "video") else default


# --- tools ------------------------------------------------------------------------------------


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


def _with_role(result: dict[str, Any], role: Any) -> dict[str, Any]:
    """`result` with a usable role: "unknown" in place of a missing one, the odd one kept."""
    if not isinstance(role, str) or not role:
        result["role"] = UNKNOWN
        if role is not None:
            result["raw_role"] = role
    return result


def _is_typed(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str) and bool(value["type"])


def _role(value: Any) -> str:
    return value if isinstance(value, str) and value else UNKNOWN
