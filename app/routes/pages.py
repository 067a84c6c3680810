"""The web pages: the trace list and a trace. Server-rendered; they work without JavaScript."""

from __future__ import annotations

from typing import Any

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app import queries
from app.resources import resource_dir

router = APIRouter(include_in_schema=False)

# Autoescape everywhere: span content is hostile until proven otherwise.
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(resource_dir("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates = Jinja2Templates(env=_environment)


def _span_tree(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans in tree order, each with its depth; orphans (parent not stored) are roots."""
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)
    ordered: list[dict[str, Any]] = []
    stack = [(span, 0) for span in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        ordered.append({**span, "depth": depth})
        stack.extend((child, depth + 1) for child in reversed(children.get(span["span_id"], [])))
    return ordered


@router.get("/", response_class=HTMLResponse)
def trace_list(
    request: Request,
    service: str | None = None,
    model: str | None = None,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    filters = queries.TraceFilter(
        service=service or None,
        model=model or None,
        q=q or None,
        status=status if status in ("error", "ok") else None,
    )
    try:
        with request.app.state.engine.connect() as connection:
            page, next_cursor = queries.list_traces(connection, filters, 50, cursor or None)
    except queries.BadQuery as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return templates.TemplateResponse(
        request,
        "traces.html",
        {"traces": page, "next_cursor": next_cursor, "filters": filters},
    )


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, trace_id: str) -> HTMLResponse:
    try:
        ident = queries.parse_trace_id(trace_id)
    except queries.BadQuery as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    with request.app.state.engine.connect() as connection:
        found = queries.get_trace(connection, ident)
    if found is None:
        raise HTTPException(status_code=404, detail=f"trace {trace_id} not found")
    trace = found["trace"]
    spans = _span_tree(found["spans"])
    total_ms = max(trace["duration_ms"], 1e-6)
    start = min((s["start_time_unix_nano"] for s in spans), default=0)
    for span in spans:
        span["offset_pct"] = (span["start_time_unix_nano"] - start) / 1e6 / total_ms * 100
        span["width_pct"] = max(span["duration_ms"] / total_ms * 100, 0.3)
    return templates.TemplateResponse(request, "trace.html", {"trace": trace, "spans": spans})
