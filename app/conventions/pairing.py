"""Tool calls matched with their results, so that a viewer can show one next to the other.

A call and its result are separate parts, often in different messages: the assistant's
`tool_call` in one turn, the `tool_call_response` with the same id in the next user turn; a
server tool's call and result both in the assistant's output. Pure: reads a normalised
conversation (or anything shaped like one) and never raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# A call part's type → the type of the part that answers it.
RESPONSE_TYPES = {
    "tool_call": "tool_call_response",
    "server_tool_call": "server_tool_call_response",
}
# The conversation's lists of messages, and its list of bare parts (instructions may hold
# tool calls and results too, in the GenAI conventions).
MESSAGE_KEYS = ("input_messages", "output_messages")
PART_KEYS = ("system_instructions",)


def iter_parts(conversation: Any) -> Iterator[dict[str, Any]]:
    """Every part of the conversation, in order: instructions, input, then output."""
    if not isinstance(conversation, dict):
        return
    for key in PART_KEYS:
        parts = conversation.get(key)
        yield from (part for part in _as_list(parts) if isinstance(part, dict))
    for key in MESSAGE_KEYS:
        for message in _as_list(conversation.get(key)):
            parts = message.get("parts") if isinstance(message, dict) else None
            yield from (part for part in _as_list(parts) if isinstance(part, dict))


def pair_tool_calls(conversation: Any) -> dict[str, dict[str, Any]]:
    """Each answered tool call's id → the part that answers it.

    Calls are `tool_call` and `server_tool_call` parts; a call is answered by the first
    `tool_call_response` (for a `tool_call`) or `server_tool_call_response` (for a
    `server_tool_call`) with the same id, wherever it is in the conversation. A call with no
    answer, or without a string id, is left out; so is a response that answers no call. An
    answer with `is_error` true is a failed call.
    """
    calls: dict[str, str] = {}  # id → the response type it expects
    responses: dict[tuple[str, str], dict[str, Any]] = {}  # (type, id) → the first response
    for part in iter_parts(conversation):
        kind, ident = part.get("type"), part.get("id")
        if not isinstance(kind, str) or not isinstance(ident, str) or not ident:
            continue
        if kind in RESPONSE_TYPES:
            calls.setdefault(ident, RESPONSE_TYPES[kind])
        elif kind in RESPONSE_TYPES.values():
            responses.setdefault((kind, ident), part)
    return {
        ident: responses[(expected, ident)]
        for ident, expected in calls.items()
        if (expected, ident) in responses
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
