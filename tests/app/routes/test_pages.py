"""The server-rendered pages: the trace list and a trace, escaped and working without JS.

Spans go in through the OTLP receiver, as an exporter would send them; pages are read with
BeautifulSoup, selecting the elements a person looks at rather than matching whole pages.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from app.routes import pages
from tests import otlp_builders as otlp
from tests.e2e.scenario import (
    ANSWER_THINKING,
    PIXEL_PNG,
    QUESTION,
    SYSTEM_PROMPT,
    THINKING,
    TIME_ERROR,
    WEATHER,
)

PROTOBUF = {"content-type": "application/x-protobuf"}
MS = 1_000_000
SECOND = 1_000 * MS
MODEL = "claude-sonnet-4-6"
# An SVG can carry script: it is described, never inlined, even when its data was kept.
SVG_B64 = "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4="
HIDDEN_PNG_SHA = hashlib.sha256(b"not kept").hexdigest()
LONG_ANSWER = "\n\n".join(f"Paragraph {n}: the forecast says more rain." for n in range(120))


# --- helpers -------------------------------------------------------------------------------------


def _export(client: TestClient, *spans: Span, service: str = "web") -> None:
    reply = client.post(
        "/v1/traces",
        content=otlp.request(*spans, service=service).SerializeToString(),
        headers=PROTOBUF,
    )
    assert reply.status_code == 200, reply.text


def _soup(client: TestClient, path: str, status: int = 200) -> BeautifulSoup:
    reply = client.get(path)
    assert reply.status_code == status, reply.text[:2000]
    assert reply.headers["content-type"].startswith("text/html")
    return BeautifulSoup(reply.text, "html.parser")


def _text(element: Tag | None) -> str:
    assert element is not None
    return " ".join(element.get_text(" ", strip=True).split())


def _call(
    model: str = MODEL,
    *,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    cache_read: int | None = None,
    cache_write: int | None = None,
    system: Any = None,
    input_messages: Any = None,
    output_messages: Any = None,
    tools: Any = None,
    span_type: str | None = "llm.request",
    **extra: Any,
) -> dict[str, Any]:
    """The attributes of an LLM call span as the spyglass client writes them."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": model,
    }
    if span_type:
        attributes["spyglass.span.type"] = span_type
    for key, value in (
        ("gen_ai.usage.input_tokens", input_tokens),
        ("gen_ai.usage.output_tokens", output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", cache_read),
        ("gen_ai.usage.cache_creation.input_tokens", cache_write),
    ):
        if value is not None:
            attributes[key] = value
    for key, value in (
        ("gen_ai.system_instructions", system),
        ("gen_ai.input.messages", input_messages),
        ("gen_ai.output.messages", output_messages),
        ("gen_ai.tool.definitions", tools),
    ):
        if value is not None:
            attributes[key] = json.dumps(value)
    attributes.update(extra)
    return attributes


def _stream(
    *,
    output_messages: Any,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """The attributes of the stream span the client adds under a streamed call."""
    return {
        "spyglass.span.type": "llm.stream",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.usage.cache_read.input_tokens": cache_read,
        "gen_ai.usage.cache_creation.input_tokens": cache_write,
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.output.messages": json.dumps(output_messages),
        "spyglass.stream.time_to_first_token_ms": 412.0,
        "gen_ai.response.time_to_first_chunk": 0.412,
        "spyglass.stream.duration_ms": 1480.5,
        "spyglass.stream.chunk_count": 4,
        "spyglass.stream.output_chars": 80,
        "spyglass.stream.output_tokens_per_second": 54.2,
        "spyglass.stream.complete": True,
        "spyglass.stream.outcome": "completed",
        "spyglass.stream.timeline": json.dumps(
            [[0, 0], [412.0, 12], [455.3, 31], [900, 60], [1400, 80]]
        ),
    }


@dataclass
class Agent:
    """The ids of a recorded two-call agent run (hex)."""

    trace: str
    root: str
    first_call: str
    tool: str
    second_call: str
    stream: str

    @property
    def path(self) -> str:
        return f"/traces/{self.trace}"


FIRST_INPUT = [
    {
        "role": "user",
        "parts": [
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "size": 70,
                "sha256": "ab" * 32,
                "content": PIXEL_PNG,
            },
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/png",
                "size": 2048,
                "sha256": HIDDEN_PNG_SHA,
            },
            {
                "type": "blob",
                "modality": "image",
                "mime_type": "image/svg+xml",
                "size": 58,
                "sha256": "cd" * 32,
                "content": SVG_B64,
            },
            {
                "type": "document",
                "title": "Itinerary",
                "mime_type": "text/plain",
                "content": "Day 1: Louvre.",
            },
            {"type": "text", "content": QUESTION},
            {"type": "container_upload", "raw": {"file_id": "file_zeppelin42", "flavour": "odd"}},
        ],
    }
]
TOOL_CALLS = [
    {
        "type": "tool_call",
        "id": "toolu_weather01",
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    },
    {
        "type": "tool_call",
        "id": "toolu_time01",
        "name": "get_time",
        "arguments": {"tz": "Europe/Paris"},
    },
]
FIRST_OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": THINKING, "has_signature": True},
            {"type": "text", "content": "Let me check both."},
            *TOOL_CALLS,
        ],
        "finish_reason": "tool_use",
    }
]
SECOND_INPUT = [
    FIRST_INPUT[0],
    FIRST_OUTPUT[0],
    {
        "role": "user",
        "parts": [
            {
                "type": "tool_call_response",
                "id": "toolu_weather01",
                "response": WEATHER,
                "is_error": False,
            },
            {
                "type": "tool_call_response",
                "id": "toolu_time01",
                "response": TIME_ERROR,
                "is_error": True,
            },
        ],
    },
]
SECOND_OUTPUT = [
    {
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": ANSWER_THINKING},
            {"type": "reasoning", "redacted": True, "data_length": 128},
            {
                "type": "text",
                "content": "It is **18°C with light rain** in Paris.",
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "Day 1: Louvre.",
                        "document_index": 0,
                        "document_title": "Itinerary",
                        "start_char_index": 0,
                        "end_char_index": 14,
                    }
                ],
            },
            {"type": "text", "content": LONG_ANSWER},
        ],
        "finish_reason": "end_turn",
    }
]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object"},
    },
    {
        "name": "get_time",
        "description": "Local time in a time zone.",
        "parameters": {"type": "object"},
    },
]


def _record_agent(client: TestClient, service: str = "travel-agent") -> Agent:
    """plan a trip → chat (tool use) → get_time (failed) → chat (streamed) → its stream."""
    trace = otlp.trace_id()
    base = otlp.BASE_NS
    root = otlp.span("plan a trip", trace=trace, start_ns=base, duration_ns=3 * SECOND)
    first = otlp.span(
        f"chat {MODEL}",
        trace=trace,
        parent=root.span_id,
        start_ns=base + 10 * MS,
        duration_ns=800 * MS,
        kind=3,
        attributes=_call(
            input_tokens=2220,
            output_tokens=96,
            cache_read=1800,
            cache_write=0,
            system=[{"type": "text", "content": SYSTEM_PROMPT}],
            input_messages=FIRST_INPUT,
            output_messages=FIRST_OUTPUT,
            tools=TOOLS,
            **{"gen_ai.request.max_tokens": 1024, "gen_ai.response.finish_reasons": ["tool_use"]},
        ),
    )
    tool = otlp.span(
        "tool get_time",
        trace=trace,
        parent=root.span_id,
        start_ns=base + 900 * MS,
        duration_ns=50 * MS,
        status=2,
        attributes={"tool.name": "get_time", "tool.arguments": '{"tz": "Europe/Paris"}'},
    )
    tool.status.message = TIME_ERROR
    tool.events.add(
        name="exception",
        time_unix_nano=base + 940 * MS,
        attributes=otlp.key_values(
            {"exception.type": "TimeoutError", "exception.message": TIME_ERROR}
        ),
    )
    second = otlp.span(
        f"chat {MODEL}",
        trace=trace,
        parent=root.span_id,
        start_ns=base + 1000 * MS,
        duration_ns=100 * MS,
        kind=3,
        attributes=_call(
            system=[{"type": "text", "content": SYSTEM_PROMPT}],
            input_messages=SECOND_INPUT,
            tools=TOOLS,
            **{"gen_ai.request.stream": True, "gen_ai.request.max_tokens": 1024},
        ),
    )
    stream = otlp.span(
        "stream",
        trace=trace,
        parent=second.span_id,
        start_ns=base + 1010 * MS,
        duration_ns=1480 * MS,
        attributes=_stream(
            output_messages=SECOND_OUTPUT,
            input_tokens=2510,
            output_tokens=58,
            cache_read=1800,
            cache_write=100,
        ),
    )
    # Children first, as exporters send them (they end first).
    _export(client, stream, second, tool, first, root, service=service)
    return Agent(
        trace=trace.hex(),
        root=root.span_id.hex(),
        first_call=first.span_id.hex(),
        tool=tool.span_id.hex(),
        second_call=second.span_id.hex(),
        stream=stream.span_id.hex(),
    )


