"""The pages' layout at a desktop's width and a phone's, measured in a real browser.

What is checked is what a person would see go wrong: a span name squeezed away by its badges,
a badge or figure drawn over the next column, labels on top of each other, and a long word
pushing the page sideways. Screenshots land in `test-artifacts/` for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests import captures
from tests import otlp_builders as otlp
from tests.collector_process import Collector

ARTIFACTS = Path(os.environ.get("SPYGLASS_TEST_ARTIFACTS", "test-artifacts"))
WIDTHS = [1400, 390]
LONG_MODEL = "claude-fake-stream-error-20990101"
# No space to break at: only a box that wraps anywhere keeps it inside.
LONG_TOKEN = "(ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content);" * 3
LIST_NAME = "stream fail midway"


class Traces:
    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.failed_call = ""
        self.sdk_call = ""


def _post(collector: Collector, body: bytes) -> None:
    reply = httpx.post(
        f"{collector.url}/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traces]:
    collector = Collector(tmp_path_factory.mktemp("layout") / "data").start()
    try:
        stored = Traces(collector)
        trace = otlp.trace_id()
        root = otlp.span(LIST_NAME, trace=trace, duration_ns=107_000_000)
        call = otlp.span(
            f"chat {LONG_MODEL}",
            trace=trace,
            parent=root.span_id,
            duration_ns=106_000_000,
            status=2,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": LONG_MODEL,
                "gen_ai.usage.input_tokens": 135,
                "gen_ai.usage.output_tokens": 1,
            },
        )
        call.status.message = f"APIStatusError: {LONG_TOKEN}"
        _post(collector, otlp.request(root, call).SerializeToString())
        stored.failed_call = f"/traces/{trace.hex()}"
        # The SDK's metadata-only spans come with a note quoting its long setting.
        sdk = captures.load("sdk_native")
        _post(collector, sdk.otlp("plain_system").SerializeToString())
        stored.sdk_call = f"/traces/{sdk.spans('plain_system')[0].trace_id}"
        yield stored
    finally:
        collector.stop()


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    yield context.new_page()
    context.close()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)


def _no_sideways_scroll(page: Page) -> None:
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"the page scrolls sideways: {scroll} > {client}"


def test_waterfall_rows_keep_their_names_and_their_columns(traces: Traces, page: Page) -> None:
    page.goto(traces.collector.url + traces.failed_call)
    rows = page.evaluate(
        """[...document.querySelectorAll('.wf-row a')].map(a => {
          const box = e => e.getBoundingClientRect();
          const label = a.querySelector('.wf-label'), name = a.querySelector('.wf-name');
          const room = label.clientWidth - parseFloat(getComputedStyle(label).paddingLeft);
          return {
            name: name.textContent, nameWidth: box(name).width, nameNeeds: name.scrollWidth,
            room, label: box(label), duration: box(a.querySelector('.wf-duration')),
            parts: [...label.children].map(c => [c.className, box(c).left, box(c).right]),
          };
        })"""
    )
    assert len(rows) == 2
    for row in rows:
        # The name has all it needs, or the whole width of the label: no badge takes it.
        assert row["nameWidth"] >= min(row["nameNeeds"], row["room"]) - 1, row
        assert row["label"]["right"] <= row["duration"]["left"], row
        for kind, left, right in row["parts"]:
            assert row["label"]["left"] - 1 <= left and right <= row["label"]["right"] + 1, (
                kind,
                row,
            )
    call = page.locator(".wf-row.is-llm")
    assert call.locator(".badge-llm").get_attribute("title") == LONG_MODEL
    assert call.locator(".badge-error").is_visible()
    ticks = page.evaluate(
        """[...document.querySelectorAll('.wf-ticks span')]
          .filter(t => t.offsetParent !== null)
          .map(t => [t.getBoundingClientRect().left, t.getBoundingClientRect().right])"""
    )
    assert len(ticks) >= 2
    for (_, right), (left, _) in zip(ticks, ticks[1:], strict=False):
        assert right <= left, f"axis labels overlap: {ticks}"
    _no_sideways_scroll(page)
    _screenshot(page, "layout-waterfall")


def test_long_words_wrap_inside_their_box(traces: Traces, page: Page) -> None:
    for path in (traces.failed_call, traces.sdk_call):
        page.goto(traces.collector.url + path)
        _no_sideways_scroll(page)
        card = page.locator(".span-detail").bounding_box()
        assert card is not None
        for box in (".status-message", ".source-note"):
            for shown in page.locator(f".span-detail {box}").all():
                inside = shown.bounding_box()
                assert inside is not None
                assert inside["x"] + inside["width"] <= card["x"] + card["width"], box
                overflow = shown.evaluate("e => e.scrollWidth - e.clientWidth")
                assert overflow <= 0, f"{box} runs out of its box by {overflow}px"
    assert page.locator(".source-note").count() >= 1  # the SDK trace's note was checked
    _screenshot(page, "layout-long-words")


def test_list_names_break_between_words(traces: Traces, page: Page) -> None:
    page.goto(traces.collector.url + "/")
    link = page.locator("#traces td.name a", has_text=LIST_NAME)
    column = link.locator("xpath=..")
    # Each word's own width: a column narrower than its longest word breaks it apart.
    widest_word = link.evaluate(
        """a => Math.max(...a.textContent.split(' ').map(word => {
             const probe = document.createElement('span');
             probe.textContent = word; probe.style.whiteSpace = 'nowrap';
             a.append(probe); const width = probe.getBoundingClientRect().width;
             probe.remove(); return width;
           }))"""
    )
    column = column.evaluate(
        "td => td.clientWidth - parseFloat(getComputedStyle(td).paddingLeft)"
        " - parseFloat(getComputedStyle(td).paddingRight)"
    )
    assert column >= widest_word, f"the name column ({column}px) breaks words ({widest_word}px)"
    assert column >= 150, f"the name column is squeezed to {column}px"
    row = page.locator("#traces tbody tr", has_text=LIST_NAME)
    assert row.locator("td.spans").inner_text() == "2"
    _no_sideways_scroll(page)
    _screenshot(page, "layout-list")


def test_the_waterfall_never_covers_the_span_detail(traces: Traces, page: Page) -> None:
    # Side by side on a desktop the waterfall stays in view; above the detail on a phone it must
    # scroll away with the page rather than stay stuck over what is being read.
    page.goto(traces.collector.url + traces.failed_call)
    page.locator(".span-detail").evaluate("e => e.scrollIntoView()")
    page.mouse.wheel(0, 200)
    waterfall = page.locator(".waterfall").bounding_box()
    detail = page.locator(".span-detail").bounding_box()
    assert waterfall is not None and detail is not None
    apart = (
        waterfall["x"] + waterfall["width"] <= detail["x"]
        or waterfall["y"] + waterfall["height"] <= detail["y"]
    )
    assert apart, f"the waterfall {waterfall} covers the detail {detail}"
