"""What a person sees, in a real browser: Debian's Chromium driven by Playwright.

An agent run recorded through the real client must read as a conversation: the prompt, the
turns, tool calls with their results, thinking, tokens and the streaming timeline. Span
content is hostile until proven otherwise: script, event handlers, `javascript:` links and
raw HTML in messages, names and attributes must render as text, and no script may run.
Screenshots land in `test-artifacts/` (or $SPYGLASS_TEST_ARTIFACTS) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import otlp_builders as otlp
from tests.collector_process import Collector
from tests.e2e import scenario
from tests.fake_anthropic import FakeAnthropic

ARTIFACTS = Path(os.environ.get("SPYGLASS_TEST_ARTIFACTS", "test-artifacts"))
HOSTILE = [
    '<script>alert("name")</script>',
    '<img src=x onerror="alert(1)">',
    '<svg onload="alert(2)"></svg>',
    '<a href="javascript:alert(3)">click</a>',
    '"><b onmouseover=alert(4)>broken',
]
HOSTILE_MARKDOWN = (
    "Read [the docs](javascript:alert(5)) and <b onclick=alert(6)>this</b>.\n\n"
    "<script>alert(7)</script>\n\n<iframe src=javascript:alert(8)></iframe>"
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    refused: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The pages' own script, styles and thumbnails must all fit their Content-Security-Policy.
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refused.append(message.text),
    )
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == [], f"the page's script failed: {errors}"
    assert refused == [], f"the policy refused part of the page: {refused}"


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, str]]:
    """A collector holding one recorded agent run; yields it and the run's trace id."""
    collector = Collector(tmp_path_factory.mktemp("browser") / "data").start()
    try:
        with FakeAnthropic() as fake:
            scenario.record(collector.url, fake)
        yield collector, scenario.trace_id_named(collector.url, scenario.ROOT_SPAN)
    finally:
        collector.stop()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # sticky parts are drawn where the view is
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def _export(collector: Collector, *spans: object, service: str = "test-service") -> None:
    body = otlp.request(*spans, service=service).SerializeToString()  # type: ignore[arg-type]
    reply = httpx.post(
        f"{collector.url}/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.text


def test_an_agent_run_reads_as_a_conversation(agent_run: tuple[Collector, str], page: Page):
    collector, trace_id = agent_run
    page.goto(f"{collector.url}/")
    row = page.locator(f"#traces tr[data-trace-id='{trace_id}']")
    expect(row.locator("td.name")).to_have_text(scenario.ROOT_SPAN)
    expect(row.locator("td.llm-calls")).to_have_text("2")
    _screenshot(page, "trace-list")
    row.locator("td.name a").click()
    page.wait_for_url(f"**/traces/{trace_id}")

    # The trace opens on its first call: the prompt, the question and the tool calls.
    detail = page.locator("#detail")
    expect(detail.locator(".msg-system")).to_contain_text("You are a travel assistant.")
    expect(detail.locator(".msg-system strong")).to_have_text("travel assistant")
    expect(detail.locator(".msg-user").first).to_contain_text(scenario.QUESTION)
    expect(detail.locator(".block-media img.thumb")).to_have_count(1)
    thinking = detail.locator("details.block-reasoning").first
    expect(thinking).not_to_contain_text(scenario.THINKING, use_inner_text=True)
    thinking.locator("summary").click()
    expect(thinking).to_contain_text(scenario.THINKING, use_inner_text=True)
    weather_call = detail.locator("#call-toolu_weather01")
    expect(weather_call.locator(".tool-name")).to_have_text("get_weather")
    expect(weather_call).to_contain_text('"city": "Paris"')
    expect(detail.locator(".tokens-input")).to_have_text("2,230")
    expect(detail.locator(".tokens-cache-read")).to_have_text("1,800")
    _screenshot(page, "trace-first-call")

    # The second call, opened from the waterfall: the tool results and the streamed answer.
    calls = page.locator(".wf-row.is-llm a")
    expect(calls).to_have_count(2)
    calls.nth(1).click()
    expect(page).to_have_url(re.compile(r"\?span=[0-9a-f]{16}$"))
    result = detail.locator("#result-toolu_weather01")
    expect(result).to_contain_text(scenario.WEATHER)
    expect(result.locator(".tool-name")).to_have_text("get_weather")
    failed = detail.locator("#result-toolu_time01")
    expect(failed).to_have_class(re.compile(r"\bis-error\b"))
    expect(failed).to_contain_text(scenario.TIME_ERROR)
    expect(detail.locator("#call-toolu_time01")).to_have_class(re.compile(r"\bis-error\b"))
    expect(detail.locator(".block-redacted")).to_have_count(1)
    answer = detail.locator(".msg.is-output")
    expect(answer.locator("strong")).to_have_text("18°C with light rain")
    expect(answer.locator("pre code .hl-k").first).to_be_visible()  # highlighted Python
    expect(answer.locator("table td").first).to_have_text("Paris")
    timeline = detail.locator("figure.timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator(".timeline-ttft")).to_have_count(1)
    assert timeline.locator(".timeline-chunk").count() > 10
    expect(detail.locator(".tokens-output")).to_have_text("58")
    _screenshot(page, "trace-streamed-call")

    # The raw JSON view shows the normalised call, never a blank.
    detail.get_by_text("Raw JSON", exact=True).click()
    raw = detail.locator(".raw-view pre")
    expect(raw).to_be_visible()
    assert json.loads(raw.inner_text())["usage"]["output_tokens"] == 58


def test_keys_move_between_calls_and_to_search(agent_run: tuple[Collector, str], page: Page):
    collector, trace_id = agent_run
    page.goto(f"{collector.url}/traces/{trace_id}")
    calls = page.locator(".wf-row.is-llm a")
    first, second = calls.nth(0).get_attribute("data-span"), calls.nth(1).get_attribute("data-span")
    expect(page.locator(".wf-row.is-selected a")).to_have_attribute("data-span", first or "")

    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"span={second}$"))
    expect(page.locator("#detail .span-detail")).to_have_attribute("data-span-id", second or "")
    page.keyboard.press("k")
    expect(page).to_have_url(re.compile(f"span={first}$"))
    expect(page.locator("#detail .span-detail")).to_have_attribute("data-span-id", first or "")

    # Back returns to the span before, and to the trace's default when the URL names none.
    page.go_back()
    expect(page).to_have_url(re.compile(f"span={second}$"))
    expect(page.locator("#detail .span-detail")).to_have_attribute("data-span-id", second or "")
    page.go_back()
    expect(page).to_have_url(re.compile(f"/traces/{trace_id}$"))
    expect(page.locator("#detail .span-detail")).to_have_attribute("data-span-id", first or "")
    expect(page.locator(".wf-row.is-selected a")).to_have_attribute("data-span", first or "")

    # Keys still work after the Raw JSON switch took the focus; held down, the last one wins.
    page.get_by_text("Raw JSON", exact=True).click()
    for _ in range(5):
        page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"span={second}$"))
    expect(page.locator("#detail .span-detail")).to_have_attribute("data-span-id", second or "")

    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("light rain")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=light+rain")
    expect(page.locator(f"#traces tr[data-trace-id='{trace_id}']")).to_have_count(1)