def _rows(page: BeautifulSoup) -> list[Tag]:
    return page.select("#trace-rows tr[data-trace-id]")


def _row_ids(page: BeautifulSoup) -> list[str]:
    return [row["data-trace-id"] for row in _rows(page)]


def _wf_rows(page: BeautifulSoup) -> list[Tag]:
    return page.select("#wf-rows > li.wf-row")


def _wf_row(page: BeautifulSoup, span_id: str) -> Tag:
    link = page.select_one(f'#wf-rows a[data-span="{span_id}"]')
    assert link is not None, span_id
    return link.find_parent("li")


def _detail(page: BeautifulSoup) -> Tag:
    article = page.select_one("#detail article.span-detail")
    assert article is not None
    return article


# --- the trace list ------------------------------------------------------------------------------


def test_the_list_shows_every_summary_column(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("older trace", trace=trace, duration_ns=812 * MS)
    llm = otlp.span(
        "chat",
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + MS,
        attributes=_call(
            "claude-sonnet-4-5",
            input_tokens=1200,
            output_tokens=340,
            cache_read=1000,
            cache_write=50,
        ),
    )
    other = otlp.span(
        "chat",
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + 2 * MS,
        attributes=_call("claude-haiku-4-5", input_tokens=10, output_tokens=5),
        status=2,
    )
    _export(client, root, llm, other, service="my-app")
    plain = otlp.span("newer trace", start_ns=otlp.BASE_NS + SECOND)
    _export(client, plain, service="cron")

    page = _soup(client, "/")
    headers = [_text(th) for th in page.select("#traces thead th")]
    assert headers == [
        "Time (UTC)",
        "Name",
        "Service",
        "Models",
        "Spans",
        "LLM calls",
        "Input",
        "Output",
        "Cache r / w",
        "Duration",
        "Errors",
    ]
    rows = _rows(page)
    assert _row_ids(page) == [plain.trace_id.hex(), trace.hex()]  # newest first

    cells = rows[1].find_all("td", recursive=False)
    assert len(cells) == len(headers)
    time_element = cells[0].select_one("time")
    assert time_element["datetime"] == "2026-12-04T16:00:00.000000Z"
    assert _text(time_element) == "2026-12-04 16:00:00"
    link = cells[1].select_one("a")
    assert link["href"] == f"/traces/{trace.hex()}"
    assert _text(link) == "older trace"
    assert _text(cells[2]) == "my-app"
    assert [_text(b) for b in cells[3].select(".badge-llm")] == [
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
    ]
    assert [_text(c) for c in cells[4:9]] == ["3", "2", "1,210", "345", "1,000 / 50"]
    assert _text(cells[9]) == "812 ms"
    assert _text(cells[10].select_one(".badge-error")) == "1"
    assert "has-error" in rows[1]["class"]

    # A trace without LLM calls leaves the LLM columns and the errors empty.
    cells = rows[0].find_all("td", recursive=False)
    assert _text(cells[1]) == "newer trace"
    assert _text(cells[2]) == "cron"
    assert cells[3].select(".badge") == []
    assert _text(cells[4]) == "1"  # every trace has spans
    assert [_text(c) for c in cells[5:9]] == ["", "", "", ""]
    assert _text(cells[9]) == "1.0 ms"
    assert cells[10].select(".badge-error") == []
    assert "has-error" not in (rows[0].get("class") or [])


def test_the_list_is_empty_before_anything_arrives(client: TestClient) -> None:
    page = _soup(client, "/")
    assert _rows(page) == []
    empty = page.select_one("#trace-rows tr.empty")
    assert "No traces yet" in _text(empty)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in _text(empty)
    # Nothing is filtered, so there is nothing to clear, and the rows poll for new traces.
    assert page.select_one("form.filters a.clear") is None
    assert page.select_one("#trace-rows")["data-live"] == "/partials/traces?"
    assert page.select_one("nav.pager a.older[href]") is None


@dataclass
class Fleet:
    alpha: str  # service alpha, claude-a, ok, BASE, mentions zeppelin
    beta: str  # service beta, claude-b, an error, BASE + 1 h
    gamma: str  # service alpha, no LLM call, BASE + 2 h


def _record_fleet(client: TestClient) -> Fleet:
    alpha, beta, gamma = otlp.trace_id(), otlp.trace_id(), otlp.trace_id()
    hour = 3600 * SECOND
    _export(
        client,
        otlp.span(
            "ask about airships",
            trace=alpha,
            attributes=_call(
                "claude-a",
                input_tokens=5,
                output_tokens=1,
                input_messages=[
                    {"role": "user", "parts": [{"type": "text", "content": "Is a zeppelin fast?"}]}
                ],
            ),
        ),
        service="alpha",
    )
    _export(
        client,
        otlp.span(
            "failing call",
            trace=beta,
            start_ns=otlp.BASE_NS + hour,
            status=2,
            attributes=_call("claude-b", input_tokens=5, output_tokens=1),
        ),
        service="beta",
    )
    _export(
        client,
        otlp.span("batch job", trace=gamma, start_ns=otlp.BASE_NS + 2 * hour),
        service="alpha",
    )
    return Fleet(alpha.hex(), beta.hex(), gamma.hex())


def _form(page: BeautifulSoup) -> Tag:
    form = page.select_one("form.filters")
    assert form is not None
    return form


def _field(page: BeautifulSoup, name: str) -> str:
    element = _form(page).select_one(f'[name="{name}"]')
    assert element is not None, name
    if element.name == "select":
        chosen = element.select_one("option[selected]")
        return chosen["value"] if chosen else ""
    return element.get("value", "")


@pytest.mark.parametrize(
    ("query", "expected", "field", "value"),
    [
        ("service=alpha", ["gamma", "alpha"], "service", "alpha"),
        ("service=beta", ["beta"], "service", "beta"),
        ("model=claude-b", ["beta"], "model", "claude-b"),
        ("model=claude-a", ["alpha"], "model", "claude-a"),
        ("status=error", ["beta"], "status", "error"),
        ("status=ok", ["gamma", "alpha"], "status", "ok"),
        ("q=zeppelin", ["alpha"], "q", "zeppelin"),
        ("q=zepp", ["alpha"], "q", "zepp"),
        ("since=2026-12-04T16:30:00Z", ["gamma", "beta"], "since", "2026-12-04T16:30:00Z"),
        ("until=2026-12-04T16:30:00Z", ["alpha"], "until", "2026-12-04T16:30:00Z"),
        ("service=alpha&model=claude-a", ["alpha"], "model", "claude-a"),
        ("service=beta&status=ok", [], "status", "ok"),
    ],
)
def test_each_filter_narrows_the_list_and_is_refilled(
    client: TestClient, query: str, expected: list[str], field: str, value: str
) -> None:
    fleet = _record_fleet(client)
    page = _soup(client, f"/?{query}")
    assert _row_ids(page) == [getattr(fleet, name) for name in expected]
    assert _field(page, field) == value
    # Filtering shows a way back to everything, and the live rows keep the filters.
    assert page.select_one("form.filters a.clear")["href"] == "/"
    live = parse_qs(urlsplit(page.select_one("#trace-rows")["data-live"]).query)
    assert live == parse_qs(query)
    if not expected:
        assert "No traces match these filters." in _text(page.select_one("#trace-rows tr.empty"))


@pytest.mark.parametrize(
    "q", ["Europe", "unavailable", "plainly", "Itinerary", '"light rain"', "get_weather"]
)
def test_search_reaches_tool_arguments_results_and_thinking(client: TestClient, q: str) -> None:
    agent = _record_agent(client)
    _record_fleet(client)
    page = _soup(client, f"/?q={q}")
    assert _row_ids(page) == [agent.trace]
    assert _field(page, "q") == q


def test_the_list_has_one_search_box_and_it_keeps_the_other_filters(client: TestClient) -> None:
    """On the list the header's search box would drop the filters: the filter form's box
    is the one, and it is what / focuses."""
    _record_fleet(client)
    page = _soup(client, "/?q=zeppelin&service=billing")
    boxes = page.select("input[name=q]")
    assert len(boxes) == 1
    assert boxes[0]["id"] == "search" and boxes[0]["value"] == "zeppelin"
    assert boxes[0].find_parent("form") is page.select_one("form.filters")
    # Other pages keep the header's box.
    other = _soup(client, f"/traces/{otlp.trace_id().hex()}", status=404)
    assert other.select_one("header form.search input#search") is not None


def test_since_and_until_together_open_their_panel(client: TestClient) -> None:
    fleet = _record_fleet(client)
    page = _soup(client, "/?since=2026-12-04T16:30:00Z&until=2026-12-04T17:30:00Z")
    assert _row_ids(page) == [fleet.beta]
    assert page.select_one("form.filters details.more-filters").has_attr("open")
    assert not _soup(client, "/").select_one("details.more-filters").has_attr("open")
    # Unix nanoseconds work as well as RFC 3339.
    since = otlp.BASE_NS + 1800 * SECOND
    assert _row_ids(_soup(client, f"/?since={since}")) == [fleet.gamma, fleet.beta]


def test_the_range_filter_counts_back_from_now(client: TestClient) -> None:
    now = time.time_ns()
    recent, today, last_week = otlp.trace_id(), otlp.trace_id(), otlp.trace_id()
    _export(
        client,
        otlp.span("recent", trace=recent, start_ns=now - 5 * 60 * SECOND),
        otlp.span("today", trace=today, start_ns=now - 3 * 3600 * SECOND),
        otlp.span("last week", trace=last_week, start_ns=now - 2 * 86_400 * SECOND),
    )
    expected = {
        "15m": [recent],
        "1h": [recent],
        "24h": [recent, today],
        "7d": [recent, today, last_week],
    }
    for value, traces in expected.items():
        page = _soup(client, f"/?range={value}")
        assert _row_ids(page) == [t.hex() for t in traces], value
        assert _field(page, "range") == value
    assert [o["value"] for o in _form(_soup(client, "/")).select("select[name=range] option")] == [
        "",
        "15m",
        "1h",
        "24h",
        "7d",
    ]
    # A range and a "from" time together: the later start wins.
    since = now - 86_400 * SECOND
    assert _row_ids(_soup(client, f"/?range=7d&since={since}")) == [recent.hex(), today.hex()]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=maybe", "status must be error or ok"),
        ("range=2w", "range must be one of 15m, 1h, 24h, 7d"),
        ("since=yesterday", "since must be an RFC 3339 time"),
        ("until=2026-13-45", "until must be an RFC 3339 time"),
        ("cursor=not-a-cursor", "cursor is not valid"),
        ("q=%21%21%21", "the search has no words"),
    ],
)
def test_a_bad_filter_gets_a_422_page_that_says_why(
    client: TestClient, query: str, message: str
) -> None:
    for path in ("/", "/partials/traces"):
        page = _soup(client, f"{path}?{query}", status=422)
        assert _text(page.select_one("h1")) == "That request was not understood"
        assert message in _text(page.select_one(".error-message"))
        assert page.select_one("a[href='/']") is not None


