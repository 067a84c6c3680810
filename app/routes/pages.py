"""The web pages: the trace list and a trace, with the conversation of its LLM calls.

Pages render on the server and work without JavaScript; `static/spyglass.js` only enhances
them (new traces appear by polling `/partials/traces`, a span opens without a reload through
`/partials/traces/{id}/spans/{span}`, and j/k and / are keyboard shortcuts). Every partial is
the same template block the full page renders, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app import conversation_view, params, queries, timeline, waterfall
from app.rendering import highlight_css, json_html
from app.resources import resource_dir

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50

# Autoescape everywhere: span content is hostile until proven otherwise.
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(resource_dir("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    # No blank lines where block tags stood: a 5,000-span waterfall is a quarter smaller.
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["json_html"] = json_html
_environment.filters["ms"] = waterfall.format_ms
_environment.filters["count"] = lambda n: "–" if n is None else f"{n:,}"
templates = Jinja2Templates(env=_environment)


def _error(request: Request, status: int, message: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


# --- the trace list ------------------------------------------------------------------------------


@dataclass
class ListQuery:
    """The list page's filters as the user gave them, kept to refill the form and links."""

    q: str = ""
    service: str = ""
    model: str = ""
    status: str = ""
    range: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def of(cls, request: Request) -> ListQuery:
        given = request.query_params
        return cls(**{f.name: given.get(f.name, "").strip() for f in fields(cls)})

    def filters(self) -> queries.TraceFilter:
        if self.status not in ("", "error", "ok"):
            raise queries.BadQuery(f"status must be error or ok, got {self.status[:20]!r}")
        since = params.time_ns("since", self.since)
        ranged = params.range_since_ns(self.range)
        if ranged is not None:
            since = ranged if since is None else max(since, ranged)
        return queries.TraceFilter(
            since_ns=since,
            until_ns=params.time_ns("until", self.until),
            service=self.service or None,
            model=self.model or None,
            q=self.q or None,
            status=self.status or None,
        )

    def query_string(self, **extra: str) -> str:
        given = {k: v for k, v in {**asdict(self), **extra}.items() if v}
        return urlencode(given)

    @property
    def active(self) -> bool:
        return any(asdict(self).values())


def _trace_page(request: Request) -> tuple[ListQuery, list[dict[str, Any]], str | None]:
    query = ListQuery.of(request)
    cursor = request.query_params.get("cursor") or None
    with request.app.state.engine.connect() as connection:
        found, next_cursor = queries.list_traces(connection, query.filters(), PAGE_SIZE, cursor)
    return query, found, next_cursor


def _rows(query: ListQuery, found: list[dict[str, Any]]) -> tuple[Markup, str]:
    """The list's rows as HTML, and a digest by which the polling page knows they changed."""
    html = Markup(_environment.get_template("_trace_rows.html").render(traces=found, query=query))
    return html, hashlib.sha256(html.encode()).hexdigest()[:16]


@router.get("/", response_class=HTMLResponse)
def trace_list(request: Request) -> Response:
    try:
        query, found, next_cursor = _trace_page(request)
    except queries.BadQuery as exc:
        return _error(request, 422, str(exc))
    rows, digest = _rows(query, found)
    with request.app.state.engine.connect() as connection:
        services = queries.service_names(connection)
    return templates.TemplateResponse(
        request,
        "traces.html",
        {
            "rows": rows,
            "rows_digest": digest,
            "services": services,
            "next_cursor": next_cursor,
            "query": query,
            "first_page": not request.query_params.get("cursor"),
            "ranges": params.RANGES,
        },
    )


@router.get("/partials/traces", response_class=HTMLResponse)
def trace_rows(request: Request) -> Response:
    """The list's rows alone: what the page polls to show new traces. The headers carry the
    rows' digest and the cursor of the page after them, so the page's "Older" link follows."""
    try:
        query, found, next_cursor = _trace_page(request)
    except queries.BadQuery as exc:
        return _error(request, 422, str(exc))
    rows, digest = _rows(query, found)
    return HTMLResponse(rows, headers={"x-rows-digest": digest, "x-next-cursor": next_cursor or ""})


# --- one trace -----------------------------------------------------------------------------------


@dataclass
class Usage:
    """One call's tokens, or a trace's totals, with the share of input read from cache.

    None is a figure the source did not report, which is not 0: with neither cache figure
    known, how much input came from cache is unknown too, and the page says nothing of it.
    """

    input: int | None
    output: int | None
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None = None  # output tokens spent thinking, when the source says

    @property
    def cache_known(self) -> bool:
        return self.cache_read is not None or self.cache_write is not None

    @property
    def uncached(self) -> int | None:
        if self.input is None or not self.cache_known:
            return None
        return max(self.input - (self.cache_read or 0) - (self.cache_write or 0), 0)

    @property
    def cached_pct(self) -> float:
        if not self.input or not self.cache_read:
            return 0.0
        return round(min(self.cache_read / self.input * 100, 100.0), 1)

    @property
    def written_pct(self) -> float:
        if not self.input or not self.cache_write:
            return 0.0
        return round(min(self.cache_write / self.input * 100, 100.0 - self.cached_pct), 1)

    @classmethod
    def of(cls, summary: dict[str, Any]) -> Usage:
        return cls(
            summary.get("input_tokens"),
            summary.get("output_tokens"),
            summary.get("cache_read_input_tokens"),
            summary.get("cache_creation_input_tokens"),
            summary.get("reasoning_output_tokens"),
        )

    @classmethod
    def of_trace(cls, trace: dict[str, Any], rows: list[waterfall.Row]) -> Usage:
        """A trace's totals. Its summary counts an unreported cache figure as 0, so a cache
        total is shown only when one of the trace's calls reported that figure."""
        totals = cls.of(trace)
        calls = [row.llm for row in rows if row.is_call and row.llm]
        if all(call.get("cache_read_input_tokens") is None for call in calls):
            totals.cache_read = None
        if all(call.get("cache_creation_input_tokens") is None for call in calls):
            totals.cache_write = None
        return totals


