"""The XSS corpus (`tests/e2e/xss_payloads.py`) through the real OTLP path into a real
collector, then every page that shows it, in Debian's Chromium.

Every payload goes into every field a page shows: the messages of a call in three conventions
(GenAI `gen_ai.*` JSON, OpenInference's flattened keys, Spyglass's request and stream spans),
tool names, arguments and results, thinking, media with hostile types and data, citations with
hostile URLs, span names, attribute keys and values, event and log names, resource attributes,
service, scope and model names, status messages; and into the URLs a user types: the search
and every filter, on the list and on a trace.

On each page: no dialog opens, no Content-Security-Policy violation fires (our policy would
have blocked a script we let through: a violation is an escape we missed), each payload reads
as the text it is where it is shown, and the DOM holds nothing the spans could have made
markup of: no event handler attribute, no inline script, no frame, no link or image source
other than web, mail, in-page and the page's own. A first test proves that these probes fire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlencode

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from playwright.sync_api import Browser, Page, Route, expect

from app.security_headers import CONTENT_SECURITY_POLICY
from tests import otlp_builders as otlp
from tests.collector_process import Collector
from tests.e2e.scenario import PIXEL_PNG
from tests.e2e.xss_payloads import (
    BREAKOUT_URL,
    BY_NAME,
    HOSTILE_URLS,
    LONG,
    PAYLOADS,
    SVG_WITH_SCRIPT,
    Payload,
    normalized,
)

ERROR, CLIENT = 2, 3  # OTLP status code and span kind

# Walks the whole document and names everything span content could have turned into markup.
AUDIT = r"""() => {
  const problems = [];
  const here = location.origin;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "");
  const url = (value) => { try { return new URL(value, location.href); } catch (error) { return null; } };
  const ours = (value) => { const u = url(value); return u !== null && u.origin === here; };
  const STYLE = /^(\s*(left|width|padding-left)\s*:\s*-?[0-9.e+-]+(%|rem)\s*;?)+\s*$/;
  const IMAGE = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+\/]*={0,2}$/;
  const FORBIDDEN = "iframe, frame, frameset, object, embed, applet, portal, base, style, "
    + "meta[http-equiv], template, noscript, math, foreignObject, animate, set, use, textarea";
  for (const e of document.querySelectorAll(FORBIDDEN)) problems.push(`element ${name(e)}`);
  for (const e of document.querySelectorAll("svg:not(.timeline-chart)")) {
    if (!e.closest("svg.timeline-chart")) problems.push(`element ${name(e)}`);
  }
  for (const e of document.querySelectorAll("script")) {
    const src = e.getAttribute("src");
    if (src === null) problems.push(`inline script: ${e.textContent.slice(0, 60)}`);
    else if (!ours(src) || !url(src).pathname.startsWith("/static/")) problems.push(`script src ${src}`);
  }
  for (const e of document.querySelectorAll("title")) {
    if (e.parentElement !== document.head && !e.closest("svg.timeline-chart")) problems.push("a title outside the head");
  }
  for (const e of document.querySelectorAll("*")) {
    for (const attribute of e.attributes) {
      const key = attribute.name.toLowerCase(), value = attribute.value;
      if (key.startsWith("on")) problems.push(`${name(e)} has handler ${key}="${value.slice(0, 40)}"`);
      else if (["srcdoc", "formaction", "xlink:href", "data", "poster", "ping", "background", "autofocus"].includes(key)) {
        problems.push(`${name(e)} has ${key}`);
      } else if (key === "style" && !STYLE.test(value)) problems.push(`${name(e)} style="${value}"`);
      else if (key === "action" && !(e.tagName === "FORM" && ours(value))) problems.push(`${name(e)} action ${value}`);
      else if (key === "href") {
        const u = url(value), tag = e.tagName;
        const ok = tag === "A" ? u !== null && ["http:", "https:", "mailto:"].includes(u.protocol)
          : tag === "LINK" ? ours(value) || value === "data:,"
          : false;
        if (!ok) problems.push(`${name(e)} href ${value}`);
      } else if (key === "src" && e.tagName !== "SCRIPT") {
        const ok = e.tagName === "IMG" && (IMAGE.test(value) || ours(value));
        if (!ok) problems.push(`${name(e)} src ${value.slice(0, 80)}`);
      }
    }
  }
  return problems;
}"""

# The text of each part of a span's detail, as the reader finds it (hidden folds included).
FIELDS = r"""() => {
  const d = document.querySelector("#detail");
  const all = (selector) => [...d.querySelectorAll(selector)].map((e) => e.textContent);
  return {
    name: all(".span-head h2"), meta: all(".span-meta"), status: all(".status-message"),
    system: all(".msg-system"), user: all(".msg-user"), other: all(".msg-other .role"),
    tool_name: all(".block-tool-call .tool-name"), tool_args: all(".block-tool-call .mono"),
    tool_result: all(".block-tool-result"), result_name: all(".block-tool-result .tool-name"),
    document_title: all(".block-document .block-head b"), cited_title: all(".block-citation cite"),
    thinking: all(".block-reasoning"),
    answer: all(".msg.is-output .block-text"), citation: all(".block-citation"),
    media: all(".block-media"), document: all(".block-document"), raw_part: all(".block-raw"),
    finish: all(".finish"), tools: all(".tools"), params: all(".params"),
    attributes: all("details.facts:nth-of-type(1)"), events: all("details.facts:nth-of-type(2)"),
    logs: all("details.facts:nth-of-type(3)"),
    resource: all("details.facts:last-of-type"), raw: all(".raw-view pre"),
    thumbs: [...d.querySelectorAll("img")].map((e) => e.getAttribute("src").slice(0, 22)),
  };
}"""
# Both at once: one round trip per span.
SNAPSHOT = f"() => ({{problems: ({AUDIT})(), fields: ({FIELDS})()}})"

# Whether a line of text after span content still reads left to right: an unclosed
# right-to-left override in the content must not reverse what the page writes after it.
READS_LTR = r"""(e) => {
  const node = [...e.childNodes].find((n) => n.nodeType === 3 && /[A-Za-z0-9].*[A-Za-z0-9]/.test(n.data));
  const text = node.data, first = text.search(/[A-Za-z0-9]/), last = text.search(/[A-Za-z0-9][^A-Za-z0-9]*$/);
  const left = (i) => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1); return r.getBoundingClientRect().left; };
  return left(first) < left(last);
}"""


def contains(haystack: str, needle: str) -> bool:
    return normalized(needle) in normalized(haystack)


def assert_shows(texts: list[str], needle: str, where: str) -> None:
    assert texts, f"nothing on the page for {where}"
    assert any(contains(text, needle) for text in texts), f"{where} does not show {needle!r}"


# --- the browser and its probes --------------------------------------------------------------------


@dataclass
class Probes:
    dialogs: list[str]
    violations: list[str]
    errors: list[str]

    def clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.violations == [], f"the Content-Security-Policy refused: {self.violations}"
        assert self.errors == [], f"the page's script failed: {self.errors}"


def _watched_page(browser: Browser) -> tuple[Page, Probes]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    probes = Probes([], [], [])
    context.expose_function("__cspViolation", lambda text: probes.violations.append(text))
    # A violation event fires wherever the policy refused something: report each one.
    context.add_init_script(
        "window.addEventListener('securitypolicyviolation', (e) => window.__cspViolation("
        "`${e.violatedDirective} ${e.blockedURI} ${e.sample}`), true);"
    )
    page = context.new_page()
    page.on("dialog", lambda dialog: (probes.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: probes.errors.append(str(error)))
    return page, probes


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[Page, Probes]]:
    page, probes = _watched_page(browser)
    yield page, probes
    page.context.close()
    probes.clean()


def audit(page: Page) -> None:
    problems = page.evaluate(AUDIT)
    assert problems == [], f"{page.url}: {problems}"


def test_the_probes_catch_what_they_look_for(browser: Browser) -> None:
    """Served with our own policy, a page that lets markup through trips every probe."""
    leaky = (
        "<!doctype html><title>t</title><body>"
        "<img src=x onerror=alert(1)><script>alert(2)</script><iframe></iframe>"
        "<a href='javascript:alert(3)'>x</a><p style='color: red'>x</p></body>"
    )

    def serve(route: Route) -> None:
        # Without the policy the image's handler runs; with it, the script is refused.
        policy = (
            {}
            if "open" in route.request.url
            else {"content-security-policy": CONTENT_SECURITY_POLICY}
        )
        route.fulfill(status=200, content_type="text/html", headers=policy, body=leaky)

    page, probes = _watched_page(browser)
    page.route("http://probe.test/**", serve)
    page.goto("http://probe.test/strict")
    problems = " | ".join(page.evaluate(AUDIT))
    for found in (
        "has handler onerror",
        "inline script",
        "element iframe",
        "href javascript:",
        "style=",
    ):
        assert found in problems, found
    page.goto("http://probe.test/open")
    expect(page.locator("img")).to_have_count(1)
    page.wait_for_function("() => document.readyState === 'complete'")
    page.context.close()
    assert probes.violations and all("script-src" in v for v in probes.violations), probes
    assert probes.dialogs, "the open page's alert was not seen"


# --- the corpus, sent through OTLP -------------------------------------------------------------------


@dataclass
class Corpus:
    collector: Collector
    genai: str  # one call per payload, each payload in every field of its span and call
    genai_spans: dict[str, str]  # payload name -> span id
    genai_root: str
    openinference: str  # one call holding every payload
    openinference_span: str
    spyglass: str  # a streamed call holding every payload
    spyglass_span: str
    lone: dict[str, str]  # payload name -> a one-span trace named, served and modelled after it


def _resource_spans(
    message: ExportTraceServiceRequest, service: str, scope: str, *spans: Span
) -> None:
    resource_spans = message.resource_spans.add()
    # The service's name as an attribute key and value of its own too.
    resource = {"service.name": service, service: service}
    resource_spans.resource.attributes.extend(otlp.key_values(resource))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope
    scope_spans.spans.extend(spans)


def _send(collector: Collector, message: Any, path: str = "/v1/traces") -> None:
    reply = httpx.post(
        collector.url + path,
        content=message.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.text


def _genai_attributes(p: str) -> dict[str, Any]:
    """A GenAI call with `p` in every field it has."""
    media = [
        {"type": "blob", "modality": "image", "mime_type": p, "content": PIXEL_PNG},
        # Labelled a PNG, holding an SVG with script: shown, as an image that does not decode.
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": SVG_WITH_SCRIPT},
        {
            "type": "blob",
            "modality": "image",
            "mime_type": "image/svg+xml",
            "content": SVG_WITH_SCRIPT,
        },
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": p},
        *(
            {"type": "uri", "modality": "image", "uri": url}
            for url in (*HOSTILE_URLS, BREAKOUT_URL, p)
        ),
    ]
    call_id = f"toolu_{p}"
    inputs = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": p},
                *media,
                {"type": "document", "title": p, "content": p},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": call_id, "name": p, "arguments": {p: p}}],
        },
        {"role": "user", "parts": [{"type": "tool_call_response", "id": call_id, "response": p}]},
        {"role": p, "parts": [{"type": "text", "content": "a turn of an unknown role"}]},
    ]
    citations = [
        {"cited_text": p, "document_title": p, "url": p},
        *({"cited_text": "see", "url": url} for url in (*HOSTILE_URLS, BREAKOUT_URL)),
    ]
    outputs = [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": p},
                {"type": "text", "content": p, "citations": citations},
                {"type": p, "raw": p},
            ],
            "finish_reason": p,
        },
        {"role": p, "parts": [{"type": "text", "content": "an answer of an unknown role"}]},
    ]
    tools = [
        {
            "type": "function",
            "name": p,
            "description": p,
            "parameters": {"type": "object", "properties": {p: {"type": "string"}}},
        }
    ]
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": p,
        "gen_ai.request.stop_sequences": [p],
        "gen_ai.response.finish_reasons": [p],
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": p}]),
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(outputs),
        "gen_ai.tool.definitions": json.dumps(tools),
        p: p,
        "xss.value": p,
        "xss.long": p + " and more" * 250,  # cut short in the attributes
    }


def _openinference_attributes() -> dict[str, Any]:
    """One OpenInference call with every payload in its flattened messages."""
    attributes: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.provider": "anthropic",
        "llm.system": "anthropic",
        "llm.model_name": BY_NAME["svg-onload"].text,
        "llm.token_count.prompt": 10,
        "llm.token_count.completion": 5,
    }
    n = len(PAYLOADS)
    inputs, outputs = "llm.input_messages", "llm.output_messages.0.message"
    for i, payload in enumerate(PAYLOADS):
        p = payload.text
        attributes[f"{inputs}.{i}.message.role"] = "system"
        attributes[f"{inputs}.{i}.message.content"] = p
        attributes[f"{inputs}.{n + i}.message.role"] = "user"
        attributes[f"{inputs}.{n + i}.message.content"] = p
        call = f"{inputs}.{2 * n}.message.tool_calls.{i}.tool_call"
        attributes[f"{call}.id"] = f"call_{i}"
        attributes[f"{call}.function.name"] = p
        attributes[f"{call}.function.arguments"] = json.dumps({p: p})
        attributes[f"{inputs}.{2 * n + 1 + i}.message.role"] = "tool"
        attributes[f"{inputs}.{2 * n + 1 + i}.message.tool_call_id"] = f"call_{i}"
        attributes[f"{inputs}.{2 * n + 1 + i}.message.content"] = p
        contents = f"{outputs}.contents"
        attributes[f"{contents}.{2 * i}.message_content.type"] = "text"
        attributes[f"{contents}.{2 * i}.message_content.text"] = p
        attributes[f"{contents}.{2 * i + 1}.message_content.type"] = "reasoning"
        attributes[f"{contents}.{2 * i + 1}.message_content.text"] = p
    attributes[f"{inputs}.{2 * n}.message.role"] = "assistant"
    attributes[f"{outputs}.role"] = "assistant"
    for j, url in enumerate((*HOSTILE_URLS, BREAKOUT_URL)):
        image = f"{outputs}.contents.{2 * n + j}.message_content"
        attributes[f"{image}.type"] = "image"
        attributes[f"{image}.image.image.url"] = url
    return attributes


def _spyglass_spans(trace: bytes) -> tuple[Span, Span]:
    """A streamed call recorded by Spyglass's client: the request, and its stream."""
    texts = [{"type": "text", "content": payload.text} for payload in PAYLOADS]
    request = otlp.span(
        BY_NAME["textarea-breakout"].text,
        trace=trace,
        start_ns=otlp.BASE_NS,
        duration_ns=50_000_000,
        kind=CLIENT,
        attributes={
            "spyglass.span.type": "llm.request",
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": BY_NAME["css"].text,
            "gen_ai.request.stream": True,
            "gen_ai.system_instructions": json.dumps(texts),
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": texts}]),
            "anthropic.request.parameters": json.dumps(
                {
                    "metadata": {"user_id": BY_NAME["script"].text},
                    "stop_sequences": [p.text for p in PAYLOADS],
                }
            ),
        },
    )
    stream = otlp.span(
        BY_NAME["img-onerror"].text,
        trace=trace,
        parent=request.span_id,
        start_ns=otlp.BASE_NS + 40_000_000,
        duration_ns=160_000_000,
        attributes={
            "spyglass.span.type": "llm.stream",
            "gen_ai.response.model": BY_NAME["css"].text,
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": texts, "finish_reason": "end_turn"}]
            ),
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 20,
            "spyglass.stream.time_to_first_token_ms": 60.0,
            "spyglass.stream.duration_ms": 200.0,
            "spyglass.stream.chunk_count": 4,
            "spyglass.stream.complete": True,
            "spyglass.stream.timeline": [[0.0, 0], [60.0, 10], [120.0, 40], [200.0, 90]],
        },
    )
    return request, stream


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    collector = Collector(tmp_path_factory.mktemp("xss") / "data").start()
    try:
        yield _record(collector)
    finally:
        collector.stop()


