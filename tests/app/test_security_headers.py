"""Every response tells the browser to run only our script and to load nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from httpx import Response

from app.main import create_app
from app.security_headers import DOCS_PATHS
from app.settings import Settings
from tests.app.routes.test_pages import _record_agent
from tests.app.test_auth import TOKEN, every_route

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("path", ["/", "/static/spyglass.js", "/api/v1/traces", "/nowhere"])
def test_pages_and_api_carry_the_security_headers(client: TestClient, path: str) -> None:
    reply = client.get(path)
    policy = reply.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-frame-options"] == "DENY"


def test_the_api_docs_keep_the_headers_but_may_load_their_script(client: TestClient) -> None:
    reply = client.get("/docs")
    assert reply.status_code == 200
    assert "content-security-policy" not in reply.headers
    assert reply.headers["x-content-type-options"] == "nosniff"


# --- every route, every page ---------------------------------------------------------------------


@pytest.fixture
def recorded(client: TestClient) -> dict[str, str]:
    """A real stored trace, so the pages render with conversations, streams and errors."""
    agent = _record_agent(client)
    return {"trace_id": agent.trace, "span_id": agent.second_call}


def _policy(reply: Response) -> dict[str, str]:
    policy = reply.headers["content-security-policy"]
    return dict(d.strip().split(" ", 1) for d in policy.split(";"))


def _assert_guarded(reply: Response, where: object) -> None:
    assert reply.headers["x-content-type-options"] == "nosniff", where
    assert reply.headers["x-frame-options"] == "DENY", where
    if urlsplit(str(reply.url)).path in DOCS_PATHS:
        return  # the docs' own script comes from a CDN; framing stays refused just above
    directives = _policy(reply)
    assert directives["frame-ancestors"] == "'none'", where
    assert directives["script-src"] == "'self'", where


def test_every_route_carries_the_headers_whatever_it_answers(
    client: TestClient, recorded: dict[str, str], database_url: str, engine
) -> None:
    guarded_app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(guarded_app, follow_redirects=False) as guarded:
        for method, path in every_route(client.app, recorded):
            _assert_guarded(client.request(method, path), (method, path))
            # Refused (401) or sent to sign in (303): the refusal is guarded too.
            _assert_guarded(guarded.request(method, path), (method, path, "no token"))
            page_visit = guarded.request(method, path, headers={"accept": "text/html"})
            _assert_guarded(page_visit, (method, path, "browser"))


def _html_gets(client: TestClient, ids: dict[str, str]) -> list[str]:
    gets = [path for method, path in every_route(client.app, ids) if method == "GET"]
    trace, span = ids["trace_id"], ids["span_id"]
    return [
        *gets,
        f"/traces/{trace}?span={span}&q=Paris",
        f"/traces/{trace}?span={'0' * 16}",  # the 404 page
        "/?status=nonsense",  # the 422 page
        "/login?next=/x",
    ]


def test_no_page_has_inline_script_or_event_handlers(
    client: TestClient, recorded: dict[str, str], database_url: str, engine
) -> None:
    """The policy would block them anyway; a page that needs one is broken under it."""
    guarded_app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(guarded_app) as guarded:
        pages = [client.get(path) for path in _html_gets(client, recorded)]
        pages.append(guarded.get("/login"))
        pages.append(guarded.post("/login", data={"token": "wrong"}))
    html = [reply for reply in pages if reply.headers["content-type"].startswith("text/html")]
    assert {urlsplit(str(reply.url)).path for reply in html} >= {
        "/",
        f"/traces/{recorded['trace_id']}",
        f"/partials/traces/{recorded['trace_id']}/spans/{recorded['span_id']}",
        "/login",
    }
    for reply in html:
        if urlsplit(str(reply.url)).path in DOCS_PATHS:
            continue  # FastAPI's, not ours; it is served without our policy
        where = str(reply.url)
        page = BeautifulSoup(reply.text, "html.parser")
        for script in page.find_all("script"):
            assert script.get("src", "").startswith("/static/"), (where, str(script)[:200])
            assert not script.get_text().strip(), where
        for tag in page.find_all(True):
            handlers = [name for name in tag.attrs if name.lower().startswith("on")]
            assert handlers == [], (where, str(tag)[:200])
            for name in ("href", "src", "action", "formaction"):
                value = str(tag.get(name, "")).strip().lower()
                assert not value.startswith("javascript:"), (where, str(tag)[:200])


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_no_template_has_inline_script_or_event_handlers(template: Path) -> None:
    """Also the branches the rendered pages above do not take."""
    source = template.read_text()
    for tag in re.findall(r"<script\b[^>]*>", source, flags=re.IGNORECASE):
        assert re.search(r"\bsrc=", tag), (template.name, tag)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", source, flags=re.IGNORECASE), template.name