def test_pages_of_older_traces_follow_a_keyset_cursor(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    ids = []
    for n in range(5):
        trace = otlp.trace_id()
        ids.append(trace.hex())
        _export(
            client,
            otlp.span(f"run {n}", trace=trace, start_ns=otlp.BASE_NS + n * SECOND),
            service="alpha",
        )
    _export(client, otlp.span("other", start_ns=otlp.BASE_NS + 2500 * MS), service="beta")
    newest_first = list(reversed(ids))

    seen: list[str] = []
    path = "/?service=alpha"
    for number in range(3):
        page = _soup(client, path)
        seen += _row_ids(page)
        older = page.select_one("nav.pager a.older[href]")
        if number == 0:
            # Only the first page is live; later ones are a fixed window into the past.
            assert page.select_one("#trace-rows").has_attr("data-live")
            assert page.select_one("nav.pager a[href^='/?'][href*=cursor]") == older
        else:
            assert not page.select_one("#trace-rows").has_attr("data-live")
            newest = page.find("a", string=re.compile("Newest traces"))
            assert newest["href"] == "/?service=alpha"
        if number < 2:
            assert _text(older) == "Older traces →"
            given = parse_qs(urlsplit(older["href"]).query)
            assert given["service"] == ["alpha"]  # the filters carry over
            assert given["cursor"]
            path = older["href"]
        else:
            assert older is None
    assert seen == newest_first


def test_the_polled_partial_is_only_rows(client: TestClient) -> None:
    fleet = _record_fleet(client)
    reply = client.get("/partials/traces")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    fragment = BeautifulSoup(reply.text, "html.parser")
    top = [child for child in fragment.children if isinstance(child, Tag)]
    assert {element.name for element in top} == {"tr"}
    assert fragment.find(["html", "head", "body", "form", "table", "script", "nav"]) is None
    assert [row["data-trace-id"] for row in top] == [fleet.gamma, fleet.beta, fleet.alpha]
    # The rows are exactly those the page renders.
    page = _soup(client, "/")
    assert [str(row) for row in top] == [str(row) for row in _rows(page)]


def test_the_polled_partial_honours_the_filters(client: TestClient) -> None:
    fleet = _record_fleet(client)
    fragment = _soup(client, "/partials/traces?service=alpha&status=ok")
    assert [row["data-trace-id"] for row in fragment.select("tr[data-trace-id]")] == [
        fleet.gamma,
        fleet.alpha,
    ]
    fragment = _soup(client, "/partials/traces?q=zeppelin")
    assert [row["data-trace-id"] for row in fragment.select("tr[data-trace-id]")] == [fleet.alpha]
    fragment = _soup(client, "/partials/traces?model=nobody")
    assert fragment.select("tr[data-trace-id]") == []
    assert "No traces match these filters." in _text(fragment.select_one("tr.empty"))


def test_the_polled_partial_shows_a_new_trace(client: TestClient) -> None:
    assert "No traces yet" in _text(_soup(client, "/partials/traces").select_one("tr.empty"))
    trace = otlp.trace_id()
    _export(client, otlp.span("just now", trace=trace))
    rows = _soup(client, "/partials/traces").select("tr[data-trace-id]")
    assert [row["data-trace-id"] for row in rows] == [trace.hex()]


# --- one trace: the waterfall --------------------------------------------------------------------


def test_the_waterfall_lists_spans_in_tree_order_with_depth(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    rows = _wf_rows(page)
    order = [row.select_one("a")["data-span"] for row in rows]
    assert order == [agent.root, agent.first_call, agent.tool, agent.second_call, agent.stream]
    indents = [row.select_one(".wf-label")["style"] for row in rows]
    # Each level indents by 0.9rem, after room for the fold button.
    assert indents == [f"padding-left: {depth * 0.9 + 1.1}rem" for depth in (0, 1, 1, 1, 2)]
    assert [row["data-depth"] for row in rows] == ["0", "1", "1", "1", "2"]
    # Spans with children get a fold button, hidden until the script shows it.
    toggles = [row.select_one("button.wf-toggle") for row in rows]
    assert [t is not None for t in toggles] == [True, False, False, True, False]
    assert all(t.has_attr("hidden") for t in toggles if t is not None)
    names = [_text(row.select_one(".wf-name")) for row in rows]
    assert names == ["plan a trip", f"chat {MODEL}", "tool get_time", f"chat {MODEL}", "stream"]
    for row in rows:
        assert (
            row.select_one("a")["href"] == f"{agent.path}?span={row.select_one('a')['data-span']}"
        )
    # Bars are on the trace's scale: the root spans it all.
    assert rows[0].select_one(".wf-bar")["style"] == "left: 0.0%; width: 100.0%"
    assert _text(rows[0].select_one(".wf-duration")) == "3.00 s"
    assert [_text(tick) for tick in page.select(".wf-ticks span")] == ["0 µs", "1.50 s", "3.00 s"]


def test_the_waterfall_marks_calls_streams_and_errors(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    first = _wf_row(page, agent.first_call)
    assert "is-llm" in first["class"]
    assert _text(first.select_one(".badge-llm")) == MODEL
    assert _text(first.select_one(".wf-tokens")) == "2,220 → 96"
    second = _wf_row(page, agent.second_call)
    assert "is-llm" in second["class"]
    # The streamed call shows the usage its stream reported.
    assert _text(second.select_one(".wf-tokens")) == "2,510 → 58"
    stream = _wf_row(page, agent.stream)
    assert "is-llm-part" in stream["class"]
    assert "is-llm" not in stream["class"]
    assert [_text(b) for b in stream.select(".badge")] == ["part of call"]
    tool = _wf_row(page, agent.tool)
    assert "is-error" in tool["class"]
    assert _text(tool.select_one(".badge-error")) == "error"
    assert tool.select_one(".badge-error")["title"] == TIME_ERROR
    root = _wf_row(page, agent.root)
    assert not {"is-llm", "is-llm-part", "is-error"} & set(root["class"])
    assert root.select(".badge") == []


def test_the_trace_head_shows_its_summary(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    head = page.select_one("section.trace-head")
    assert _text(head.select_one("h1")) == "plan a trip"
    figures = {
        _text(div.select_one("dt")): _text(div.select_one("dd"))
        for div in head.select("dl.trace-figures > div")
    }
    assert figures == {
        "Service": "travel-agent",
        "Started (UTC)": "2026-12-04 16:00:00",
        "Duration": "3.00 s",
        "Spans": "5",
        "LLM calls": "2",
        "Errors": "1",
        "Models": MODEL,
    }
    assert head.select_one("a[href$='/api/v1/traces/" + agent.trace + "']") is not None
    assert page.title.get_text().startswith("plan a trip")


def test_a_trace_opens_on_its_first_llm_call(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    current = page.select("#wf-rows a[aria-current]")
    assert [a["data-span"] for a in current] == [agent.first_call]
    assert current[0]["aria-current"] == "true"
    assert [li.select_one("a")["data-span"] for li in page.select("li.is-selected")] == [
        agent.first_call
    ]
    assert _detail(page)["data-span-id"] == agent.first_call


def test_a_trace_without_calls_opens_on_its_root(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("root", trace=trace)
    child = otlp.span("child", trace=trace, parent=root.span_id, start_ns=otlp.BASE_NS + 1000)
    _export(client, child, root)
    page = _soup(client, f"/traces/{trace.hex()}")
    assert [a["data-span"] for a in page.select("#wf-rows a[aria-current]")] == [root.span_id.hex()]
    detail = _detail(page)
    assert detail.select_one("section.call") is None
    # No call: no token totals either, and the attributes are open to read.
    assert page.select_one(".trace-totals") is None
    assert detail.select_one("details.facts").has_attr("open")


def test_span_selects_a_span_and_shows_its_facts(client: TestClient) -> None:
    agent = _record_agent(client, service="travel-agent")
    page = _soup(client, f"{agent.path}?span={agent.tool}")
    assert [a["data-span"] for a in page.select("#wf-rows a[aria-current]")] == [agent.tool]
    detail = _detail(page)
    assert detail["data-span-id"] == agent.tool
    assert _text(detail.select_one("h2")) == "tool get_time"
    assert _text(detail.select_one(".status-message")) == TIME_ERROR
    assert _text(detail.select_one(".span-meta .badge-error")) == "error"
    assert detail.select_one("section.call") is None  # not an LLM call

    sections = {
        _text(d.select_one("summary")).split()[0]: d for d in detail.select("details.facts")
    }
    attributes = {_text(tr.th): tr.td for tr in sections["Attributes"].select("tr")}
    assert list(attributes) == ["tool.arguments", "tool.name"]
    assert attributes["tool.name"].get_text() == "get_time"
    # Text that holds JSON is shown as that JSON, pretty.
    assert attributes["tool.arguments"].select_one("code.json") is not None
    assert json.loads(attributes["tool.arguments"].get_text()) == {"tz": "Europe/Paris"}
    assert _text(sections["Attributes"].select_one("summary .count")) == "2"
    event = sections["Events"].select_one(".event")
    assert _text(event.select_one("b")) == "exception"
    assert _text(event.select_one(".muted")) == "2026-12-04T16:00:00.940000Z"
    event_attributes = {_text(tr.th): _text(tr.td) for tr in event.select("tr")}
    assert event_attributes == {"exception.message": TIME_ERROR, "exception.type": "TimeoutError"}
    resource = {_text(tr.th): _text(tr.td) for tr in sections["Resource"].select("tr")}
    assert resource == {"service.name": "travel-agent"}
    assert "Scope: tests" in _text(sections["Resource"])
    links = {_text(a): a["href"] for a in detail.select(".span-meta a")}
    assert links == {
        "link": f"{agent.path}?span={agent.tool}",
        "JSON": f"/api/v1/traces/{agent.trace}/spans/{agent.tool}",
    }


def test_span_ids_in_the_query_are_case_blind(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(
        client, f"{agent.path.upper().replace('/TRACES/', '/traces/')}?span={agent.tool.upper()}"
    )
    assert [a["data-span"] for a in page.select("#wf-rows a[aria-current]")] == [agent.tool]
    assert _detail(page)["data-span-id"] == agent.tool


def test_non_string_attribute_values_are_shown_as_json(client: TestClient) -> None:
    trace = otlp.trace_id()
    _export(
        client,
        otlp.span(
            "typed",
            trace=trace,
            attributes={
                "count": 3,
                "ratio": 0.5,
                "flag": True,
                "tags": ["a", "b"],
                "nested": {"k": 1},
            },
        ),
    )
    detail = _detail(_soup(client, f"/traces/{trace.hex()}"))
    cells = {_text(tr.th): tr.td for tr in detail.select("details.facts")[0].select("tr")}
    assert _text(cells["count"]) == "3"
    assert _text(cells["flag"]) == "true"
    assert json.loads(cells["tags"].get_text()) == ["a", "b"]
    assert json.loads(cells["nested"].get_text()) == {"k": 1}
    assert cells["tags"].select_one("code.json") is not None


def test_text_nested_past_the_json_parser_limit_still_renders(client: TestClient) -> None:
    """An attribute (or tool argument) that looks like JSON but nests too deep for the parser
    is shown as the text it is: one span must not make its trace unreadable."""
    deep = "[" * 5_000 + "]" * 5_000
    trace = otlp.trace_id()
    calls = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t", "name": "n", "arguments": deep}],
        }
    ]
    _export(
        client, otlp.span("deep", trace=trace, attributes=_call(output_messages=calls, deep=deep))
    )
    detail = _detail(_soup(client, f"/traces/{trace.hex()}"))
    cells = {_text(tr.th): tr.td for tr in detail.select("details.facts")[0].select("tr")}
    # An LLM call's long attributes are cut in the table (its content is in the conversation),
    # with a link to the whole value.
    assert cells["deep"].select_one(".str").get_text() == deep[:2000]
    assert "8,000 more characters" in cells["deep"].select_one(".cut").get_text()
    assert cells["deep"].select_one(".cut a")["href"].startswith(f"/api/v1/traces/{trace.hex()}/")
    assert detail.select_one("#call-t .mono").get_text().strip() == deep


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"/traces/{'ab' * 16}", 404, f"No trace {'ab' * 16} is stored."),
        ("/traces/not-hex", 422, "trace id must be 32 hex characters"),
        (f"/traces/{'ab' * 15}", 422, "trace id must be 32 hex characters"),
        (f"/traces/{'zz' * 16}", 422, "trace id must be 32 hex characters"),
        (f"/partials/traces/{'ab' * 16}/spans/{'cd' * 8}", 404, "has no span"),
        (f"/partials/traces/{'ab' * 16}/spans/xyz", 422, "span id must be 16 hex characters"),
        (f"/partials/traces/nope/spans/{'cd' * 8}", 422, "trace id must be 32 hex characters"),
    ],
)
def test_unknown_and_malformed_ids_get_an_error_page(
    client: TestClient, path: str, status: int, message: str
) -> None:
    page = _soup(client, path, status=status)
    heading = "Not found" if status == 404 else "That request was not understood"
    assert _text(page.select_one("h1")) == heading
    assert message in _text(page.select_one(".error-message"))


def test_an_unknown_or_malformed_span_of_a_stored_trace(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, f"{agent.path}?span={'cd' * 8}", status=404)
    assert _text(page.select_one("h1")) == "Not found"
    assert f"has no span {'cd' * 8}" in _text(page.select_one(".error-message"))
    page = _soup(client, f"{agent.path}?span=nope", status=422)
    assert "span id must be 16 hex characters" in _text(page.select_one(".error-message"))
    # A span of another trace is not a span of this one.
    other = _record_agent(client)
    _soup(client, f"{agent.path}?span={other.first_call}", status=404)
    _soup(client, f"/partials/traces/{agent.trace}/spans/{other.first_call}", status=404)


# --- one trace: the conversation -----------------------------------------------------------------


def _conversation(page: BeautifulSoup) -> Tag:
    found = _detail(page).select_one(".conversation")
    assert found is not None
    return found


def _messages(page: BeautifulSoup) -> list[Tag]:
    return _conversation(page).select(".chat-view > .msg")


def test_the_conversation_shows_system_and_messages_by_role(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    messages = _messages(page)
    roles = [(m["class"], _text(m.select_one(".role"))) for m in messages]
    assert roles == [
        (["msg", "msg-system"], "System"),
        (["msg", "msg-user"], "user"),
        (["msg", "msg-assistant", "is-output"], "assistant · response"),
    ]
    system = messages[0].select_one(".block-text .prose")
    # The system prompt is Markdown: its bold is rendered, not shown as asterisks.
    assert _text(system.select_one("strong")) == "travel assistant"
    assert (
        _text(system)
        == "You are a travel assistant . Use the tools; answer in one short paragraph."
    )
    question = messages[1].select(".block-text .prose")
    assert [_text(q) for q in question] == [QUESTION]
    assert _text(messages[2].select_one(".finish")) == "finish: tool_use"
    params = {_text(d.dt): _text(d.dd) for d in _conversation(page).select("dl.params > div")}
    assert params == {"max_tokens": "1024"}
    tools = _conversation(page).select_one("details.tools")
    assert _text(tools.select_one("summary .count")) == "2"
    assert [_text(b) for b in tools.select(".tool-name")] == ["get_weather", "get_time"]


def test_tool_calls_link_to_their_results(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, f"{agent.path}?span={agent.second_call}")
    conversation = _conversation(page)
    weather = conversation.select_one("#call-toolu_weather01")
    assert "block-tool-call" in weather["class"]
    assert _text(weather.select_one(".tool-name")) == "get_weather"
    assert json.loads(weather.select_one(".mono").get_text()) == {"city": "Paris"}
    assert '"city": "Paris"' in weather.select_one(".mono").get_text()  # pretty, indented
    assert weather.select_one("a.pair-link")["href"] == "#result-toolu_weather01"
    assert "is-error" not in weather["class"]

    result = conversation.select_one("#result-toolu_weather01")
    assert "block-tool-result" in result["class"]
    assert _text(result.select_one(".tool-name")) == "get_weather"
    assert result.select_one("a.pair-link")["href"] == "#call-toolu_weather01"
    assert _text(result.select_one("pre")) == WEATHER

    failed_call = conversation.select_one("#call-toolu_time01")
    assert "is-error" in failed_call["class"]
    assert _text(failed_call.select_one("a.pair-link")) == "→ error result"
    assert _text(failed_call.select_one(".badge-error")) == "error"
    failed = conversation.select_one("#result-toolu_time01")
    assert "is-error" in failed["class"]
    assert _text(failed.select_one(".badge-error")) == "error"
    assert _text(failed.select_one("pre")) == TIME_ERROR
    # Every link points at an element of the page.
    for link in conversation.select("a.pair-link"):
        assert conversation.select_one(link["href"]) is not None


def test_a_tool_call_whose_result_is_in_a_later_call_says_so(client: TestClient) -> None:
    agent = _record_agent(client)
    conversation = _conversation(_soup(client, agent.path))
    call = conversation.select_one("#call-toolu_weather01")
    assert call.select_one("a.pair-link") is None
    assert "result is not part of this call" in _text(call.select_one(".block-note"))


def test_thinking_is_collapsed_and_redacted_thinking_noted(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, f"{agent.path}?span={agent.second_call}")
    output = _messages(page)[-1]
    thinking = output.select("details.block-reasoning")
    assert len(thinking) == 1
    assert not thinking[0].has_attr("open")
    assert _text(thinking[0].select_one("summary")).startswith("Thinking")
    assert _text(thinking[0].select_one(".prose")) == ANSWER_THINKING
    redacted = output.select_one(".block-redacted")
    assert "Redacted thinking" in _text(redacted)
    assert "encrypted by the provider (128 bytes)" in _text(redacted)
    # The first call's thinking is signed; that is noted, not shown.
    first = _soup(client, agent.path)
    signed = _messages(first)[-1].select_one("details.block-reasoning")
    assert _text(signed.select_one(".prose")) == THINKING
    assert {_text(d.dt): _text(d.dd) for d in signed.select(".block-facts > div")} == {
        "signed": "yes"
    }


def test_images_are_inlined_only_when_kept_and_safe(client: TestClient) -> None:
    agent = _record_agent(client)
    user = _messages(_soup(client, agent.path))[1]
    figures = user.select("figure.block-media")
    assert len(figures) == 3
    kept, described, svg = figures

    image = kept.select_one("img.thumb")
    assert image["src"] == f"data:image/png;base64,{PIXEL_PNG}"
    assert image["alt"] == "Image from the conversation"

    assert described.select_one("img") is None
    facts = {_text(d.dt): _text(d.dd) for d in described.select(".block-facts > div")}
    assert facts == {"type": "image/png", "size": "2.0 KB", "sha256": HIDDEN_PNG_SHA}
    assert "was not kept" in _text(described.select_one(".block-note"))

    assert svg.select_one("img") is None
    facts = {_text(d.dt): _text(d.dd) for d in svg.select(".block-facts > div")}
    assert facts["type"] == "image/svg+xml"
    assert facts["data"] == f"{len(SVG_B64)} base64 characters kept"
    # The only images on the page are the kept PNG.
    assert [img["src"] for img in _detail(_soup(client, agent.path)).select("img")] == [
        image["src"]
    ]


def test_documents_citations_and_unknown_parts(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, f"{agent.path}?span={agent.second_call}")
    conversation = _conversation(page)
    document = conversation.select_one(".block-document")
    assert _text(document.select_one(".block-head")) == "Document Itinerary"
    assert _text(document.select_one("pre")) == "Day 1: Louvre."
    assert {_text(d.dt): _text(d.dd) for d in document.select(".block-facts > div")} == {
        "mime_type": "text/plain"
    }

    answer = _messages(page)[-1].select(".block-text")[0]
    assert _text(answer.select_one(".prose strong")) == "18°C with light rain"
    citation = answer.select_one("ol.citations .block-citation")
    assert _text(citation.select_one("q")) == "Day 1: Louvre."
    assert _text(citation.select_one("cite")) == "Itinerary"
    facts = {_text(d.dt): _text(d.dd) for d in citation.select(".block-facts > div")}
    assert facts["type"] == "char_location"
    assert facts["end_char_index"] == "14"

    raw = conversation.select_one(".block-raw")
    assert "container_upload" in _text(raw.select_one(".block-head"))
    assert "shown as recorded" in _text(raw.select_one(".block-head"))
    assert json.loads(raw.select_one(".mono").get_text()) == {
        "file_id": "file_zeppelin42",
        "flavour": "odd",
    }


def test_long_text_is_collapsed_behind_show_all(client: TestClient) -> None:
    agent = _record_agent(client)
    output = _messages(_soup(client, f"{agent.path}?span={agent.second_call}"))[-1]
    texts = output.select(".block-text")
    short, long = texts[0], texts[1]
    assert short.select_one(".long") is None
    collapsed = long.select_one(".long")
    toggle = collapsed.select_one("input.expand[type=checkbox]")
    label = collapsed.select_one("label.expand-label")
    assert label["for"] == toggle["id"]
    assert _text(label.select_one(".more")) == f"Show all ({len(LONG_ANSWER):,} characters)"
    assert _text(label.select_one(".less")) == "Show less"
    # The whole text is in the page, only clamped.
    assert "Paragraph 119" in _text(collapsed.select_one(".clamp"))
    # Each toggle is tied to its own text.
    ids = [
        t["id"]
        for t in _detail(_soup(client, f"{agent.path}?span={agent.second_call}")).select(
            "input.expand"
        )
    ]
    assert len(ids) == len(set(ids))


def test_the_raw_json_view_holds_the_whole_call(client: TestClient) -> None:
    agent = _record_agent(client)
    conversation = _conversation(_soup(client, agent.path))
    switch = conversation.select(".view-switch input[type=radio]")
    assert [s["id"] for s in switch] == [
        f"view-chat-{agent.first_call}",
        f"view-raw-{agent.first_call}",
    ]
    assert switch[0].has_attr("checked")
    raw = json.loads(conversation.select_one(".raw-view pre").get_text())
    assert raw["request_model"] == MODEL
    assert raw["input_messages"][0]["parts"][4] == {"type": "text", "content": QUESTION}
    assert raw["usage"]["cache_read_input_tokens"] == 1800


def test_a_call_with_no_messages_still_has_raw_json(client: TestClient) -> None:
    trace = otlp.trace_id()
    call = otlp.span("chat", trace=trace, attributes=_call(span_type=None, input_tokens=3))
    _export(client, call)
    page = _soup(client, f"/traces/{trace.hex()}")
    conversation = _conversation(page)
    assert "No messages were recorded" in _text(conversation.select_one(".chat-view"))
    raw = conversation.select_one(".raw-view pre").get_text().strip()
    assert raw
    assert json.loads(raw)["request_model"] == MODEL


def _usage(container: Tag) -> dict[str, str]:
    usage = container.select_one(".usage")
    assert usage is not None
    return {_text(d.dt): _text(d.dd) for d in usage.select("dl.figures > div")}


def test_token_figures_per_call_and_in_total(client: TestClient) -> None:
    agent = _record_agent(client)
    page = _soup(client, agent.path)
    totals = page.select_one(".trace-totals")
    assert _usage(totals) == {
        "Input": "4,730",
        "Output": "154",
        "Cache read": "3,600",
        "Cache write": "100",
        "Uncached input": "1,030",
    }
    assert totals.select_one(".cache-bar .cache-read")["style"] == "width: 76.1%"
    assert totals.select_one(".cache-bar .cache-write")["style"] == "width: 2.1%"
    assert "76.1% of input from cache" in _text(totals.select_one(".cache-caption"))
    assert "2.1% written to cache" in _text(totals.select_one(".cache-caption"))

    call = _detail(page).select_one("section.call")
    assert _usage(call) == {
        "Input": "2,220",
        "Output": "96",
        "Cache read": "1,800",
        "Cache write": "0",
        "Uncached input": "420",
    }
    assert call.select_one(".cache-bar .cache-read")["style"] == "width: 81.1%"
    assert call.select_one(".cache-bar .cache-write")["style"] == "width: 0.0%"
    assert "written to cache" not in _text(call.select_one(".cache-caption"))

    streamed = _detail(_soup(client, f"{agent.path}?span={agent.second_call}"))
    assert _usage(streamed)["Input"] == "2,510"
    assert _usage(streamed)["Uncached input"] == "610"


def test_a_call_without_usage_shows_dashes_and_no_bar(client: TestClient) -> None:
    trace = otlp.trace_id()
    _export(client, otlp.span("chat", trace=trace, attributes=_call()))
    call = _detail(_soup(client, f"/traces/{trace.hex()}")).select_one("section.call")
    assert set(_usage(call).values()) == {"–"}
    assert call.select_one(".cache-bar") is None


def test_the_streaming_timeline_is_drawn_only_for_a_streamed_call(client: TestClient) -> None:
    agent = _record_agent(client)
    plain = _detail(_soup(client, agent.path))
    assert plain.select("figure.timeline") == []
    assert plain.select("svg") == []

    for span in (agent.second_call, agent.stream):
        detail = _detail(_soup(client, f"{agent.path}?span={span}"))
        figure = detail.select_one("section.call figure.timeline")
        assert figure is not None, span
        svg = figure.select_one("svg.timeline-chart")
        assert svg["role"] == "img"
        assert _text(svg.select_one("title")) == "Streaming timeline"
        assert len(svg.select("circle.timeline-chunk")) == 4
        figures = {_text(d.dt): _text(d.dd) for d in figure.select("dl.timeline-figures > div")}
        assert figures["First token"] == "412 ms"
        assert figures["Chunks"] == "4"
        assert figures["Characters"] == "80"
        assert figures["Output rate"] == "54.2 tokens/s"


def test_selecting_the_stream_shows_the_whole_call(client: TestClient) -> None:
    agent = _record_agent(client)
    detail = _detail(_soup(client, f"{agent.path}?span={agent.stream}"))
    assert detail["data-span-id"] == agent.stream
    roles = [_text(m.select_one(".role")) for m in detail.select(".chat-view > .msg")]
    # The request's input and the stream's output, as one call.
    assert roles == ["System", "user", "assistant", "user", "assistant · response"]


def test_the_partial_span_endpoint_returns_the_same_detail(client: TestClient) -> None:
    agent = _record_agent(client)
    for span in (agent.first_call, agent.second_call, agent.tool, agent.stream):
        reply = client.get(f"/partials/traces/{agent.trace}/spans/{span}")
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/html")
        fragment = BeautifulSoup(reply.text, "html.parser")
        assert fragment.find(["html", "head", "body", "script", "nav"]) is None
        top = [child for child in fragment.children if isinstance(child, Tag)]
        assert [element.name for element in top] == ["article"]
        page = _soup(client, f"{agent.path}?span={span}")
        assert str(top[0]) == str(_detail(page))
    # Upper-case ids are accepted and the links inside use the canonical form.
    fragment = _soup(client, f"/partials/traces/{agent.trace.upper()}/spans/{agent.tool.upper()}")
    assert fragment.select_one("article")["data-span-id"] == agent.tool
    assert fragment.select_one(".span-meta a")["href"] == f"{agent.path}?span={agent.tool}"


def test_a_trace_of_otel_genai_spans_reads_the_same(client: TestClient) -> None:
    """A third-party GenAI emitter (no spyglass keys) gets the same conversation view."""
    trace = otlp.trace_id()
    attributes = _call(
        span_type=None,
        input_tokens=100,
        output_tokens=20,
        input_messages=[{"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}],
        output_messages=[
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello!"}],
                "finish_reason": "stop",
            }
        ],
    )
    _export(client, otlp.span("chat", trace=trace, attributes=attributes))
    page = _soup(client, f"/traces/{trace.hex()}")
    assert [_text(m.select_one(".prose")) for m in _messages(page)] == ["Hi there", "Hello!"]
    assert "is-llm" in _wf_rows(page)[0]["class"]


# --- safety --------------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
MD_LINK = "[click](javascript:alert(1))"
RAW_HTML = "<b onclick=alert(1)>x</b> <iframe src=javascript:alert(1)></iframe>"
SVG = "<svg><animate onbegin=alert(1) attributeName=x /></svg>"
HOSTILE = [SCRIPT, IMG, MD_LINK, RAW_HTML, SVG]
EVERYTHING = " ".join(HOSTILE)
MARKDOWN_CORPUS = "\n\n".join(
    [
        EVERYTHING,
        "[upper](JAVASCRIPT:alert(1)) [spaced](  javascript:alert(1)) [entity](jav&#x61;script:alert(1))",
        "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) [vb](vbscript:msgbox(1))",
        "<javascript:alert(1)> ![pixel](https://tracker.example/p.gif)",
        '[ref][r]\n\n[r]: javascript:alert(1) "title"',
        "```html\n<script>alert(1)</script>\n```",
        '<div style="background:url(javascript:alert(1))">styled</div>',
    ]
)


def _assert_inert(page: BeautifulSoup, *, is_page: bool = True) -> None:
    """Nothing in the parsed page can run script: only the app's own script tag."""
    scripts = page.find_all("script")
    assert [s.get("src") for s in scripts] == (["/static/spyglass.js"] if is_page else [])
    assert all(not s.get_text().strip() for s in scripts)
    assert (
        page.find_all(
            ["iframe", "object", "embed", "frame", "frameset", "applet", "base", "animate", "set"]
        )
        == []
    )
    assert page.find_all(lambda tag: tag.name.lower() == "foreignobject") == []
    for element in page.find_all(True):
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on"), (element.name, name)
            text = " ".join(value) if isinstance(value, list) else str(value)
            compact = re.sub(r"\s", "", text).lower()
            if name in ("href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"):
                assert not compact.startswith(("javascript:", "vbscript:")), (
                    element.name,
                    name,
                    text,
                )
                if name != "src" or element.name != "img":
                    assert not compact.startswith("data:") or element.name == "link", (
                        element.name,
                        name,
                    )
            if name == "style":
                assert "javascript" not in compact and "url(" not in compact, text
    for image in page.find_all("img"):
        assert image["src"].startswith("data:image/png;base64,"), image
    for form in page.find_all("form"):
        assert form.get("action") == "/"


def _assert_shown(page: BeautifulSoup, *texts: str) -> None:
    shown = page.get_text()
    for text in texts:
        assert text in shown, text


def _record_hostile(client: TestClient) -> tuple[str, list[str]]:
    trace = otlp.trace_id()
    root = otlp.span(
        f"root {SCRIPT}",
        trace=trace,
        duration_ns=2 * SECOND,
        status=2,
        attributes={SCRIPT: IMG, "note": EVERYTHING, f"{IMG} key": ["a", SCRIPT]},
    )
    root.status.message = RAW_HTML
    root.events.add(
        name=f"event {SCRIPT}",
        time_unix_nano=otlp.BASE_NS + MS,
        attributes=otlp.key_values({IMG: SCRIPT}),
    )
    conversation_input = [
        {"role": "user", "parts": [{"type": "text", "content": MARKDOWN_CORPUS}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": EVERYTHING},
                {
                    "type": "tool_call",
                    "id": f"toolu_{SCRIPT}",
                    "name": f"tool {IMG}",
                    "arguments": {SCRIPT: IMG, "md": MD_LINK},
                },
            ],
        },
        {
            "role": f"role {SCRIPT}",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": f"toolu_{SCRIPT}",
                    "response": EVERYTHING,
                    "is_error": True,
                },
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": 'image/png" onerror="alert(1)',
                    "content": PIXEL_PNG,
                },
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": f'{PIXEL_PNG}"><script>alert(1)</script>',
                },
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "text/html",
                    "content": "PHNjcmlwdD4=",
                },
                {"type": "uri", "modality": "image", "uri": "javascript:alert(1)"},
                {"type": "document", "title": SCRIPT, "content": EVERYTHING, "citations": [SCRIPT]},
                {
                    "type": "search_result",
                    "title": IMG,
                    "source": "javascript:alert(1)",
                    "content": [{"type": "text", "content": MD_LINK}],
                },
                {"type": f"kind {SCRIPT}", "raw": {"html": EVERYTHING}},
            ],
        },
    ]
    output = [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "text",
                    "content": EVERYTHING,
                    "citations": [
                        {"cited_text": SCRIPT, "title": IMG, "url": "javascript:alert(1)"}
                    ],
                }
            ],
            "finish_reason": SCRIPT,
        }
    ]
    call = otlp.span(
        f"chat {IMG}",
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + 10 * MS,
        attributes=_call(
            f"model {SCRIPT}",
            input_tokens=10,
            output_tokens=5,
            system=[{"type": "text", "content": EVERYTHING}],
            input_messages=conversation_input,
            output_messages=output,
            tools=[
                {"name": f"tool {SCRIPT}", "description": EVERYTHING, "parameters": {SCRIPT: IMG}}
            ],
            **{"gen_ai.request.top_k": SCRIPT, "gen_ai.response.finish_reasons": [IMG]},
        ),
    )
    stream = otlp.span(
        f"stream {SCRIPT}",
        trace=trace,
        parent=call.span_id,
        start_ns=otlp.BASE_NS + 20 * MS,
        attributes={
            **_stream(output_messages=output, input_tokens=10, output_tokens=5),
            "gen_ai.response.model": f"model {SCRIPT}",
            "spyglass.stream.timeline": json.dumps([[0, 0], [5, SCRIPT], [SCRIPT, 3], [10, 4]]),
        },
    )
    _export(client, root, call, stream, service=f"svc {SCRIPT}")
    return trace.hex(), [root.span_id.hex(), call.span_id.hex(), stream.span_id.hex()]