def _record(collector: Collector) -> Corpus:
    message = ExportTraceServiceRequest()
    logs = []

    # One call per payload, all under one root, each from a service named after its payload.
    genai = otlp.trace_id()
    root_attributes = _genai_attributes(BY_NAME["title-breakout"].text)
    root_attributes["gen_ai.output.messages"] = json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": LONG}]}]
    )
    root = otlp.span(
        BY_NAME["title-breakout"].text,
        trace=genai,
        kind=CLIENT,
        duration_ns=900_000_000,
        attributes=root_attributes,
    )
    _resource_spans(message, "xss-corpus", "tests", root)
    spans = {}
    for n, payload in enumerate(PAYLOADS):
        p = payload.text
        child = otlp.span(
            p,
            trace=genai,
            parent=root.span_id,
            start_ns=otlp.BASE_NS + (n + 1) * 1_000_000,
            kind=CLIENT,
            attributes=_genai_attributes(p),
            status=ERROR,
        )
        child.status.message = p
        event = child.events.add()
        event.name, event.time_unix_nano = p, child.start_time_unix_nano
        event.attributes.extend(otlp.key_values({p: p}))
        _resource_spans(message, p, p, child)
        logs.append(
            otlp.log_record(p, trace=genai, ident=child.span_id, event_name=p, attributes={p: p})
        )
        spans[payload.name] = child.span_id.hex()

    openinference = otlp.trace_id()
    call = otlp.span(
        BY_NAME["svg-script"].text,
        trace=openinference,
        kind=CLIENT,
        attributes=_openinference_attributes(),
    )
    _resource_spans(message, "xss-openinference", "openinference.instrumentation.anthropic", call)

    spyglass = otlp.trace_id()
    request, stream = _spyglass_spans(spyglass)
    _resource_spans(message, "xss-spyglass", "spyglass", request, stream)

    lone = {}
    for payload in PAYLOADS:
        p = payload.text
        span = otlp.span(
            p,
            kind=CLIENT,
            status=ERROR,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": p,
            },
        )
        span.status.message = p
        _resource_spans(message, p, "tests", span)
        lone[payload.name] = span.trace_id.hex()

    _send(collector, message)
    _send(collector, otlp.logs_request(*logs), "/v1/logs")
    return Corpus(
        collector=collector,
        genai=genai.hex(),
        genai_spans=spans,
        genai_root=root.span_id.hex(),
        openinference=openinference.hex(),
        openinference_span=call.span_id.hex(),
        spyglass=spyglass.hex(),
        spyglass_span=request.span_id.hex(),
        lone=lone,
    )


