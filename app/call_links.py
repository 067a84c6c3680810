"""One API call recorded by several spans: which call a span records, and which span shows it.

Instrumentors stack. OpenInference wraps the Anthropic SDK, whose own tracing records the call
again in a child span; OpenLLMetry does the same, but the SDK's span lands in a trace of its
own; Logfire records a streamed call as a short request span and, when the stream ends, a log
span, often in different traces. Each such group is one call: one span of it, the primary,
shows and counts the call, and the others are folded beneath it (`llm_is_call` false) and lend
it what it lacks. The SDK's token counts and time to first token, read off the API's own
response, win over an instrumentor's (`exact_from_sdk`).

- `call_key` is what identifies the API call, read at ingest: the provider's response id
  (`response:…`), or for Logfire's stream pair the key its convention gives both spans
  (`stream:…`).
- `precedence` ranks the spans of a group: our own client over anything, an instrumentor over
  the SDK, content over none, and the span that ends a stream over its request span. A part
  of a call (a streamed response, `llm_is_call` false from its convention) ranks as `PART`.
- `split` cuts the spans that share a key into calls by time, because keys repeat: a replayed
  cassette answers with the same response id again, and identical requests give identical
  stream keys. Spans sharing a response id are one call only while they overlap in time; a
  stream's end pairs with the latest request of its key begun before it.
- `primary` picks the span that shows a group's call and `counts` says which spans count as
  calls, so that the store and the reads agree.

Pure: no database. `app.store` applies it at write time and `app.queries` at read time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.conventions import logfire
from app.conventions.common import as_float, streaming, structured
from app.conventions.otel_genai import CONVENTION as GENAI

RESPONSE = "response:"
STREAM = "stream:"
# A response id is a short token (msg_…, chatcmpl-…); a longer value is not one, and must not
# bloat the index it would be stored in.
MAX_ID_CHARS = 256
SDK_CONVENTION = "anthropic-sdk"
SDK_SCOPE = "com.anthropic.sdk.python"

# Ranks: 10 for a span that records content, plus what the span is. Ours records everything
# the API returned, so it comes first; a part of a call leads the group it is in, since its
# parent holds the call (see `primary`).
SDK, INSTRUMENTOR, STREAM_END = 1, 2, 3
WITH_CONTENT = 10
SPYGLASS = 90
PART = 100
# Spans of one call lie within this of each other: lookups by key look no further.
WINDOW_NS = 3600 * 1_000_000_000

CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "input.value",
        "output.value",
        "request_data",
        "response_data",
    }
)
CONTENT_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
)


# --- read at ingest ------------------------------------------------------------------------------


def call_key(convention: str | None, attributes: dict[str, Any]) -> str | None:
    """What identifies the API call a span records, across spans and traces; None if unknown.

    Only LLM spans (a convention read them) have one.
    """
    if convention is None or not isinstance(attributes, dict):
        return None
    if convention == "logfire":
        key = _logfire_stream_key(attributes)
        if key is not None:
            return STREAM + key
    found = response_id(attributes)
    return RESPONSE + found if found is not None else None


def response_id(attributes: dict[str, Any]) -> str | None:
    """The provider's id of the response (`msg_…`), wherever the source keeps it.

    The GenAI key is set by the SDK, OpenLLMetry, Logfire and our client; OpenInference keeps
    the response body as JSON in `output.value`, and Logfire's first format in `response_data`.
    """
    found = _id(attributes.get("gen_ai.response.id"))
    if found is not None:
        return found
    for key in ("output.value", "response_data"):
        body = structured(attributes.get(key))
        if isinstance(body, dict):
            found = _id(body.get("id"))
            if found is not None:
                return found
    return None


def _id(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_ID_CHARS:
        return value.strip()
    return None


def _logfire_stream_key(attributes: dict[str, Any]) -> str | None:
    """The key Logfire's convention gives both records of a streamed call, if it gives one.
    A Logfire convention without these functions pairs nothing."""
    for name in ("stream_response_key", "stream_request_key"):
        function = getattr(logfire, name, None)
        key = function(attributes) if callable(function) else None
        if isinstance(key, str) and key:
            return key
    return None


def precedence(convention: str | None, attributes: dict[str, Any], scope_name: str = "") -> int:
    """How strongly a span stands for its call among the spans that share its key."""
    if convention == "spyglass":
        return SPYGLASS
    if not isinstance(attributes, dict):
        return 0
    if is_sdk(convention, scope_name):
        source = SDK
    elif convention == "logfire" and _ends_logfire_stream(attributes):
        source = STREAM_END
    else:
        source = INSTRUMENTOR
    return source + (WITH_CONTENT if has_content(attributes) else 0)


def _ends_logfire_stream(attributes: dict[str, Any]) -> bool:
    function = getattr(logfire, "stream_response_key", None)
    return callable(function) and function(attributes) is not None


def has_content(attributes: dict[str, Any]) -> bool:
    """Whether a span records messages, in any source's keys."""
    return any(
        isinstance(key, str) and (key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES))
        for key in attributes
    )


