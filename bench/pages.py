"""How the pages cope with big inputs: a 5,000-span trace and a 500-message conversation.

Starts `spyglass serve` on a free port with a fresh data directory, exports over OTLP/HTTP
protobuf one big agent trace (a root, agent steps of ~100 spans each, one span in ten an LLM
call), one LLM call whose input is a long conversation (Markdown, code, tool calls and their
results) and a few hundred small traces for the list. Then it times each page as a client sees
it (httpx, the whole response over loopback, so server time plus a little transfer) and in
Chromium: navigation timings, the first frame after `load`, layout and style time, the DOM
size, and how long a click on a waterfall row takes to swap the detail pane.

    .venv/bin/python bench/pages.py --spans 5000 --messages 500 --small-traces 300
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.collector_process import Collector  # noqa: E402
from tests.otlp_builders import key_values  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
MODEL = "claude-sonnet-4-5"
SPANS_PER_EXPORT = 500
MS = 1_000_000

# --- the data ------------------------------------------------------------------------------------

PROSE = (
    "the agent reads each file before it edits anything and keeps a short plan of what is left"
    " to do while tests run in the background so a failure is seen early and fixed where it"
    " starts rather than where it shows up later in the build"
)
WORDS = PROSE.split()
CODE = '''def load(path: Path) -> dict[str, Any]:
    """Read one settings file, refusing anything that is not a mapping."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds {type(data).__name__}, not an object")
    return {key.lower(): value for key, value in data.items()}