def test_new_traces_appear_without_a_reload(agent_run: tuple[Collector, str], page: Page):
    collector, _ = agent_run
    page.goto(f"{collector.url}/")
    expect(page.locator("#live-status")).to_be_visible()
    before = page.locator("#traces tr[data-trace-id]").count()
    fresh = otlp.span("arrived later", start_ns=otlp.BASE_NS * 2)
    _export(collector, fresh, service="late-service")
    arrived = page.locator(f"#traces tr[data-trace-id='{fresh.trace_id.hex()}']")
    expect(arrived).to_have_count(1, timeout=10_000)
    expect(arrived.locator("td.service")).to_have_text("late-service")
    assert page.locator("#traces tr[data-trace-id]").count() == before + 1


def _hostile_llm_trace(collector: Collector) -> str:
    trace = otlp.trace_id()
    messages = [{"role": "user", "parts": [{"type": "text", "content": text}]} for text in HOSTILE]
    messages.append({"role": "user", "parts": [{"type": "text", "content": HOSTILE_MARKDOWN}]})
    output = [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_x",
                    "name": HOSTILE[1],
                    "arguments": {HOSTILE[0]: HOSTILE[3]},
                },
                {"type": HOSTILE[2], "raw": HOSTILE[4]},
            ],
            "finish_reason": HOSTILE[0],
        }
    ]
    root = otlp.span(HOSTILE[0], trace=trace, attributes={HOSTILE[4]: HOSTILE[3]})
    call = otlp.span(
        HOSTILE[1],
        trace=trace,
        parent=root.span_id,
        start_ns=otlp.BASE_NS + 1,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": HOSTILE[2],
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": HOSTILE[3]}]),
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps(output),
        },
    )
    _export(collector, root, call, service=HOSTILE[1])
    return trace.hex()