def test_hostile_span_content_is_shown_as_text_never_run(client: TestClient) -> None:
    trace, spans = _record_hostile(client)
    listing = _soup(client, "/")
    _assert_inert(listing)
    _assert_shown(listing, f"root {SCRIPT}", f"svc {SCRIPT}", f"model {SCRIPT}")
    rows = _soup(client, "/partials/traces")
    _assert_inert(rows, is_page=False)
    _assert_shown(rows, f"root {SCRIPT}")

    for span in spans:
        page = _soup(client, f"/traces/{trace}?span={span}")
        _assert_inert(page)
        _assert_shown(page, f"root {SCRIPT}", f"chat {IMG}", f"stream {SCRIPT}", f"model {SCRIPT}")
        fragment = _soup(client, f"/partials/traces/{trace}/spans/{span}")
        _assert_inert(fragment, is_page=False)

    root = _soup(client, f"/traces/{trace}?span={spans[0]}")
    _assert_shown(
        root, SCRIPT, IMG, EVERYTHING, RAW_HTML, f"event {SCRIPT}", f"{IMG} key", f"svc {SCRIPT}"
    )
    call = _soup(client, f"/traces/{trace}")
    _assert_shown(
        call,
        *HOSTILE,
        f"tool {IMG}",
        f"tool {SCRIPT}",
        f"role {SCRIPT}",
        f"kind {SCRIPT}",
        "finish: " + SCRIPT,
        "javascript:alert(1)",
    )
    conversation = _conversation(call)
    # The Markdown was rendered (paragraphs), but none of its links go anywhere dangerous.
    assert conversation.select(".prose p")
    # Only the image, which became a plain link to the web: nothing is fetched to show it.
    links = [a for a in conversation.select(".prose a") if a.get("href")]
    assert [a["href"] for a in links] == ["https://tracker.example/p.gif"]
    assert "noopener" in links[0]["rel"]
    # Tool arguments are JSON with the hostile text as values, not markup.
    arguments = conversation.select_one(".block-tool-call .mono").get_text()
    assert json.loads(arguments) == {SCRIPT: IMG, "md": MD_LINK}
    # The tool id is hostile; its anchor is not, and the pair still links.
    anchors = [b["id"] for b in conversation.select(".block-tool-call[id], .block-tool-result[id]")]
    assert all(re.fullmatch(r"(call|result)-[A-Za-z0-9_-]+", a) for a in anchors), anchors
    assert len(anchors) == 2
    # Only the real PNG with a plain image/png type is inlined.
    assert call.select("img") == []


