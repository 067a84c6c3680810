"""Reading LLM calls out of span attributes, whatever convention the instrumentation used.

Each convention is one module exposing a `Convention`: whether a span is one of its LLM calls,
the summary stored with the span at ingest (`summarize`), and the normalised conversation
served by the `/conversation` endpoint (`conversation`). The first convention that claims a
span reads it.

Shared by all of them: `common` (coercions, and the bounds that keep any answer plain JSON),
`shapes` (fitting messages and parts into the normalised shape, dropping nothing), and
`pairing` (each tool call with its result, for a viewer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from app.conventions import (
    anthropic_sdk,
    logfire,
    openinference,
    openllmetry,
    otel_genai,
    shapes,
    spyglass,
)
from app.conventions.common import LlmSummary
from app.conventions.pairing import pair_tool_calls


class Convention(Protocol):
    name: str

    def claims(self, attributes: dict[str, Any], scope_name: str = "") -> bool:
        """Whether a span is this convention's; `scope_name` is its instrumentation scope's
        name, which tells apart sources whose attributes look alike."""
        ...

    def summarize(self, attributes: dict[str, Any]) -> LlmSummary: ...

    def conversation(
        self,
        attributes: dict[str, Any],
        parts: Sequence[dict[str, Any]] = (),
        *,
        events: Sequence[dict[str, Any]] = (),
        logs: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The call as a conversation. `parts` are the attributes of spans that record parts
        of the same call (a streamed response); `events` are the span's own events
        (`{"name", "time", "attributes"}`) and `logs` the log records emitted in it
        (`{"event_name", "body", "attributes", "time", ...}`), where older forms kept content.

        Never raises, whatever the attributes hold, and returns only plain JSON values.
        """
        ...


# Most specific first: every source below also sets some generic GenAI keys, so the plain
# GenAI reader comes last (conventions.md section 2 gives the rules for telling them apart).
CONVENTIONS: tuple[Convention, ...] = (
    openinference.CONVENTION,
    openllmetry.CONVENTION,
    logfire.CONVENTION,
    anthropic_sdk.CONVENTION,
    spyglass.CONVENTION,
    otel_genai.CONVENTION,
)
BY_NAME: dict[str, Convention] = {convention.name: convention for convention in CONVENTIONS}


# The keys of a normalised conversation that hold its words.
CONVERSATION_KEYS = ("system_instructions", "input_messages", "output_messages")


def search_values(convention: Convention, attributes: dict[str, Any]) -> list[Any]:
    """The values of an LLM span that hold the call's words: its instructions and messages.

    A convention whose messages are plain attributes reads them directly (`search_values`);
    for the others they come from the normalised conversation.
    """
    direct = getattr(convention, "search_values", None)
    if direct is not None:
        return direct(attributes)
    conversation = convention.conversation(attributes)
    return [
        conversation.get(key)
        for key in ("system_instructions", "input_messages", "output_messages")
    ]


def convention_for(attributes: dict[str, Any], scope_name: str = "") -> Convention | None:
    return next((c for c in CONVENTIONS if c.claims(attributes, scope_name)), None)


def summary_columns(attributes: dict[str, Any], scope_name: str = "") -> dict[str, Any]:
    """The `llm_*` columns of a span: all None when it is not an LLM call."""
    convention = convention_for(attributes, scope_name)
    summary = convention.summarize(attributes) if convention else None
    return LlmSummary.columns(convention.name if convention else None, summary)


def conversation_of(
    convention: str | None,
    attributes: dict[str, Any],
    parts: Sequence[dict[str, Any]] = (),
    *,
    events: Sequence[dict[str, Any]] = (),
    logs: Sequence[dict[str, Any]] = (),
) -> dict[str, Any] | None:
    """The normalised conversation of a call stored under `convention` (see
    `queries.llm_call`); None when no known convention recorded it."""
    reader = BY_NAME.get(convention) if convention else None
    if reader is None:
        return None
    conversation = reader.conversation(attributes, parts, events=events, logs=logs)
    return shapes.with_other_kinds_raw(conversation)


__all__ = [
    "BY_NAME",
    "CONVENTIONS",
    "Convention",
    "LlmSummary",
    "convention_for",
    "conversation_of",
    "pair_tool_calls",
    "summary_columns",
]
