"""Full-text search: the text indexed for each span, and the user's query as a safe match.

`search_text` runs at ingest and returns what a person may later type to find the span: its
name, and for an LLM call the conversation's words (messages, thinking, tool arguments and
results), not its JSON keys, ids or media. `fts_query` turns a search box's input into an
SQLite FTS5 expression that cannot be a syntax error. Pure: no database, nothing from `app`
but the conventions.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from app.conventions import convention_for, search_values
from app.conventions.common import structured

# One long attribute (a stack trace, a serialised request) is indexed by its start only.
MAX_VALUE_CHARS = 10_000
# The whole text of one span: a giant span cannot blow up the index or the ingest time.
MAX_BODY_CHARS = 1_000_000
# A piece of text this long (a sentence or more) is a message, a document or a tool result,
# which an agent's calls repeat in every later call of the conversation: it is indexed once per
# trace, with the first span that has it (`app.store.write_search_text`). Shorter ones (a span
# name, a model, a tool name, a path) are indexed with every span that has them, so that each
# of those spans is found by them.
SHARED_PIECE_CHARS = 64
# An FTS5 query ANDs its terms; past this many a query is a pasted document, not a search.
MAX_TERMS = 64

# Keys of a message or a part whose values are labels, not text anyone searches for.
NOT_TEXT = frozenset(
    {
        "type",
        "role",
        "id",
        "mime_type",
        "modality",
        "sha256",
        "anthropic_type",
        "finish_reason",
        "signature",  # a thinking block's: opaque
    }
)
# Parts that hold encoded bytes (base64), in the GenAI conventions and in Anthropic's raw blocks.
BINARY = frozenset({"blob", "base64", "bytes"})
GENAI_MESSAGES = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages")
# Where a message or a part holds parts of its own: a message, a tool result, a document.
HOLDS_PARTS = frozenset({"parts", "response", "content"})
MAX_PART_DEPTH = 8
# An image or a file inlined as a URL: not words.
DATA_URL = re.compile(r"data:[^,\s]{0,100};base64,")


class EmptyQuery(ValueError):
    """The input has no word to search for: only punctuation or spaces."""


class _Body:
    """The strings of one span, each once, in order, within the bounds."""

    def __init__(self) -> None:
        self.seen: dict[str, None] = {}
        self.size = 0

    @property
    def full(self) -> bool:
        return self.size >= MAX_BODY_CHARS

    def add(self, text: str, limit: int = MAX_BODY_CHARS) -> None:
        if len(text) > limit:
            text = text[:limit]
        text = text.strip()
        if not text or self.full or text in self.seen:
            return
        if text.startswith("data:") and DATA_URL.match(text):
            return
        self.seen[text] = None
        self.size += len(text) + 1

    def leaves(self, value: Any, limit: int = MAX_BODY_CHARS) -> None:
        """Every string and number in `value`, at any depth; keys are not text.

        A loop, not recursion: a value may be nested as deep as a JSON parser goes.
        """
        if isinstance(value, str) and not _looks_structured(value):
            self.add(value, limit)  # most values: plain text, no walk
            return
        stack = [value]
        while stack and not self.full:
            # Tool arguments and results often arrive as JSON text.
            item = structured(stack.pop())
            if isinstance(item, str):
                self.add(item, limit)
            elif isinstance(item, bool) or item is None:
                continue
            elif isinstance(item, int | float):
                self.add(str(item))
            elif isinstance(item, dict):
                if _kind(item) not in BINARY:
                    stack.extend(reversed(item.values()))
            elif isinstance(item, list):
                stack.extend(reversed(item))

    def part(self, part: Any, depth: int = 0) -> None:
        """A message or a part of one: every value but the labels (`NOT_TEXT`).

        The parts of a message, and those a tool result or a document is made of, are read as
        parts too, down to `MAX_PART_DEPTH`. Anything else (a tool's arguments, a raw block)
        keeps all its values, since an "id" or a "type" there is the tool's own data.
        """
        if not isinstance(part, dict) or depth > MAX_PART_DEPTH:
            self.leaves(part)
            return
        if _kind(part) in BINARY or part.get("redacted") is True:
            return  # encoded bytes, or redacted thinking's ciphertext: no words
        for key, value in part.items():
            if key in NOT_TEXT or isinstance(value, bool | int | float):
                continue  # numbers here are sizes and lengths
            if key in HOLDS_PARTS and isinstance(value, list):
                for item in value:
                    self.part(item, depth + 1)
            elif key == "content" and isinstance(value, str):
                # What a person or a model wrote: index it as written, even if it looks like JSON.
                self.add(value)
            else:
                self.leaves(value)

    def pieces(self) -> list[Piece]:
        # PostgreSQL text cannot hold NUL, and no one searches for it.
        texts = [text.replace("\x00", " ") for text in self.seen]
        return [
            (_digest(text) if len(text) >= SHARED_PIECE_CHARS else None, text) for text in texts
        ]


# A piece of a span's search text: its digest when it is long enough to be shared by the
# spans of a trace (None otherwise), and the text.
Piece = tuple[bytes | None, str]


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def join(pieces: list[Piece]) -> str | None:
    """The text of some pieces, as one body to index, or None when there is none."""
    return "\n".join(text for _, text in pieces)[:MAX_BODY_CHARS] or None


def search_text(name: str, attributes: dict[str, Any], scope_name: str = "") -> str | None:
    """The whole text to index for one span, or None when it has none; `scope_name` is its
    instrumentation scope's, which tells some conventions apart (`convention_for`)."""
    return join(search_pieces(name, attributes, scope_name))


def search_pieces(name: str, attributes: dict[str, Any], scope_name: str = "") -> list[Piece]:
    """The distinct strings a person may search one span by, in order (see `search_text`)."""
    body = _Body()
    body.add(name, MAX_VALUE_CHARS)
    convention = convention_for(attributes, scope_name)
    if convention is None:
        for value in attributes.values():
            body.leaves(value, MAX_VALUE_CHARS)
        return body.pieces()
    messages = [attributes[key] for key in GENAI_MESSAGES if key in attributes]
    if messages:
        # Already messages and parts (ours, and the GenAI conventions'): read them as they
        # are. Normalising them first would cost more than the rest of ingest together.
        for value in messages:
            parsed = structured(value)
            for item in parsed if isinstance(parsed, list) else [parsed]:
                body.part(item)
    else:
        for value in search_values(convention, attributes):
            for item in value if isinstance(value, list) else [value]:
                body.part(item)
    # The call's other values (a model, a response id, the app's own attributes) are
    # searchable too; documents are left out, since the conversation above already read the
    # messages and the rest (tool definitions, stream timelines) would match every call.
    for value in attributes.values():
        if isinstance(value, str):
            if not _looks_structured(value):
                body.add(value, MAX_VALUE_CHARS)
        elif not isinstance(value, dict | list):
            body.leaves(value, MAX_VALUE_CHARS)
    return body.pieces()


def _kind(value: dict[Any, Any]) -> str | None:
    kind = value.get("type")
    return kind if isinstance(kind, str) else None


def _looks_structured(text: str) -> bool:
    """Text that looks like a JSON list or object (see `structured`), unparsed."""
    return text.lstrip()[:1] in ("[", "{")


# "a phrase", or a run of anything else up to a space or a quote.
TERM = re.compile(r'"([^"]*)"?|([^\s"]+)')


def terms(q: str) -> list[tuple[str, bool]]:
    """The terms of a search as (words, is_phrase), leaving out those with no letter or digit.

    A term keeps its punctuation: FTS5 splits "get_weather" into the phrase "get weather",
    which still matches only text where the two words follow each other.
    """
    found = []
    for match in TERM.finditer(q):
        phrase, word = match.groups()
        text = phrase if word is None else word
        if any(char.isalnum() for char in text):
            found.append((text, word is None))
    return found


def fts_query(q: str) -> str:
    """An FTS5 MATCH expression for `q`: every term must occur, bare words as prefixes
    (`fts_terms` joined with AND)."""
    return " AND ".join(fts_terms(q))


def fts_terms(q: str) -> list[str]:
    """An FTS5 MATCH expression for each term of `q`, bare words as prefixes.

    `quick bro` finds "the quick brown fox"; a "double-quoted phrase" must occur whole, its
    words in order. Each term goes to FTS5 as a quoted string, so no input can be read as an
    operator (AND, NEAR, column filters) or a syntax error. Raises EmptyQuery when no term has
    a letter or digit, and ValueError past MAX_TERMS terms.
    """
    found = terms(q)
    if not found:
        raise EmptyQuery("the search has no words: give at least one letter or digit")
    if len(found) > MAX_TERMS:
        raise ValueError(f"the search has {len(found)} terms; at most {MAX_TERMS} are allowed")
    expressions = []
    for text, is_phrase in found:
        # Punctuation separates words for the tokenizer anyway; turning it into spaces here
        # keeps quotes and control characters (a NUL ends an FTS5 string early) out.
        quoted = '"' + " ".join("".join(c if c.isalnum() else " " for c in text).split()) + '"'
        expressions.append(quoted if is_phrase else quoted + "*")
    return expressions


__all__ = [
    "MAX_BODY_CHARS",
    "MAX_TERMS",
    "EmptyQuery",
    "Piece",
    "fts_query",
    "fts_terms",
    "join",
    "search_pieces",
    "search_text",
    "terms",
]