# --- the pages ---------------------------------------------------------------------------------------


def _goto(page: Page, url: str, status: int = 200) -> None:
    reply = page.goto(url)
    assert reply is not None and reply.status == status, f"{url}: {reply and reply.status}"
    audit(page)


def test_the_trace_list_shows_every_payload_as_text(
    corpus: Corpus, watched: tuple[Page, Probes]
) -> None:
    page, _ = watched
    _goto(page, corpus.collector.url + "/")
    rows = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#traces tr[data-trace-id]')]"
        ".map((tr) => [tr.dataset.traceId, [...tr.cells].map((td) => td.textContent)]))"
    )
    services = page.locator("#services option").evaluate_all("(os) => os.map((o) => o.value)")
    for payload in PAYLOADS:
        _time, name, service, models, *_ = rows[corpus.lone[payload.name]]
        for field, shown in (("name", name), ("service", service), ("model", models)):
            assert contains(shown, payload.text), (payload.name, field, shown)
        assert any(contains(value, payload.text) for value in services), payload.name
    # The call that names every model lists them all, each as text.
    for payload in PAYLOADS:
        assert contains(rows[corpus.genai][3], payload.text), payload.name


def test_searches_and_filters_echo_as_text(corpus: Corpus, watched: tuple[Page, Probes]) -> None:
    page, _ = watched
    base = corpus.collector.url
    for payload in PAYLOADS:
        p = payload.text
        given = {"q": p, "service": p, "model": p}
        _goto(page, f"{base}/?{urlencode(given)}")
        echoed = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.filters input[name]')]"
            ".map((e) => [e.name, e.value]))"
        )
        for field in given:
            assert normalized(echoed[field]) == normalized(p.strip()), (payload.name, field)

    # Every payload at once where they echo less often. A filter that cannot be read is
    # refused with a page that quotes its start (as Python's repr, so escaped twice over).
    everything = " ".join(payload.text for payload in PAYLOADS)
    for field, cut in (("since", 80), ("until", 80), ("status", 20), ("range", 20)):
        _goto(page, f"{base}/?{urlencode({field: everything, 'q': everything})}", status=422)
        message = page.locator(".error-message").inner_text()
        assert contains(message, repr(everything[:cut])), (field, message)
    # A search that led to a trace marks what it matched and says what it was.
    _goto(page, f"{base}/traces/{corpus.genai}?{urlencode({'q': everything})}")
    assert contains(page.locator("#wf-rows").get_attribute("data-query") or "", everything)
    assert contains(page.locator(".wf-matches q").inner_text(), everything)
    # A span's link keeps the search, whatever it holds.
    href = page.locator(".wf-row a").first.get_attribute("href") or ""
    assert contains(unquote_plus(href.partition("&q=")[2]), everything)