'''
TOOLS = ("read_file", "run_tests", "search_code", "edit_file", "list_dir")


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 20))
    return " ".join(words).capitalize() + "."


def _prose(rng: random.Random, chars: int) -> str:
    """Markdown of about `chars` characters: paragraphs, a list, inline code, now and then code."""
    pieces: list[str] = []
    size = 0
    while size < chars:
        roll = rng.random()
        if roll < 0.1 and chars > 600:
            piece = f"```python\n{CODE}```"
        elif roll < 0.25:
            piece = "\n".join(f"- **step {n}**: {_sentence(rng)}" for n in range(1, 4))
        elif roll < 0.3:
            piece = f"## {_sentence(rng)[:40]}"
        else:
            piece = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
            piece = piece.replace(" file ", " `file` ", 1)
        pieces.append(piece)
        size += len(piece) + 2
    return "\n\n".join(pieces)


def conversation_messages(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`count` messages alternating user and assistant; one assistant turn in four calls a tool
    and the next user turn carries its result, as an agent's history does."""
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    pending: str | None = None
    for index in range(count):
        if index % 2 == 0:
            if pending is not None:
                body = json.dumps({"path": "app/settings.py", "lines": 120, "content": CODE})
                if rng.random() < 0.5:
                    body = _prose(rng, rng.randint(200, 1500)).replace("```python", "```")
                part: dict[str, Any] = {
                    "type": "tool_call_response",
                    "id": pending,
                    "response": body,
                }
                messages.append({"role": "user", "parts": [part]})
                pending = None
            else:
                text = _prose(rng, rng.randint(200, 1200))
                messages.append({"role": "user", "parts": [{"type": "text", "content": text}]})
        else:
            parts: list[dict[str, Any]] = [
                {"type": "text", "content": _prose(rng, rng.randint(200, 2000))}
            ]
            if rng.random() < 0.25 and index + 1 < count:
                pending = f"toolu_{index:05d}"
                parts.append(
                    {
                        "type": "tool_call",
                        "id": pending,
                        "name": rng.choice(TOOLS),
                        "arguments": {"path": f"app/module_{index}.py", "limit": 200},
                    }
                )
            messages.append({"role": "assistant", "parts": parts})
    return messages


def _llm_attributes(
    rng: random.Random, inputs: list[dict[str, Any]], output: str
) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": f"{MODEL}-20250929",
        "gen_ai.request.max_tokens": 4096,
        "gen_ai.usage.input_tokens": rng.randint(800, 30_000),
        "gen_ai.usage.output_tokens": rng.randint(50, 1500),
        "gen_ai.usage.cache_read.input_tokens": rng.randint(0, 700),
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": output}],
                    "finish_reason": "end_turn",
                }
            ]
        ),
    }


def _span(
    trace_id: bytes,
    span_id: bytes,
    parent: bytes,
    start_ns: int,
    duration_ns: int,
    name: str,
    attributes: dict[str, Any],
    kind: int = Span.SPAN_KIND_INTERNAL,
    error: bool = False,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        attributes=key_values(attributes),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
    )


@dataclass
class BigTrace:
    trace_id: bytes
    spans: list[Span] = field(default_factory=list)
    llm_span_ids: list[bytes] = field(default_factory=list)


def _step_child(rng: random.Random, index: int) -> tuple[str, dict[str, Any], int, bool]:
    """The `index`th span of an agent step: (name, attributes, kind, failed). One in ten is an
    LLM call, the rest tools, HTTP and database work."""
    client = Span.SPAN_KIND_CLIENT
    if index % 10 == 0:
        question = [{"role": "user", "parts": [{"type": "text", "content": _prose(rng, 200)}]}]
        return f"chat {MODEL}", _llm_attributes(rng, question, _prose(rng, 300)), client, False
    if index % 10 < 5:
        tool = TOOLS[index % len(TOOLS)]
        attributes = {"gen_ai.tool.name": tool, "tool.path": f"app/module_{index}.py"}
        return f"execute_tool {tool}", attributes, Span.SPAN_KIND_INTERNAL, rng.random() < 0.01
    if index % 10 < 8:
        attributes = {
            "http.request.method": "GET",
            "url.full": f"https://api.example.com/items/{index}",
            "http.response.status_code": 200,
        }
        return "GET", attributes, client, False
    attributes = {"db.system.name": "sqlite", "db.query.text": "select * from items where id = ?"}
    return "SELECT items", attributes, client, False


def big_trace(total: int, steps: int, start_ns: int, seed: int = 11) -> BigTrace:
    """An agent run of `total` spans: a root, `steps` steps of 4 s, and the rest shared among
    the steps as their children, one after another."""
    rng = random.Random(seed)
    trace = BigTrace(os.urandom(16))
    root = os.urandom(8)
    step_ns = 4_000 * MS
    trace.spans.append(
        _span(trace.trace_id, root, b"", start_ns, steps * step_ns, "agent run", {"agent": "coder"})
    )
    children = total - 1 - steps
    for step in range(steps):
        step_id, step_start = os.urandom(8), start_ns + step * step_ns
        name = f"agent step {step + 1}"
        attributes = {"agent.step": step + 1}
        trace.spans.append(
            _span(trace.trace_id, step_id, root, step_start, step_ns - MS, name, attributes)
        )
        count = children // steps + (1 if step < children % steps else 0)
        slot = (step_ns - 2 * MS) // max(count, 1)
        for index in range(count):
            span_id = os.urandom(8)
            start, duration = step_start + index * slot, rng.randint(slot // 4, slot)
            child = _step_child(rng, index)
            trace.spans.append(_span(trace.trace_id, span_id, step_id, start, duration, *child))
            if child[0].startswith("chat "):
                trace.llm_span_ids.append(span_id)
    return trace


@dataclass
class ConversationTrace:
    trace_id: bytes
    span_id: bytes
    span: Span
    input_bytes: int


def conversation_trace(messages: int, start_ns: int) -> ConversationTrace:
    """One LLM call whose input is a conversation of `messages` messages."""
    rng = random.Random(3)
    history = json.dumps(conversation_messages(messages))
    attributes = _llm_attributes(rng, [], _prose(rng, 1500))
    attributes["gen_ai.input.messages"] = history
    attributes["gen_ai.system_instructions"] = json.dumps(
        [{"type": "text", "content": "You are a careful coding agent. " * 20}]
    )
    trace_id, span_id, client = os.urandom(16), os.urandom(8), Span.SPAN_KIND_CLIENT
    span = _span(trace_id, span_id, b"", start_ns, 9_000 * MS, f"chat {MODEL}", attributes, client)
    return ConversationTrace(trace_id, span_id, span, len(history))


def small_traces(count: int, start_ns: int) -> Iterator[Span]:
    """`count` traces of a root, a tool call and an LLM call, a minute apart, oldest first."""
    rng = random.Random(5)
    for index in range(count):
        trace_id, root = os.urandom(16), os.urandom(8)
        begin = start_ns + index * 60_000 * MS
        yield _span(trace_id, root, b"", begin, 2_000 * MS, "handle request", {"route": "/ask"})
        tool = {"gen_ai.tool.name": "search_code"}
        yield _span(
            trace_id, os.urandom(8), root, begin + MS, 300 * MS, "execute_tool search_code", tool
        )
        question = [{"role": "user", "parts": [{"type": "text", "content": _prose(rng, 200)}]}]
        attributes = _llm_attributes(rng, question, _prose(rng, 300))
        name, client = f"chat {MODEL}", Span.SPAN_KIND_CLIENT
        yield _span(
            trace_id, os.urandom(8), root, begin + 400 * MS, 1_500 * MS, name, attributes, client
        )


def export(client: httpx.Client, url: str, spans: list[Span]) -> None:
    for start in range(0, len(spans), SPANS_PER_EXPORT):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(key_values({"service.name": "bench-agent"}))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "bench"
        scope_spans.spans.extend(spans[start : start + SPANS_PER_EXPORT])
        reply = client.post(
            f"{url}/v1/traces",
            content=gzip.compress(request.SerializeToString(), compresslevel=1),
            headers={"content-type": "application/x-protobuf", "content-encoding": "gzip"},
        )
        if reply.status_code != 200:
            raise SystemExit(f"export failed: {reply.status_code} {reply.text[:300]}")


def check_stored(client: httpx.Client, url: str, trace_id: bytes, expected: int) -> None:
    """A 200 means committed, so the trace must be whole already."""
    reply = client.get(f"{url}/api/v1/traces/{trace_id.hex()}")
    stored = reply.json()["trace"]["span_count"] if reply.status_code == 200 else 0
    if stored != expected:
        raise SystemExit(f"trace {trace_id.hex()} has {stored} spans stored, {expected} sent")


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    seconds: list[float]
    size: int = 0

    def row(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        return (
            f"{self.label:<50} {ms[0]:>8.0f} {statistics.median(ms):>8.0f} {max(ms):>8.0f}"
            f" {self.size / 1024:>10,.0f}"
        )


def time_get(client: httpx.Client, url: str, label: str, runs: int) -> Timing:
    timing = Timing(label, [])
    for _ in range(runs):
        started = time.perf_counter()
        reply = client.get(url)
        timing.seconds.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise SystemExit(f"GET {url}: {reply.status_code} {reply.text[:300]}")
        timing.size = len(reply.content)
    return timing


# Run in the page once it has loaded: navigation timings, then the first frame after `load`
# (by then style and layout of the whole document have run), and the size of the DOM.
PAGE_FIGURES_JS = """async () => {
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const frame = performance.now();
  const nav = performance.getEntriesByType("navigation")[0];
  // Chromium may report the first contentful paint a little after the frame that drew it.
  const fcp = await new Promise((resolve) => {
    new PerformanceObserver((list) => {
      const entry = list.getEntries().find((e) => e.name === "first-contentful-paint");
      if (entry) resolve(entry.startTime);
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve(null), 2000);
  });
  return {
    ttfb: nav.responseStart, response_end: nav.responseEnd, dom_interactive: nav.domInteractive,
    dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, frame, fcp,
    nodes: document.getElementsByTagName("*").length,
  };
}"""

# Clicks a waterfall row as a user would (the page's own handler fetches the partial and swaps
# the pane), and reports when the new pane is in the DOM and when the next frame is drawn.
CLICK_JS = """async (spanId) => {
  const detail = document.getElementById("detail");
  const link = document.querySelector(`a[data-span="${spanId}"]`);
  const started = performance.now();
  const swapped = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      const article = detail.querySelector("article[data-span-id]");
      if (article && article.dataset.spanId === spanId) { observer.disconnect(); resolve(performance.now()); }
    });
    observer.observe(detail, { childList: true });
  });
  link.click();
  const swappedAt = await swapped;
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return { swap: swappedAt - started, frame: performance.now() - started,
           nodes: document.getElementsByTagName("*").length };
}"""

BROWSER_ROWS = [
    ("goto(load) wall", "goto", "ms"),
    ("time to first byte", "ttfb", "ms"),
    ("response end", "response_end", "ms"),
    ("DOM interactive", "dom_interactive", "ms"),
    ("DOMContentLoaded end", "dcl", "ms"),
    ("first contentful paint", "fcp", "ms"),
    ("load event end", "load", "ms"),
    ("first frame after load", "frame", "ms"),
    ("  of which style recalc (CDP)", "style", "ms"),
    ("  of which layout (CDP)", "layout", "ms"),
    ("  of which script (CDP)", "script", "ms"),
    ("DOM elements", "nodes", "count"),
    ("click row -> pane swapped", "click_swap", "ms"),
    ("click row -> next frame", "click_frame", "ms"),
    ("DOM elements after click", "click_nodes", "count"),
]


def browser_figures(url: str, click_span: str | None, runs: int) -> list[dict[str, float]]:
    """Page figures over `runs` fresh loads, and a click on `click_span`'s row (none when None:
    a trace of one span already shows it, and clicking it changes nothing)."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                # A new context each run: nothing cached, as when a link is first opened.
                context = browser.new_context(viewport={"width": 1440, "height": 900})
                page = context.new_page()
                page.set_default_timeout(300_000)
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                started = time.perf_counter()
                page.goto(url, wait_until="load")
                goto = (time.perf_counter() - started) * 1000
                figures = page.evaluate(PAGE_FIGURES_JS)
                metrics = {
                    m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]
                }
                click = {"swap": None, "frame": None, "nodes": None}
                if click_span is not None:
                    click = page.evaluate(CLICK_JS, click_span)
                results.append(
                    {
                        **figures,
                        "goto": goto,
                        "style": metrics.get("RecalcStyleDuration", 0) * 1000,
                        "layout": metrics.get("LayoutDuration", 0) * 1000,
                        "script": metrics.get("ScriptDuration", 0) * 1000,
                        "click_swap": click["swap"],
                        "click_frame": click["frame"],
                        "click_nodes": click["nodes"],
                    }
                )
                context.close()
        finally:
            browser.close()
    return results


def _summary(values: list[float | None], unit: str) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    if unit == "count":
        return f"{statistics.median(present):,.0f}"
    return f"{statistics.median(present):,.0f} ({max(present):,.0f})"


def _rss_mb(pid: int) -> tuple[float, float]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", float("nan")), found.get("VmHWM", float("nan"))


def seed(url: str, args: argparse.Namespace) -> tuple[BigTrace, ConversationTrace]:
    now = time.time_ns()
    started = time.perf_counter()
    big = big_trace(args.spans, args.steps, now - 300_000 * MS)
    convo = conversation_trace(args.messages, now - 100_000 * MS)
    small = list(small_traces(args.small_traces, now - (args.small_traces + 10) * 60_000 * MS))
    with httpx.Client(timeout=300) as client:
        export(client, url, small)
        export(client, url, big.spans)
        export(client, url, [convo.span])
        check_stored(client, url, big.trace_id, len(big.spans))
        check_stored(client, url, convo.trace_id, 1)
    print(
        f"data: a {len(big.spans):,}-span trace ({args.steps} steps, {len(big.llm_span_ids)} LLM"
        f" calls), a {args.messages}-message conversation ({convo.input_bytes / 1024:,.0f} KiB"
        f" of gen_ai.input.messages), {args.small_traces} small traces;"
        f" built, exported and stored in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return big, convo


def server_table(url: str, big: BigTrace, convo: ConversationTrace, runs: int) -> None:
    big_id, mid = big.trace_id.hex(), big.llm_span_ids[len(big.llm_span_ids) // 2].hex()
    convo_id, convo_span = convo.trace_id.hex(), convo.span_id.hex()
    pages = [
        ("GET /", "/"),
        (f"GET /traces/{{big}}  ({len(big.spans):,} spans)", f"/traces/{big_id}"),
        ("GET /traces/{big}?span={mid LLM span}", f"/traces/{big_id}?span={mid}"),
        ("GET /partials/traces/{big}/spans/{mid}", f"/partials/traces/{big_id}/spans/{mid}"),
        ("GET /traces/{conversation}", f"/traces/{convo_id}"),
        (
            "GET /partials/traces/{conversation}/spans/{span}",
            f"/partials/traces/{convo_id}/spans/{convo_span}",
        ),
    ]
    print(f"\nserver: httpx GET, whole response, {runs} runs (ms)", flush=True)
    print(f"{'page':<50} {'first':>8} {'median':>8} {'max':>8} {'KiB':>10}")
    with httpx.Client(timeout=300) as client:
        for label, path in pages:
            print(time_get(client, url + path, label, runs).row(), flush=True)


def browser_table(url: str, big: BigTrace, convo: ConversationTrace, runs: int) -> None:
    mid = big.llm_span_ids[len(big.llm_span_ids) // 2].hex()
    columns = {
        f"{len(big.spans):,}-span trace": (f"{url}/traces/{big.trace_id.hex()}", mid),
        # One span, shown on arrival: no other row to click.
        "conversation": (f"{url}/traces/{convo.trace_id.hex()}", None),
    }
    results = {name: browser_figures(page, span, runs) for name, (page, span) in columns.items()}
    print(f"\nbrowser: headless Chromium, {runs} runs, median (max), ms from navigation start")
    print(f"{'':<32}" + "".join(f"{name:>24}" for name in results))
    for label, key, unit in BROWSER_ROWS:
        cells = [_summary([r[key] for r in figures], unit) for figures in results.values()]
        print(f"{label:<32}" + "".join(f"{cell:>24}" for cell in cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=5_000, help="spans in the big trace")
    parser.add_argument("--steps", type=int, default=50, help="agent steps in the big trace")
    parser.add_argument("--messages", type=int, default=500, help="messages in the conversation")
    parser.add_argument("--small-traces", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5, help="GETs of each page")
    parser.add_argument("--browser-runs", type=int, default=5, help="0 to skip the browser")
    args = parser.parse_args()

    # Other work on the machine skews every figure: say how busy it was.
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        collector = Collector(Path(tmp) / "data").start()
        try:
            big, convo = seed(collector.url, args)
            server_table(collector.url, big, convo, args.runs)
            if args.browser_runs:
                browser_table(collector.url, big, convo, args.browser_runs)
            rss, peak = _rss_mb(collector.process.pid)
            print(f"\ncollector RSS after the run: {rss:.0f} MB (peak {peak:.0f} MB)")
        finally:
            collector.stop()
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
