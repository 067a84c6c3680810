"""The REST API under /api/v1: traces, spans, and the conversation of an LLM call.

Routes parse and check parameters, then call `app.queries`; they build no SQL. A bad
parameter gets 422 with a message, an unknown id 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from app import params, queries
from app.long_values import LONG_VALUE_CHARS


class Problem(BaseModel):
    """The body of every 4xx reply of the API."""

    detail: str = Field(description="what is wrong, in a sentence")


# The app answers a bad parameter with one readable line (app.main's validation handler), not
# FastAPI's list of errors: the schema says so, for every route.
router = APIRouter(
    prefix="/api/v1",
    tags=["REST API"],
    responses={422: {"model": Problem, "description": "A parameter is not valid"}},
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such trace or span"}
}

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
Time = Annotated[
    str | None, Query(description="RFC 3339 time (2026-12-04T17:00:00Z) or Unix nanoseconds")
]


# --- reply shapes, for the OpenAPI schema ------------------------------------------------------


class TraceSummary(BaseModel):
    trace_id: str
    root_span_id: str | None
    name: str
    service_name: str | None
    start_time: str
    end_time: str
    duration_ms: float
    span_count: int
    llm_call_count: int
    models: list[str]
    error_count: int
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


class TraceList(BaseModel):
    traces: list[TraceSummary]
    next_cursor: str | None


class LlmSummary(BaseModel):
    convention: str
    is_call: bool = Field(
        description="false for a span that records part of a call counted by another span"
        " (the streamed response of Spyglass's client)"
    )
    role: Literal["call", "part", "duplicate", "context"] = Field(
        description="call; part of one (a streamed response); duplicate: another source's"
        " record of a call another span shows; context: a tool run or a token count"
    )
    provider: str | None
    request_model: str | None
    response_model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None
    finish_reasons: list[str]
    streaming: bool
    time_to_first_token_ms: float | None


class Event(BaseModel):
    name: str
    time: str
    attributes: dict[str, Any]
    dropped_attributes_count: int


class Link(BaseModel):
    trace_id: str
    span_id: str
    trace_state: str
    flags: int
    attributes: dict[str, Any]
    dropped_attributes_count: int


class LogRecord(BaseModel):
    time: str
    severity_number: int
    severity_text: str
    event_name: str
    body: Any
    attributes: dict[str, Any]


class Span(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: Literal["unspecified", "internal", "server", "client", "producer", "consumer"]
    start_time: str
    end_time: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_ms: float
    status_code: Literal["unset", "ok", "error"]
    status_message: str
    service_name: str | None
    scope_name: str
    scope_version: str
    scope_attributes: dict[str, Any]
    trace_state: str
    flags: int
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    events: list[Event]
    links: list[Link]
    dropped_attributes_count: int
    dropped_events_count: int
    dropped_links_count: int
    llm: LlmSummary | None


class SpanDetail(Span):
    logs: list[LogRecord] = Field(description="OTLP log records emitted within this span")


class SpanList(BaseModel):
    spans: list[Span]
    next_cursor: str | None


class TraceDetail(BaseModel):
    trace: TraceSummary
    spans: list[Span]


class Conversation(BaseModel):
    trace_id: str
    span_id: str
    convention: str
    provider: str | None
    operation: str | None
    request_model: str | None
    response_model: str | None
    system_instructions: list[dict[str, Any]]
    input_messages: list[dict[str, Any]]
    output_messages: list[dict[str, Any]]
    tools: list[Any]
    request_params: dict[str, Any]
    usage: dict[str, int | None]
    finish_reasons: list[str] = Field(description="as the source reported them")
    finish_reasons_normalized: list[str] = Field(
        default=[],
        description="on the GenAI scale: stop, length, tool_call, content_filter, error,"
        " or other(<reason>)",
    )
    streaming: dict[str, Any] | None = None
    error: dict[str, Any] | None = Field(
        default=None, description="{type, message} of a call that failed, where the source says"
    )
    http: dict[str, Any] | None = Field(
        default=None, description="HTTP status, retries and request id, where the source says"
    )
    notes: list[Any] = Field(
        default=[], description="what the source is known to get wrong or leave out"
    )


# --- parameter parsing ---------------------------------------------------------------------------


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=message)


def _time_ns(name: str, value: str | None) -> int | None:
    try:
        return params.time_ns(name, value)
    except queries.BadQuery as exc:
        raise _bad(str(exc)) from None


def _id(parse: Any, text: str) -> bytes:
    try:
        return parse(text)
    except queries.BadQuery as exc:
        raise _bad(str(exc)) from None


def _attribute_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, expected = value.partition("=")
        if not sep or not key:
            raise _bad(f"attr must look like KEY=VALUE, got {value[:80]!r}")
        if len(expected) >= LONG_VALUE_CHARS:
            # Such values are stored apart from the span's attributes (app.long_values), where
            # an equality filter cannot see them: say so rather than match nothing.
            raise _bad(
                f"attr {key[:80]!r}: a value of {LONG_VALUE_CHARS} characters or more cannot be"
                " filtered on; find it by its words with q on /api/v1/traces"
            )
        pairs.append((key, expected))
    return pairs


def _read(request: Request, read: Any, *args: Any) -> Any:
    try:
        with request.app.state.engine.connect() as connection:
            return read(connection, *args)
    except queries.BadQuery as exc:
        raise _bad(str(exc)) from None


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")


# --- routes --------------------------------------------------------------------------------------


@router.get("/traces", response_model=TraceList, summary="Traces, newest first")
def list_traces(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    since: Time = None,
    until: Time = None,
    service: str | None = None,
    model: str | None = None,
    q: Annotated[
        str | None,
        Query(
            description="words in messages, tool calls and results, thinking and span names;"
            ' each word matches as a prefix, "quoted phrases" exactly, and all must match'
        ),
    ] = None,
    status: Literal["error", "ok"] | None = None,
) -> dict[str, Any]:
    filters = queries.TraceFilter(
        since_ns=_time_ns("since", since),
        until_ns=_time_ns("until", until),
        service=service or None,
        model=model or None,
        q=q or None,
        status=status,
    )
    page, next_cursor = _read(request, queries.list_traces, filters, limit, cursor)
    return {"traces": page, "next_cursor": next_cursor}


@router.get(
    "/traces/{trace_id}",
    response_model=TraceDetail,
    responses=NOT_FOUND,
    summary="One trace and its spans",
)
def get_trace(request: Request, trace_id: str) -> dict[str, Any]:
    found = _read(request, queries.get_trace, _id(queries.parse_trace_id, trace_id))
    if found is None:
        raise _not_found(f"trace {trace_id}")
    return found


@router.get("/spans", response_model=SpanList, summary="Spans, newest first, filtered")
def list_spans(
    request: Request,
    trace_id: str | None = None,
    name: str | None = None,
    service: str | None = None,
    model: str | None = None,
    since: Time = None,
    until: Time = None,
    status: Literal["unset", "ok", "error"] | None = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    attr: Annotated[
        list[str],
        Query(
            description="KEY=VALUE; may repeat; values under 256 characters (longer are searched with q)"
        ),
    ] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    filters = queries.SpanFilter(
        trace_id=_id(queries.parse_trace_id, trace_id) if trace_id else None,
        name=name,
        service=service,
        model=model,
        since_ns=_time_ns("since", since),
        until_ns=_time_ns("until", until),
        status=status,
        # round, not int: 8.2 ms is 8199999.999… ns in binary floating point.
        min_duration_ns=None if min_duration_ms is None else round(min_duration_ms * 1_000_000),
        attributes=_attribute_pairs(attr),
    )
    page, next_cursor = _read(request, queries.list_spans, filters, limit, cursor)
    return {"spans": page, "next_cursor": next_cursor}


@router.get(
    "/traces/{trace_id}/spans/{span_id}",
    response_model=SpanDetail,
    responses=NOT_FOUND,
    summary="One span",
)
def get_span(request: Request, trace_id: str, span_id: str) -> dict[str, Any]:
    ids = _id(queries.parse_trace_id, trace_id), _id(queries.parse_span_id, span_id)
    found = _read(request, queries.get_span, *ids)
    if found is None:
        raise _not_found(f"span {span_id} of trace {trace_id}")
    return found


@router.get(
    "/traces/{trace_id}/spans/{span_id}/conversation",
    response_model=Conversation,
    responses={404: {"model": Problem, "description": "No such span, or not an LLM call"}},
    summary="The LLM call of a span, as a normalised conversation",
)
def get_conversation(request: Request, trace_id: str, span_id: str) -> dict[str, Any]:
    ids = _id(queries.parse_trace_id, trace_id), _id(queries.parse_span_id, span_id)
    found = _read(request, queries.llm_call, *ids)
    if found is None:
        raise _not_found(f"span {span_id} of trace {trace_id}")
    conversation = found.conversation()
    if conversation is None:
        raise HTTPException(status_code=404, detail=f"span {span_id} is not an LLM call")
    return {
        "trace_id": trace_id.lower(),
        "span_id": span_id.lower(),
        "convention": found.convention,
        **conversation,
    }