def test_every_field_of_a_call_shows_each_payload_as_text(
    corpus: Corpus, watched: tuple[Page, Probes]
) -> None:
    page, _ = watched
    _goto(page, f"{corpus.collector.url}/traces/{corpus.genai}")
    assert contains(page.title(), BY_NAME["title-breakout"].text)
    assert contains(page.locator("h1").inner_text(), BY_NAME["title-breakout"].text)
    detail = page.locator("#detail")
    expect(detail.locator(".span-detail")).to_have_attribute("data-span-id", corpus.genai_root)

    # The long answer folds; "Show all" opens it, and its end is text like the rest.
    long = detail.locator(".msg.is-output .long").first
    long.locator(".expand-label").click()
    expect(long.locator("input.expand")).to_be_checked()
    assert contains(long.locator(".clamp").inner_text(), LONG[-80:])
    audit(page)

    for payload in PAYLOADS:
        span_id = corpus.genai_spans[payload.name]
        # Selecting a row loads the span's detail from its partial, without a reload.
        page.locator(f".wf-row a[data-span='{span_id}']").click()
        expect(detail.locator(".span-detail")).to_have_attribute("data-span-id", span_id)
        _check_snapshot(page, payload)
    # The Raw JSON switch shows the call as JSON, with the payload as a JSON string.
    detail.get_by_text("Raw JSON", exact=True).click()
    raw = detail.locator(".raw-view pre")
    expect(raw).to_be_visible()
    assert contains(raw.inner_text(), PAYLOADS[-1].as_json)
    # The same span, opened from its link rather than from a row.
    script = BY_NAME["script"]
    _goto(
        page, f"{corpus.collector.url}/traces/{corpus.genai}?span={corpus.genai_spans[script.name]}"
    )
    _check_snapshot(page, script)