def _span_detail(connection: Any, trace_id: bytes, span_id: bytes) -> dict[str, Any] | None:
    """Everything the detail pane shows for one span: its facts, and its call if it is one."""
    span = queries.get_span(connection, trace_id, span_id)
    if span is None:
        return None
    detail: dict[str, Any] = {
        "span": span,
        "title": queries.formatted_message(
            span["name"], span["attributes"].get(queries.FORMATTED_MESSAGE)
        ),
        "conversation": None,
        "chart": None,
        "stream_figures": (),
        "usage": None,
        "call_error": None,
    }
    call = queries.llm_call(connection, trace_id, span_id) if span["llm"] else None
    # Other spans may record the same call: which, and which one of them shows it.
    detail["links"] = call.links_of(span["trace_id"], span["span_id"]) if call else None
    conversation = call.conversation() if call else None
    if conversation is not None:
        detail["conversation"] = conversation_view.build(conversation)
        detail["chart"] = timeline.chart(conversation.get("streaming") or {})
        detail["stream_figures"] = (
            timeline.figures_only(conversation.get("streaming")) if not detail["chart"] else ()
        )
        usage = conversation.get("usage")
        detail["usage"] = Usage.of(usage if isinstance(usage, dict) else {})
        detail["call_error"] = _error_text(conversation.get("error"))
    return detail


def _error_text(error: Any) -> str | None:
    """What a failed call failed with, from its conversation's `error`: the call may have
    failed in a span other than the one shown (its stream), which then says nothing of it."""
    if not isinstance(error, dict):
        return None
    message, kind = error.get("message"), error.get("type")
    return next((text for text in (message, kind) if isinstance(text, str) and text), None)


def _default_span(rows: list[waterfall.Row], matches: set[str]) -> str | None:
    """What a trace opens on: the first LLM call among the spans a search matched, else the
    first matching span, else the first LLM call, else the root."""
    for candidates in (
        [row for row in rows if row.span_id in matches and row.llm],
        [row for row in rows if row.span_id in matches],
        [row for row in rows if row.is_call],
        rows,
    ):
        if candidates:
            return candidates[0].span_id
    return None


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, trace_id: str, span: str | None = None, q: str = "") -> Response:
    try:
        ident = queries.parse_trace_id(trace_id)
        span_ident = queries.parse_span_id(span) if span else None
        with request.app.state.engine.connect() as connection:
            # A search that led here marks the spans it matched and opens on the first.
            matches = queries.matching_spans(connection, ident, q) if q.strip() else set()
    except queries.BadQuery as exc:
        return _error(request, 422, str(exc))
    with request.app.state.engine.connect() as connection:
        found = queries.trace_outline(connection, ident)
        if found is None:
            return _error(request, 404, f"No trace {trace_id} is stored.")
        rows, ticks = waterfall.layout(found["spans"])
        titles = queries.formatted_messages(connection, ident)
        default = _default_span(rows, matches)
        selected = span.lower() if span else default
        detail = (
            _span_detail(connection, ident, span_ident or bytes.fromhex(selected))
            if selected
            else None
        )
    if span and detail is None:
        return _error(request, 404, f"Trace {trace_id} has no span {span}.")
    trace = found["trace"]
    return templates.TemplateResponse(
        request,
        "trace.html",
        {
            "trace": trace,
            "rows": rows,
            "ticks": ticks,
            "selected": selected,
            "detail": detail,
            "totals": Usage.of_trace(trace, rows),
            "titles": titles,
            "matches": matches,
            "default_span": default,
            "q": q.strip(),
        },
    )


@router.get("/partials/traces/{trace_id}/spans/{span_id}", response_class=HTMLResponse)
def span_panel(request: Request, trace_id: str, span_id: str) -> Response:
    """The detail pane of one span, loaded when it is selected."""
    try:
        ident, span_ident = queries.parse_trace_id(trace_id), queries.parse_span_id(span_id)
    except queries.BadQuery as exc:
        return _error(request, 422, str(exc))
    with request.app.state.engine.connect() as connection:
        detail = _span_detail(connection, ident, span_ident)
    if detail is None:
        return _error(request, 404, f"Trace {trace_id} has no span {span_id}.")
    return templates.TemplateResponse(
        request, "_span_detail.html", {"detail": detail, "trace_id": trace_id.lower()}
    )


@router.get("/static/highlight.css")
def highlight_stylesheet() -> Response:
    return Response(
        highlight_css(),
        media_type="text/css",
        headers={"cache-control": "public, max-age=3600"},
    )
