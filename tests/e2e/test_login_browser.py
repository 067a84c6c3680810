"""Signing in from a real browser, against a real collector started with SPYGLASS_TOKEN.

A person opens the viewer, is sent to the form, types the token and lands where they were
going, with the trace list. The cookie that keeps them in must be out of reach of scripts
(HttpOnly) and of other sites (SameSite=Strict), and the form must work without JavaScript.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests import otlp_builders as otlp
from tests.collector_process import Collector

TOKEN = "browser-s3cret"
ROOT_SPAN = "signed-in trace"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, str]]:
    """A collector that needs the token, holding one trace; yields it and the trace's id."""
    data = tmp_path_factory.mktemp("login") / "data"
    collector = Collector(data, env={"SPYGLASS_TOKEN": TOKEN}).start()
    try:
        trace = otlp.trace_id()
        body = otlp.request(otlp.span(ROOT_SPAN, trace=trace), service="login-e2e")
        reply = httpx.post(
            f"{collector.url}/v1/traces",
            content=body.SerializeToString(),
            headers={"content-type": "application/x-protobuf", "authorization": f"Bearer {TOKEN}"},
        )
        assert reply.status_code == 200, reply.text
        yield collector, trace.hex()
    finally:
        collector.stop()


def _watched(context: BrowserContext) -> tuple[Page, list[str]]:
    """A page, and the list its script errors and policy refusals are gathered into."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and problems.append(message.text),
    )
    return page, problems


def _sign_in(page: Page, token: str) -> None:
    page.locator("input[name=token]").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_a_browser_signs_in_and_lands_on_the_trace_list(
    browser: Browser, guarded: tuple[Collector, str]
) -> None:
    collector, trace_id = guarded
    context = browser.new_context()
    page, problems = _watched(context)
    try:
        page.goto(f"{collector.url}/")
        page.wait_for_url(f"{collector.url}/login?next=%2F")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

        _sign_in(page, TOKEN)
        page.wait_for_url(f"{collector.url}/")
        row = page.locator(f"#traces tr[data-trace-id='{trace_id}']")
        expect(row.locator("td.name")).to_have_text(ROOT_SPAN)

        (cookie,) = [c for c in context.cookies() if c["name"] == "spyglass_token"]
        assert cookie["value"] == TOKEN
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/"
        assert cookie["secure"] is False  # plain http on loopback
        assert "spyglass_token" not in page.evaluate("document.cookie")
        # The page's own script polls its rows with the cookie: still signed in after a poll.
        with page.expect_response(lambda reply: "/partials/traces" in reply.url) as polled:
            page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        assert polled.value.status == 200
    finally:
        context.close()
    assert problems == []


def test_the_form_works_without_javascript(
    browser: Browser, guarded: tuple[Collector, str]
) -> None:
    collector, trace_id = guarded
    context = browser.new_context(java_script_enabled=False)
    page, problems = _watched(context)
    target = f"/traces/{trace_id}"
    try:
        page.goto(f"{collector.url}{target}")
        page.wait_for_url(f"{collector.url}/login?next={quote(target, safe='')}")

        _sign_in(page, "not-the-token")
        expect(page.locator("#login-message")).to_contain_text("not the token")
        assert context.cookies() == []

        _sign_in(page, TOKEN)
        page.wait_for_url(f"{collector.url}{target}")
        expect(page.locator("h1")).to_contain_text(ROOT_SPAN)
    finally:
        context.close()
    assert problems == []


def test_signing_out_needs_signing_in_again(
    browser: Browser, guarded: tuple[Collector, str]
) -> None:
    collector, _ = guarded
    context = browser.new_context()
    page, problems = _watched(context)
    try:
        page.goto(f"{collector.url}/login")
        _sign_in(page, TOKEN)
        page.wait_for_url(f"{collector.url}/")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{collector.url}/login")
        assert [c for c in context.cookies() if c["name"] == "spyglass_token"] == []
        page.goto(f"{collector.url}/")
        page.wait_for_url(f"{collector.url}/login?next=%2F")
    finally:
        context.close()
    assert problems == []