def _check_snapshot(page: Page, payload: Payload) -> None:
    snapshot = page.evaluate(SNAPSHOT)
    assert snapshot["problems"] == [], f"{payload.name}: {snapshot['problems']}"
    fields = snapshot["fields"]
    _check_fields(fields, payload)
    assert_shows(fields["raw"], payload.as_json, f"{payload.name}: raw JSON")
    # Only the SVG labelled a PNG is shown, as a PNG that does not decode.
    assert fields["thumbs"] == ["data:image/png;base64,"], (payload.name, fields["thumbs"])


def _check_fields(fields: dict[str, list[str]], payload: Payload) -> None:
    p, md, js = payload.text, payload.markdown, payload.as_json
    expected = {
        "name": p,
        "meta": p,
        "status": p,
        "system": md,
        "user": md,
        "other": p,
        "tool_name": p,
        "tool_args": js,
        "thinking": md,
        "answer": md,
        "finish": p,
        "tools": md,
        "params": js,
        "attributes": p,
        "events": p,
        "logs": p,
        "resource": p,
        "raw_part": p,
    }
    for field, needle in expected.items():
        assert_shows(fields[field], needle, f"{payload.name}: {field}")
    for field in ("tool_result", "document", "citation", "media"):
        assert_shows(fields[field], p, f"{payload.name}: {field}")
    # The names and titles that label a part: the called tool's on its result, the
    # document's, the cited document's.
    for field in ("result_name", "document_title", "cited_title"):
        assert [normalized(t) for t in fields[field]] == [normalized(p)], (payload.name, field)


