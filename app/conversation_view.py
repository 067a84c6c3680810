"""A normalised conversation turned into blocks a template can lay out without guessing.

Conversations come from span attributes, so every field may be missing, of the wrong type, or
hostile. This module reads each part once, defensively, and produces `Block`s whose text is
already safe HTML (`app.rendering`) or plain strings the template escapes. A part it does not
know, and any field of a known part it does not use, is still shown: nothing is dropped.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from app.conventions.pairing import iter_parts, pair_tool_calls
from app.rendering import json_html, json_view, markdown, pretty_json, render_budget, safe_url

# Text longer than this is collapsed behind "show all".
LONG_CHARS = 3_000
LONG_LINES = 40
# Images shown inline from their kept base64 data; other types are only described.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
BASE64 = re.compile(r"^[A-Za-z0-9+/\s]*={0,2}\s*$")
KNOWN_ROLES = frozenset({"system", "user", "assistant", "tool"})
# Fields every part kind reads itself; anything else on a part is listed as a fact.
COMMON_FIELDS = frozenset({"type"})


@dataclass
class Block:
    """One displayed piece of a message: text, thinking, a tool call or result, media…"""

    kind: str  # drives the layout: text, reasoning, redacted, tool_call, tool_result, media, …
    label: str = ""
    body: Markup | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)
    anchor: str | None = None  # this block's id in the page
    link: tuple[str, str] | None = None  # (href, text): to the paired call or result
    error: bool = False
    long: bool = False
    chars: int = 0
    image_src: str | None = None
    url: str | None = None
    note: str | None = None
    uid: str = ""  # unique in the page: ties a "show all" toggle to its text


@dataclass
class Message:
    role: str
    role_class: str
    blocks: list[Block]
    output: bool
    finish_reason: str | None = None


@dataclass
class ConversationView:
    system: list[Block]
    messages: list[Message]
    tools: list[Block]
    request_params: list[tuple[str, str]]
    raw_json: Markup
    # What the source is known to get wrong or leave out, in words for the reader.
    notes: list[str] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _fact_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return pretty_json(value)


def _human_size(size: Any) -> str | None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return None
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return None  # not reached: the loop returns at "MB"


def _is_long(text: str) -> bool:
    return len(text) > LONG_CHARS or text.count("\n") > LONG_LINES


CALL_KINDS = ("tool_call", "server_tool_call")
RESULT_KINDS = ("tool_call_response", "server_tool_call_response")


class _Builder:
    def __init__(self, conversation: dict[str, Any]) -> None:
        self.ids = (f"b{n}" for n in itertools.count())
        # Tool calls and results are matched by the part itself (its identity), not by its id
        # text: ids come from span content and may repeat, and anchors must stay unique.
        self.anchors: dict[int, str] = {}
        first_call: dict[str, dict[str, Any]] = {}
        taken: set[str] = set()
        for part in iter_parts(conversation):
            ident, kind = part.get("id"), part.get("type")
            if not isinstance(ident, str) or kind not in (*CALL_KINDS, *RESULT_KINDS):
                continue
            if kind in CALL_KINDS:
                first_call.setdefault(ident, part)
            self.anchors[id(part)] = _anchor(
                "call" if kind in CALL_KINDS else "result", ident, taken
            )
        answers = pair_tool_calls(conversation)
        self.result_of = {
            id(first_call[ident]): answer
            for ident, answer in answers.items()
            if ident in first_call
        }
        self.call_of = {
            id(answer): first_call[i] for i, answer in answers.items() if i in first_call
        }

    # --- parts ---------------------------------------------------------------------------------

    def blocks(self, parts: Any) -> list[Block]:
        if isinstance(parts, str):
            parts = [{"type": "text", "content": parts}]
        if not isinstance(parts, list):
            parts = [parts]
        return [self.block(part) for part in parts]

    def block(self, part: Any) -> Block:
        if not isinstance(part, dict):
            return self._raw("value", part)
        kind = part.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return self._raw(kind if isinstance(kind, str) else "unknown", part)
        block, used = handler(self, part)
        block.uid = block.uid or next(self.ids)
        if block.kind == "raw":
            return block
        if part.get("truncated"):
            original = part.get("original_length")
            block.note = "cut by the instrumentation" + (
                f" (it had {original:,} characters)" if isinstance(original, int) else ""
            )
        used = used | COMMON_FIELDS | {"truncated", "original_length"}
        # None is how JSON says "absent": listing it would only add noise.
        block.facts.extend(
            (key, _fact_value(value))
            for key, value in part.items()
            if key not in used and value is not None
        )
        return block

    def _raw(self, kind: str, value: Any) -> Block:
        inner = value.get("raw", value) if isinstance(value, dict) else value
        return Block(kind="raw", label=kind, body=json_html(inner), uid=next(self.ids))

    def _prose(self, kind: str, text: str, label: str = "") -> Block:
        return Block(
            kind=kind,
            label=label,
            body=markdown(text),
            long=_is_long(text),
            chars=len(text),
            uid=next(self.ids),
        )

    def _plain(self, kind: str, text: str, label: str = "") -> Block:
        """Text kept exactly as it was, whitespace and all: tool output, documents."""
        return Block(
            kind=kind,
            label=label,
            body=Markup("<pre>{}</pre>").format(text),
            long=_is_long(text),
            chars=len(text),
            uid=next(self.ids),
        )

    def text(self, part: dict) -> tuple[Block, set[str]]:
        content = _text(part.get("content"))
        if content is None:
            return self._raw("text", part), set()
        block = self._prose("text", content)
        used = {"content"}
        citations = part.get("citations")
        if isinstance(citations, list):
            block.children = [self.citation(c) for c in citations]
            used.add("citations")
        return block, used

    def citation(self, citation: Any) -> Block:
        if not isinstance(citation, dict):
            return self._raw("citation", citation)
        quoted = _text(citation.get("cited_text")) or ""
        title = _text(citation.get("document_title")) or _text(citation.get("title")) or ""
        block = Block(kind="citation", label=title, body=Markup("<q>{}</q>").format(quoted))
        block.url = safe_url(citation.get("url"))
        shown = {"cited_text", "document_title", "title"} if title or quoted else set()
        if block.url:
            shown.add("url")
        block.facts = [
            (key, _fact_value(value)) for key, value in citation.items() if key not in shown
        ]
        return block

    def reasoning(self, part: dict) -> tuple[Block, set[str]]:
        if part.get("redacted"):
            length = part.get("data_length")
            if not isinstance(length, int) and isinstance(part.get("data"), str):
                length = len(part["data"])
            block = Block(kind="redacted", label="Redacted thinking")
            block.note = "The model's thinking was encrypted by the provider" + (
                f" ({length:,} bytes)." if isinstance(length, int) else "."
            )
            # The ciphertext itself means nothing to a reader; its size is shown instead.
            return block, {"redacted", "data_length", "data"}
        content = _text(part.get("content"))
        if content is None:
            return self._raw("reasoning", part), set()
        block = self._prose("reasoning", content, "Thinking")
        if part.get("has_signature") or part.get("signature"):
            block.facts.append(("signed", "yes"))
        return block, {"content", "has_signature", "signature"}

    def tool_call(self, part: dict) -> tuple[Block, set[str]]:
        server = part.get("type") == "server_tool_call"
        name = _text(part.get("name"))
        block = Block(
            kind="server_tool_call" if server else "tool_call", label=name or "(unnamed tool)"
        )
        self._json_body(block, part.get("arguments", {}))
        used = {"arguments", "name"} if name else {"arguments"}
        ident = part.get("id")
        if isinstance(ident, str):
            used.add("id")
            block.anchor = self.anchors.get(id(part))
            block.facts.append(("id", ident))
            result = self.result_of.get(id(part))
            if result is not None:
                block.error = bool(result.get("is_error"))
                block.link = (
                    "#" + self.anchors[id(result)],
                    "error result" if block.error else "result",
                )
            else:
                block.note = "Its result is not part of this call."
        return block, used

    def _json_body(self, block: Block, value: Any) -> None:
        """A JSON body, folded like long text when its pretty form is long."""
        block.body, text = json_view(value)
        block.long, block.chars = _is_long(text), len(text)

    def tool_result(self, part: dict) -> tuple[Block, set[str]]:
        server = part.get("type") == "server_tool_call_response"
        ident = part.get("id")
        call = self.call_of.get(id(part))
        name = _text(call.get("name")) if call else None
        block = Block(
            kind="server_tool_result" if server else "tool_result",
            label=name or "",
            error=bool(part.get("is_error")),
        )
        response = part.get("response")
        if isinstance(response, list) and all(
            isinstance(p, dict) and "type" in p for p in response
        ):
            block.children = self.blocks(response)
        elif isinstance(response, str) and response.strip()[:1] not in ("{", "["):
            block.body = Markup("<pre>{}</pre>").format(response)
            block.long, block.chars = _is_long(response), len(response)
        else:
            self._json_body(block, response)
        used = {"response", "is_error"}
        if isinstance(ident, str):
            used.add("id")
            block.anchor = self.anchors.get(id(part))
            block.facts.append(("id", ident))
            if call is not None:
                block.link = ("#" + self.anchors[id(call)], "call")
        return block, used

    def media(self, part: dict) -> tuple[Block, set[str]]:
        kind = part.get("type")
        modality = _text(part.get("modality")) or "file"
        mime = _text(part.get("mime_type"))
        block = Block(kind="media", label=modality.capitalize())
        # Only what is shown below counts as used; anything else is listed as a fact.
        used = {"modality"} if _text(part.get("modality")) else set()
        if mime:
            used.add("mime_type")
            block.facts.append(("type", mime))
        size = _human_size(part.get("size"))
        if size:
            used.add("size")
            block.facts.append(("size", size))
        if isinstance(part.get("sha256"), str):
            used.add("sha256")
            block.facts.append(("sha256", part["sha256"]))
        if kind == "blob":
            data = part.get("content")
            used.add("content")
            if isinstance(data, str) and data:
                if modality == "image" and mime in INLINE_IMAGE_TYPES and _valid_base64(data):
                    block.image_src = f"data:{mime};base64,{''.join(data.split())}"
                else:
                    block.facts.append(("data", f"{len(data):,} base64 characters kept"))
            elif data in (None, ""):
                block.note = "The data was not kept: only its type, size and hash."
            else:
                used.discard("content")
        elif kind == "uri" and "uri" in part:
            used.add("uri")
            block.url = safe_url(part["uri"])
            if block.url is None:
                block.facts.append(("uri", _fact_value(part["uri"])))
        elif kind == "file" and "file_id" in part:
            used.add("file_id")
            block.facts.append(("file id", _fact_value(part["file_id"])))
        return block, used

    def document(self, part: dict) -> tuple[Block, set[str]]:
        title = _text(part.get("title"))
        used = {"content", "citations", "title"} if title else {"content", "citations"}
        title = title or "Document"
        content = part.get("content")
        if isinstance(content, str):
            block = self._plain("document", content, title)
        else:
            block = Block(kind="document", label=title, children=self.blocks(content or []))
        citations = part.get("citations")
        if citations is not None:
            block.facts.append(("citations", _fact_value(citations)))
        return block, used

    def search_result(self, part: dict) -> tuple[Block, set[str]]:
        title = _text(part.get("title"))
        used = {"content", "title"} if title else {"content"}
        block = Block(
            kind="document",
            label=title or "Search result",
            children=self.blocks(part.get("content") or []),
        )
        block.url = safe_url(part.get("source"))
        if block.url is not None:
            used.add("source")
        return block, used

    # --- the whole call --------------------------------------------------------------------------

    def messages(self, messages: Any, output: bool) -> Iterator[Message]:
        for message in messages if isinstance(messages, list) else [messages]:
            if not isinstance(message, dict):
                yield Message("unknown", "other", [self._raw("message", message)], output)
                continue
            role = _text(message.get("role")) or "unknown"
            blocks = self.blocks(message.get("parts", []))
            extra = {
                k: v for k, v in message.items() if k not in ("role", "parts", "finish_reason")
            }
            if extra:
                blocks.append(self._raw("message fields", extra))
            finish = message.get("finish_reason")
            yield Message(
                role=role,
                role_class=role if role in KNOWN_ROLES else "other",
                blocks=blocks,
                output=output,
                finish_reason=_fact_value(finish) if finish is not None else None,
            )

    def tool_definition(self, tool: Any) -> Block:
        if not isinstance(tool, dict):
            return self._raw("tool", tool)
        name = _text(tool.get("name")) or _text(tool.get("type")) or "(unnamed tool)"
        description = _text(tool.get("description"))
        schema = tool.get("parameters", tool.get("raw"))
        block = Block(kind="tool", label=name, body=json_html(schema) if schema else None)
        if description:
            block.children.append(self._prose("text", description))
        return block


_HANDLERS = {
    "text": _Builder.text,
    "reasoning": _Builder.reasoning,
    "tool_call": _Builder.tool_call,
    "server_tool_call": _Builder.tool_call,
    "tool_call_response": _Builder.tool_result,
    "server_tool_call_response": _Builder.tool_result,
    "blob": _Builder.media,
    "uri": _Builder.media,
    "file": _Builder.media,
    "document": _Builder.document,
    "search_result": _Builder.search_result,
}


def _anchor(kind: str, ident: str, taken: set[str]) -> str:
    """A page id for a tool call or result, readable and unique among `taken`."""
    # Ids come from span content: keep them to characters that are safe in a fragment.
    base = f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "_", ident)[:120]
    anchor, n = base, 1
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor


def _valid_base64(data: str) -> bool:
    if not BASE64.match(data):
        return False
    try:
        base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _listed(value: Any) -> list[Any]:
    """A list as it is, one value as a list of it, and nothing as no items."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def build(conversation: dict[str, Any]) -> ConversationView:
    with render_budget():
        return _build(conversation)


def _build(conversation: dict[str, Any]) -> ConversationView:
    builder = _Builder(conversation)
    params = conversation.get("request_params")
    return ConversationView(
        system=builder.blocks(conversation.get("system_instructions") or []),
        messages=[
            *builder.messages(conversation.get("input_messages") or [], output=False),
            *builder.messages(conversation.get("output_messages") or [], output=True),
        ],
        tools=[builder.tool_definition(t) for t in _listed(conversation.get("tools"))],
        request_params=[
            (str(key), _fact_value(value))
            for key, value in (params.items() if isinstance(params, dict) else [])
        ],
        raw_json=json_html(conversation) if conversation else escape("{}"),
        notes=[_note_text(note) for note in _listed(conversation.get("notes"))],
    )


def _note_text(note: Any) -> str:
    if isinstance(note, dict) and isinstance(note.get("message"), str):
        return note["message"]
    return _fact_value(note)