def is_sdk(convention: str | None, scope_name: str | None) -> bool:
    """A span of the Anthropic SDK's own tracing, by its convention or, until a convention
    claims it, by its scope."""
    return convention == SDK_CONVENTION or scope_name == SDK_SCOPE


def columns(
    convention: str | None, attributes: dict[str, Any], is_call: bool | None, scope_name: str = ""
) -> dict[str, Any]:
    """The `llm_call_key` and `llm_call_rank` columns of a span, beside its `llm_*` summary."""
    if convention is None:
        return {"llm_call_key": None, "llm_call_rank": None}
    rank = PART if is_call is False else precedence(convention, attributes, scope_name)
    return {"llm_call_key": call_key(convention, attributes), "llm_call_rank": rank}


# --- grouping ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A stored span with a call key, as grouping needs it."""

    trace_id: bytes
    span_id: bytes
    key: str
    rank: int
    start_ns: int
    end_ns: int
    # An SDK span, and whether its parent is an LLM span other than the SDK's (an
    # instrumentor's wrapper, or for a part the call it belongs to).
    sdk: bool = False
    under_call: bool = False

    @property
    def ident(self) -> tuple[bytes, bytes]:
        return self.trace_id, self.span_id

    @classmethod
    def of(cls, row: Any) -> Member:
        """From a row of `queries.call_members`."""
        parent_is_llm = row.parent_convention is not None
        return cls(
            trace_id=row.trace_id,
            span_id=row.span_id,
            key=row.llm_call_key,
            rank=row.llm_call_rank if row.llm_call_rank is not None else 0,
            start_ns=row.start_ns,
            end_ns=row.end_ns,
            sdk=is_sdk(row.llm_convention, row.scope_name),
            under_call=parent_is_llm and not is_sdk(row.parent_convention, row.parent_scope),
        )


def split(members: Iterable[Member]) -> list[list[Member]]:
    """The calls among spans with keys: each a list of the spans that record it."""
    by_key: dict[str, list[Member]] = defaultdict(list)
    for member in members:
        by_key[member.key].append(member)
    groups: list[list[Member]] = []
    for key, same in by_key.items():
        groups.extend(_paired_streams(same) if key.startswith(STREAM) else _overlapping(same))
    return groups


def _overlapping(members: list[Member]) -> list[list[Member]]:
    """Spans sharing a response id that overlap in time, directly or through one another."""
    groups: list[list[Member]] = []
    end = 0
    for member in sorted(members, key=lambda m: (m.start_ns, m.end_ns, m.ident)):
        if groups and member.start_ns <= end:
            groups[-1].append(member)
            end = max(end, member.end_ns)
        else:
            groups.append([member])
            end = member.end_ns
    return groups


def ends_stream(member: Member) -> bool:
    return member.rank < SPYGLASS and member.rank % WITH_CONTENT == STREAM_END