def test_hostile_query_parameters_are_escaped_on_every_page(client: TestClient) -> None:
    _record_hostile(client)
    page = _soup(client, f"/?q={SCRIPT}&service={IMG}&model={MD_LINK}")
    _assert_inert(page)
    assert _field(page, "q") == SCRIPT
    assert _field(page, "service") == IMG
    assert _field(page, "model") == MD_LINK
    for path in (
        f"/?since={SCRIPT}",
        f"/?status={IMG}",
        f"/?range={SCRIPT}",
        f"/?cursor={SCRIPT}",
        f"/partials/traces?until={IMG}",
    ):
        error = _soup(client, path, status=422)
        _assert_inert(error)
        assert error.select_one(".error-message").find(True) is None  # text only
    error = _soup(client, f"/?since={SCRIPT}", status=422)
    _assert_shown(error, SCRIPT)
    # In a path, anything but "/" (which would make it another route).
    for path in (
        f"/traces/{IMG}",
        f"/traces/{'ab' * 16}?span={IMG}",
        f"/partials/traces/{IMG}/spans/x",
    ):
        error = _soup(client, path, status=422)
        _assert_inert(error)
        _assert_shown(error, IMG)


def test_the_highlight_stylesheet(client: TestClient) -> None:
    reply = client.get("/static/highlight.css")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/css")
    assert ".hl-" in reply.text
    assert "@media (prefers-color-scheme: dark)" in reply.text


