"""With SPYGLASS_TOKEN set, every route but /healthz needs the token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from app.main import create_app
from app.settings import Settings

TOKEN = "s3cret-token"
SAMPLE_IDS = {"trace_id": "0" * 31 + "1", "span_id": "0" * 15 + "1"}


@pytest.fixture
def guarded(database_url: str, engine) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(app) as client:
        yield client


def _leaf_routes(routes: list) -> list[Route]:
    leaves = []
    for route in routes:
        if isinstance(route, APIRoute | Route):
            leaves.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers nested
            leaves.extend(_leaf_routes(route.original_router.routes))
    return leaves


def _every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) for every route the app has, so a new route cannot slip through."""
    found = []
    for route in _leaf_routes(client.app.routes):
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_IDS.get(m.group(1), "x"), route.path)
        for method in sorted(route.methods or []):
            if method != "HEAD":
                found.append((method, path))
    return found


def test_every_route_but_healthz_refuses_a_request_without_the_token(guarded: TestClient) -> None:
    routes = _every_route(guarded)
    assert ("POST", "/v1/traces") in routes and ("GET", "/api/v1/traces") in routes
    for method, path in routes:
        reply = guarded.request(method, path)
        if path == "/healthz":
            assert reply.status_code == 200
        else:
            assert reply.status_code == 401, (method, path, reply.status_code)
            assert reply.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_token_is_refused(guarded: TestClient) -> None:
    for value in ("Bearer wrong", f"Bearer {TOKEN}x", "Basic czNjcmV0", TOKEN):
        assert guarded.get("/api/v1/traces", headers={"Authorization": value}).status_code == 401


def test_the_right_token_is_accepted_as_bearer_or_cookie(guarded: TestClient) -> None:
    bearer = guarded.get("/api/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    guarded.cookies.set("spyglass_token", TOKEN)
    assert guarded.get("/").status_code == 200


def test_without_a_token_setting_nothing_is_guarded(client: TestClient) -> None:
    assert client.get("/api/v1/traces").status_code == 200