def _paired_streams(members: list[Member]) -> list[list[Member]]:
    """Requests and the records of their streams' ends: each end takes the latest request of
    its key that began before it ended and has no end yet. A request whose stream was never
    read to the end stays alone, and so does an end whose request was not stored."""

    def moment(member: Member) -> tuple[int, int, tuple[bytes, bytes]]:
        if ends_stream(member):
            return member.end_ns, 1, member.ident
        return member.start_ns, 0, member.ident

    groups: list[list[Member]] = []
    waiting: list[list[Member]] = []
    for member in sorted(members, key=moment):
        if not ends_stream(member):
            group = [member]
            groups.append(group)
            waiting.append(group)
        elif waiting:
            waiting.pop().append(member)
        else:
            groups.append([member])
    return groups


def _standing(member: Member) -> int:
    if member.rank == PART:
        # A part under its call leads: the call is its parent. One without (Logfire's stream
        # request span, a sibling of its log span) yields to any other span.
        return PART if member.under_call else -1
    return member.rank


def ordered(group: Sequence[Member]) -> list[Member]:
    """The spans of a group, the one that shows the call first; ties go to the earliest."""
    return sorted(group, key=lambda m: (-_standing(m), m.start_ns, m.ident))


def primary(group: Sequence[Member]) -> Member:
    return ordered(group)[0]


def counts(member: Member, lead: Member) -> bool:
    """Whether a span counts as a call: the primary of its group, unless it is a part (its
    parent counts) or an SDK span inside an instrumentor's span (the instrumentor counts)."""
    return member is lead and member.rank != PART and not (member.sdk and member.under_call)


# --- reading a call ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Folded:
    """A span folded into the span that shows its call, as the call's conversation uses it."""

    attributes: dict[str, Any]
    sdk: bool = False


def exact_from_sdk(convention: str | None) -> bool:
    """Whether the SDK's usage and time to first token win over those of the span that shows
    the call: the SDK reads them off the API's own response, where an instrumentor may count
    its own way (OpenLLMetry adds a placeholder token to a stream's output). Our own client
    reads the same response and is kept as it is."""
    return convention != "spyglass"


def merge_linked(
    conversation: dict[str, Any], folded: Sequence[Folded], convention: str | None = None
) -> None:
    """Complete a call's conversation with what the spans folded into it know, best first.

    The SDK's token counts and time to first token win (see `exact_from_sdk`); any other
    span only fills what the conversation lacks. Content is never taken from them: the span
    that shows the call was chosen for its content.
    """
    if not folded:
        return
    exact = [f for f in folded if f.sdk] if exact_from_sdk(convention) else []
    ttft_ms = _first(_ttft_ms(f.attributes) for f in exact)
    if ttft_ms is None and not _ttft_known(conversation):
        ttft_ms = _first(_ttft_ms(f.attributes) for f in folded)
    if ttft_ms is not None:
        block = conversation.get("streaming")
        if isinstance(block, dict):
            block["time_to_first_token_ms"] = ttft_ms
        else:
            conversation["streaming"] = streaming(time_to_first_token_ms=ttft_ms)
    usage = conversation.get("usage")
    if not isinstance(usage, dict):
        return
    counted = [_usage(f.attributes) for f in exact]
    for name, value in next(
        (u for u in counted if any(v is not None for v in u.values())), {}
    ).items():
        if name in usage and value is not None:
            usage[name] = value
    for record in folded:
        for name, value in _usage(record.attributes).items():
            if usage.get(name, 0) is None and value is not None:
                usage[name] = value


def _usage(attributes: Any) -> dict[str, int | None]:
    return GENAI.summarize(attributes).usage() if isinstance(attributes, dict) else {}


def _first(values: Iterable[float | None]) -> float | None:
    return next((value for value in values if value is not None), None)


def _ttft_known(conversation: dict[str, Any]) -> bool:
    block = conversation.get("streaming")
    return isinstance(block, dict) and block.get("time_to_first_token_ms") is not None


def _ttft_ms(attributes: Any) -> float | None:
    if not isinstance(attributes, dict):
        return None
    seconds = as_float(attributes.get("gen_ai.response.time_to_first_chunk"))
    return None if seconds is None else as_float(seconds * 1000.0)