# --- live rows, and a search that leads into a trace ---------------------------------------------


def test_the_polled_rows_carry_their_digest_and_the_next_cursor(client: TestClient) -> None:
    _export(client, otlp.span("first", start_ns=otlp.BASE_NS))
    page = _soup(client, "/")
    polled = client.get("/partials/traces")
    digest = page.select_one("#trace-rows")["data-digest"]
    # The page and the poll agree while nothing changed, so the page leaves its rows alone.
    assert polled.headers["x-rows-digest"] == digest
    assert polled.headers["x-next-cursor"] == ""
    _export(client, otlp.span("second", start_ns=otlp.BASE_NS + SECOND))
    changed = client.get("/partials/traces")
    assert changed.headers["x-rows-digest"] != digest
    # One row per page: the poll says where the page after its rows starts.
    from app.routes import pages

    original = pages.PAGE_SIZE
    pages.PAGE_SIZE = 1
    try:
        small = client.get("/partials/traces")
        cursor = small.headers["x-next-cursor"]
        assert cursor
        older = _soup(client, f"/?cursor={cursor}")
        assert [_text(row.select_one("td.name")) for row in _rows(older)] == ["first"]
    finally:
        pages.PAGE_SIZE = original


def test_a_search_opens_a_trace_on_the_span_it_matched(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("agent", trace=trace)
    plain_call = otlp.span(
        "chat one",
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + 1,
        attributes=_call(
            input_messages=[{"role": "user", "parts": [{"type": "text", "content": "hello"}]}]
        ),
    )
    matching_call = otlp.span(
        "chat two",
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + 2,
        attributes=_call(
            input_messages=[
                {"role": "user", "parts": [{"type": "text", "content": "zebra crossing"}]}
            ]
        ),
    )
    _export(client, root, plain_call, matching_call)
    listed = _soup(client, "/?q=zebra")
    link = _rows(listed)[0].select_one("td.name a")["href"]
    assert link == f"/traces/{trace.hex()}?q=zebra"
    page = _soup(client, link)
    marked = [row.select_one("a")["data-span"] for row in page.select(".wf-row.is-match")]
    assert marked == [matching_call.span_id.hex()]
    assert page.select_one(".wf-row.is-selected a")["data-span"] == matching_call.span_id.hex()
    assert "1 span match" in _text(page.select_one(".wf-matches"))
    # Back and forward without a span return to this default; row links keep the search.
    assert page.select_one("#wf-rows")["data-default-span"] == matching_call.span_id.hex()
    assert all("q=zebra" in a["href"] for a in page.select(".wf-row a"))
    # Without a search the trace opens on its first call, and nothing is marked.
    plain = _soup(client, f"/traces/{trace.hex()}")
    assert plain.select(".wf-row.is-match") == []
    assert plain.select_one(".wf-row.is-selected a")["data-span"] == plain_call.span_id.hex()
    _soup(client, f"/traces/{trace.hex()}?q=%25%25", status=422)


def test_the_service_filter_suggests_the_known_services(client: TestClient) -> None:
    _export(client, otlp.span("a"), service="billing")
    _export(client, otlp.span("b"), service="<b>api</b>")
    page = _soup(client, "/")
    field = page.select_one("form.filters input[name=service]")
    options = page.select(f"datalist#{field['list']} option")
    assert [option["value"] for option in options] == ["<b>api</b>", "billing"]


# --- what the figures and names say ----------------------------------------------------------


def test_unknown_cache_figures_are_never_shown_as_zero(client: TestClient) -> None:
    # A source that reports input and output but says nothing of the cache.
    trace = otlp.trace_id()
    _export(
        client,
        otlp.span("chat", trace=trace, attributes=_call(input_tokens=25, output_tokens=9)),
    )
    page = _soup(client, f"/traces/{trace.hex()}")
    call = _detail(page).select_one("section.call")
    assert _usage(call) == {
        "Input": "25",
        "Output": "9",
        "Cache read": "–",
        "Cache write": "–",
        "Uncached input": "–",
    }
    assert call.select_one(".cache-bar") is None
    assert call.select_one(".cache-caption") is None
    # The trace's summary counts the unknown figures as 0; its totals say unknown all the same.
    totals = page.select_one(".trace-totals")
    assert _usage(totals)["Cache read"] == "–"
    assert _usage(totals)["Cache write"] == "–"
    assert _usage(totals)["Uncached input"] == "–"
    assert totals.select_one(".cache-bar") is None


def test_a_cache_total_is_shown_when_one_call_reported_it(client: TestClient) -> None:
    trace = otlp.trace_id()
    root = otlp.span("run", trace=trace)
    known = _call(input_tokens=100, output_tokens=1, cache_read=40, cache_write=0)
    unknown = _call(input_tokens=25, output_tokens=9)
    _export(
        client,
        root,
        otlp.span("chat", trace=trace, parent=root.span_id, attributes=known),
        otlp.span("chat", trace=trace, parent=root.span_id, attributes=unknown),
    )
    totals = _soup(client, f"/traces/{trace.hex()}").select_one(".trace-totals")
    assert _usage(totals)["Cache read"] == "40"
    assert _usage(totals)["Cache write"] == "0"
    assert "32.0% of input from cache" in _text(totals.select_one(".cache-caption"))


def test_reasoning_tokens_are_shown_when_known(client: TestClient) -> None:
    trace = otlp.trace_id()
    attributes = _call(
        input_tokens=135,
        output_tokens=12,
        cache_read=100,
        **{"gen_ai.usage.reasoning.output_tokens": 4},
    )
    _export(client, otlp.span("chat", trace=trace, attributes=attributes))
    call = _detail(_soup(client, f"/traces/{trace.hex()}")).select_one("section.call")
    assert _usage(call)["Reasoning output"] == "4"
    # A call that does not say has no such figure, rather than a dash for it.
    agent = _record_agent(client)
    assert "Reasoning output" not in _usage(_detail(_soup(client, agent.path)))


def test_a_stacktrace_keeps_its_layout(client: TestClient) -> None:
    stacktrace = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n'
        "    total = price * count\n"
        "            ~~~~~~^~~~~~~\n"
        "TypeError: can't multiply sequence by non-int of type 'str'"
    )
    failed = otlp.span("work", status=2)
    failed.events.add(
        name="exception",
        time_unix_nano=otlp.BASE_NS,
        attributes=otlp.key_values(
            {"exception.type": "TypeError", "exception.stacktrace": stacktrace}
        ),
    )
    _export(client, failed)
    events = _detail(_soup(client, f"/traces/{failed.trace_id.hex()}")).select(".event")
    [shown] = [e.select_one("pre.stacktrace") for e in events if e.select_one("pre")]
    # Exactly as recorded, in a <pre>, which the page sets in the monospace font.
    assert shown.get_text() == stacktrace
    assert _text(events[0].select_one("span.str")) == "TypeError"  # other values as before