def test_an_openinference_call_shows_each_payload_as_text(
    corpus: Corpus, watched: tuple[Page, Probes]
) -> None:
    page, _ = watched
    _goto(
        page,
        f"{corpus.collector.url}/traces/{corpus.openinference}?span={corpus.openinference_span}",
    )
    fields = page.evaluate(FIELDS)
    for payload in PAYLOADS:
        for field, needle in (
            ("system", payload.markdown),
            ("user", payload.markdown),
            ("tool_name", payload.text),
            ("tool_args", payload.as_json),
            ("tool_result", payload.text),
            ("thinking", payload.markdown),
            ("answer", payload.markdown),
        ):
            assert_shows(fields[field], needle, f"openinference {payload.name}: {field}")
    page.get_by_text("Raw JSON", exact=True).click()
    raw = page.locator("#detail .raw-view pre").inner_text()
    assert all(contains(raw, payload.as_json) for payload in PAYLOADS)


def test_a_streamed_spyglass_call_shows_each_payload_as_text(
    corpus: Corpus, watched: tuple[Page, Probes]
) -> None:
    page, _ = watched
    _goto(page, f"{corpus.collector.url}/traces/{corpus.spyglass}")
    detail = page.locator("#detail")
    expect(detail.locator(".span-detail")).to_have_attribute("data-span-id", corpus.spyglass_span)
    expect(detail.locator("figure.timeline svg.timeline-chart")).to_be_visible()
    fields = page.evaluate(FIELDS)
    for payload in PAYLOADS:
        for field in ("system", "user", "answer"):
            assert_shows(fields[field], payload.markdown, f"spyglass {payload.name}: {field}")
    assert_shows(fields["name"], BY_NAME["textarea-breakout"].text, "spyglass: name")
    assert_shows(fields["meta"], BY_NAME["css"].text, "spyglass: model")
    # The stream's own span, from its row.
    page.locator(".wf-row.is-llm-part a").click()
    expect(detail.locator(".span-head h2")).to_have_text(BY_NAME["img-onerror"].text)
    audit(page)


def test_a_right_to_left_override_stays_inside_its_text(
    corpus: Corpus, watched: tuple[Page, Probes]
) -> None:
    """An unclosed U+202E in a name must not turn around the words the page writes after it."""
    page, _ = watched
    rtl = BY_NAME["rtl-override"]
    span_id = corpus.genai_spans[rtl.name]
    _goto(
        page,
        f"{corpus.collector.url}/traces/{corpus.genai}?{urlencode({'span': span_id, 'q': rtl.text})}",
    )
    page.locator("details.facts").evaluate_all("(ds) => ds.forEach((d) => d.open = true)")
    for selector in (
        ".event .muted",  # after an event's name
        ".kv tr:has(th:text-is('xss.long')) .cut",  # after a long value's start
        ".msg-other.is-output .role .muted",  # after a role
        ".wf-matches a",  # after a search
    ):
        target = page.locator(selector).first
        assert target.evaluate(READS_LTR), f"{selector} reads right to left after {rtl.text!r}"
