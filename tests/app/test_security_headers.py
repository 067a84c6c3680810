"""Every response tells the browser to run only our script and to load nothing from elsewhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


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