def test_hostile_content_renders_as_text(collector: Collector, page: Page) -> None:
    trace_id = _hostile_llm_trace(collector)
    page.goto(f"{collector.url}/")
    listed = page.locator("#traces tbody").inner_text()
    assert HOSTILE[0] in listed and HOSTILE[1] in listed
    page.locator("#traces tbody td.name a").first.click()
    page.wait_for_url(f"**/traces/{trace_id}")

    detail = page.locator("#detail")
    shown = page.locator("main").inner_text()
    for text in HOSTILE:
        assert text in shown, text
    expect(detail.locator(".msg-user").last).to_contain_text("<script>alert(7)</script>")
    expect(detail.locator(".msg-user").last).to_contain_text("<b onclick=alert(6)>this</b>")
    # The Markdown link to javascript: is not a link at all.
    assert page.locator("a[href^='javascript' i]").count() == 0
    # Nothing the spans carried became markup: no script, frame, image or handler from them.
    assert (
        page.locator("main script, main iframe, main img, main svg:not(.timeline-chart)").count()
        == 0
    )
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
        ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))"
    )
    assert handlers == []
    page.locator("details.facts summary").first.click()  # the attributes, keys and values
    expect(page.locator("details.facts").first).to_contain_text(HOSTILE[2])
    page.mouse.move(10, 10)
    for row in page.locator(".wf-row a").all():
        row.hover()
    assert page.dialogs == []  # type: ignore[attr-defined]
    _screenshot(page, "hostile-content")


def test_the_pages_work_without_javascript(
    agent_run: tuple[Collector, str], browser: Browser
) -> None:
    collector, trace_id = agent_run
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{collector.url}/?service=travel-agent")
    expect(page.locator("#traces tr[data-trace-id]")).to_have_count(1)
    page.locator("#traces td.name a").click()
    page.wait_for_url(f"**/traces/{trace_id}")
    # Selecting a span is a plain link; the raw view and "show all" are form controls.
    page.locator(".wf-row.is-llm a").nth(1).click()
    page.wait_for_url(re.compile(r"\?span="))
    expect(page.locator("#detail figure.timeline svg")).to_be_visible()
    page.get_by_text("Raw JSON", exact=True).click()
    expect(page.locator("#detail .raw-view pre")).to_be_visible()
    context.close()


def test_dark_mode_follows_the_system(agent_run: tuple[Collector, str], browser: Browser):
    collector, trace_id = agent_run
    context = browser.new_context(color_scheme="dark", viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.goto(f"{collector.url}/traces/{trace_id}")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
    assert sum(channels) / 3 < 60, background  # a dark page, not the light one
    _screenshot(page, "trace-dark")
    context.close()


def test_spans_fold_under_their_parent(agent_run: tuple[Collector, str], page: Page) -> None:
    collector, trace_id = agent_run
    page.goto(f"{collector.url}/traces/{trace_id}")
    rows = page.locator(".wf-row")
    expect(rows).to_have_count(4)  # the root, two calls, and the second call's stream
    root_toggle = rows.nth(0).locator(".wf-toggle")
    call_toggle = rows.nth(2).locator(".wf-toggle")
    expect(rows.nth(1).locator(".wf-toggle")).to_have_count(0)  # no children, no button
    call_toggle.click()
    expect(rows.nth(3)).to_be_hidden()
    root_toggle.click()
    for n in (1, 2, 3):
        expect(rows.nth(n)).to_be_hidden()
    expect(root_toggle).to_have_attribute("aria-expanded", "false")
    # Unfolding the root keeps the call folded that was folded before.
    root_toggle.click()
    expect(rows.nth(1)).to_be_visible()
    expect(rows.nth(2)).to_be_visible()
    expect(rows.nth(3)).to_be_hidden()
    call_toggle.click()
    expect(rows.nth(3)).to_be_visible()