def test_a_stream_that_failed_shows_its_error_on_the_call(client: TestClient) -> None:
    message = "APIStatusError: Overloaded (request_id: req_1, type: overloaded_error)"
    trace = otlp.trace_id()
    request = otlp.span(
        f"chat {MODEL}",
        trace=trace,
        attributes=_call(input_messages=[{"role": "user", "parts": []}]),
    )
    stream_attributes = _stream(output_messages=[], input_tokens=135, output_tokens=1)
    stream_attributes.update({"error.type": "overloaded_error", "spyglass.stream.complete": False})
    stream = otlp.span(
        f"chat {MODEL} stream",
        trace=trace,
        parent=request.span_id,
        start_ns=otlp.BASE_NS + MS,
        status=2,
        attributes=stream_attributes,
    )
    stream.status.message = message
    _export(client, stream, request)

    page = _soup(client, f"/traces/{trace.hex()}")
    detail = _detail(page)
    assert detail["data-span-id"] == request.span_id.hex()  # the call, whose span is not red
    assert _text(detail.select_one(".status-message.error")) == f"The call failed: {message}"
    row = _wf_row(page, request.span_id.hex())
    assert "is-error" in row["class"]
    assert row.select_one(".badge-error")["title"] == message
    # The stream's own page shows its own status, as any failed span's does.
    own = _detail(_soup(client, f"/traces/{trace.hex()}?span={stream.span_id.hex()}"))
    assert _text(own.select_one(".status-message")) == message
    # The REST conversation carries the message too, whichever span is asked.
    for span in (request, stream):
        path = f"/api/v1/traces/{trace.hex()}/spans/{span.span_id.hex()}/conversation"
        error = client.get(path).json()["error"]
        assert error == {"type": "overloaded_error", "message": message}


