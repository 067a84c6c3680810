"""What a person sees, in a real browser: Debian's Chromium driven by Playwright.

Span content is hostile until proven otherwise: names, services and attribute values full of
script, event handlers and `javascript:` URLs must render as text, and no script may run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests import otlp_builders as otlp
from tests.collector_process import Collector

CHROMIUM = "/usr/bin/chromium"
# Chromium's own background traffic fails on a closed network; these keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = [
    '<script>alert("name")</script>',
    '<img src=x onerror="alert(1)">',
    '<svg onload="alert(2)"></svg>',
    '<a href="javascript:alert(3)">click</a>',
    '"><b onmouseover=alert(4)>broken',
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    page.close()


def _export_hostile_trace(collector: Collector) -> bytes:
    import httpx

    trace = otlp.trace_id()
    root = otlp.span(HOSTILE[0], trace=trace, attributes={"note": HOSTILE[3]})
    children = [
        otlp.span(text, trace=trace, parent=root.span_id, start_ns=otlp.BASE_NS + index + 1)
        for index, text in enumerate(HOSTILE[1:])
    ]
    body = otlp.request(root, *children, service=HOSTILE[1]).SerializeToString()
    reply = httpx.post(
        f"{collector.url}/v1/traces",
        content=body,
        headers={"content-type": "application/x-protobuf"},
    )
    assert reply.status_code == 200, reply.text
    return trace


def test_hostile_span_content_renders_as_text(collector: Collector, page: Page) -> None:
    trace = _export_hostile_trace(collector)

    page.goto(f"{collector.url}/")
    listed = page.locator("#traces tbody").inner_text()
    assert HOSTILE[0] in listed and HOSTILE[1] in listed
    page.locator("#traces tbody a").first.click()
    page.wait_for_url(f"**/traces/{trace.hex()}")

    shown = page.locator("#spans tbody").inner_text()
    for text in HOSTILE:
        assert text in shown
    # Nothing the spans carried became markup: no images, SVG or links were made from them.
    assert page.locator("#spans img, #spans svg, #spans a[href^='javascript']").count() == 0
    for element in page.locator("#spans tbody b").all():
        assert element.get_attribute("onmouseover") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_pages_work_without_javascript(collector: Collector, browser: Browser) -> None:
    trace = _export_hostile_trace(collector)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{collector.url}/")
    assert page.locator("#traces tbody tr").count() == 1
    page.goto(f"{collector.url}/traces/{trace.hex()}")
    assert page.locator("#spans tbody tr").count() == len(HOSTILE)
    context.close()