def test_logfire_spans_are_titled_by_their_message(client: TestClient) -> None:
    template = "Message with {request_data[model]!r}"
    trace = otlp.trace_id()
    root = otlp.span(
        "agent run {user}",
        trace=trace,
        attributes={"logfire.msg_template": "agent run {user}", "logfire.msg": "agent run ada"},
    )
    call = otlp.span(
        template,
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + MS,
        attributes={"logfire.msg_template": template, "logfire.msg": "Message with 'claude-x'"},
    )
    not_a_string = otlp.span(
        "odd {x}", trace=trace, parent=root.span_id, attributes={"logfire.msg": 7}
    )
    _export(client, root, call, not_a_string)

    page = _soup(client, f"/traces/{trace.hex()}?span={call.span_id.hex()}")
    assert page.title.get_text().startswith("agent run ada")
    assert _text(page.select_one(".trace-head h1")) == "agent run ada"
    names = {row.select_one("a")["data-span"]: row.select_one(".wf-name") for row in _wf_rows(page)}
    assert _text(names[call.span_id.hex()]) == "Message with 'claude-x'"
    assert names[call.span_id.hex()]["title"] == template  # the real name, on hover
    assert _text(names[not_a_string.span_id.hex()]) == "odd {x}"
    detail = _detail(page)
    assert _text(detail.select_one("h2")) == "Message with 'claude-x'"
    assert _text(detail.select_one(".span-name code")) == template
    # Display only: what is stored and served stays the span's name.
    served = client.get(f"/api/v1/traces/{trace.hex()}").json()
    assert {span["name"] for span in served["spans"]} == {template, "agent run {user}", "odd {x}"}
    assert served["trace"]["name"] == "agent run {user}"
