"""With SPYGLASS_TOKEN set, every route but a few open ones needs the token; browsers sign in.

`every_route()` enumerates the app's routes, so a new route cannot slip through; the tests of
the security headers and of GET's having no effect reuse it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from starlette.routing import Mount, Route

from app import auth
from app.main import create_app
from app.routes import login
from app.settings import Settings

TOKEN = "s3cret-token"
SAMPLE_IDS = {"trace_id": "0" * 31 + "1", "span_id": "0" * 15 + "1"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Reached without the token, and what each answers to a bare request (a POST with no form
# gets 415: the route is reached, and it says what it wants).
OPEN_ROUTES = {
    ("GET", "/healthz"): 200,
    ("GET", "/login"): 200,
    ("POST", "/login"): 415,
    ("GET", "/static/highlight.css"): 200,  # generated; the form's page links it
}


@pytest.fixture
def guarded(database_url: str, engine) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def leaf_routes(routes: list) -> list[Route]:
    leaves = []
    for route in routes:
        if isinstance(route, APIRoute | Route):
            leaves.append(route)
        elif hasattr(route, "original_router"):  # FastAPI keeps included routers nested
            leaves.extend(leaf_routes(route.original_router.routes))
    return leaves


def every_route(app: FastAPI, ids: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(method, path) for every route the app has, its path parameters filled from `ids`."""
    ids = ids or SAMPLE_IDS
    found = []
    for route in leaf_routes(app.routes):
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ids.get(m.group(1), "x"), route.path)
        for method in sorted(route.methods or []):
            if method != "HEAD":
                found.append((method, path))
    return found


def _cookie(reply) -> SimpleCookie:
    header = reply.headers.get("set-cookie")
    assert header, "no Set-Cookie"
    return SimpleCookie(header)


def _login(client: TestClient, token: str = TOKEN, next_path: str = "/") -> object:
    return client.post("/login", data={"token": token, "next": next_path})


# --- which routes are open -----------------------------------------------------------------------


def test_every_route_but_the_open_ones_refuses_a_request_without_the_token(
    guarded: TestClient,
) -> None:
    routes = every_route(guarded.app)
    assert ("POST", "/v1/traces") in routes and ("GET", "/api/v1/traces") in routes
    assert set(OPEN_ROUTES) <= set(routes)
    assert ("POST", "/logout") in routes
    for method, path in routes:
        reply = guarded.request(method, path)
        if (method, path) in OPEN_ROUTES:
            assert reply.status_code == OPEN_ROUTES[method, path], (method, path)
        else:
            assert reply.status_code == 401, (method, path, reply.status_code)
            assert reply.headers["www-authenticate"].startswith("Bearer")
            said = reply.json()["message" if path.startswith("/v1/") else "detail"]
            assert "missing or wrong token" in said


@pytest.mark.parametrize(
    ("content_type", "parse"),
    [
        ("application/x-protobuf", status_pb2.Status.FromString),
        ("application/json", lambda body: json_format.Parse(body, status_pb2.Status())),
        ("text/plain", lambda body: json_format.Parse(body, status_pb2.Status())),
    ],
)
@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs", "/v1/metrics"])
def test_an_otlp_export_without_the_token_gets_a_status_in_its_format(
    guarded: TestClient, path: str, content_type: str, parse: Any
) -> None:
    # OTLP/HTTP: every failed export is answered with a google.rpc.Status, which exporters log.
    reply = guarded.post(path, content=b"", headers={"content-type": content_type})
    assert reply.status_code == 401
    expected = "application/x-protobuf" if content_type.endswith("protobuf") else "application/json"
    assert reply.headers["content-type"] == expected
    status = parse(reply.content)
    assert status.code == code_pb2.UNAUTHENTICATED
    assert "missing or wrong token" in status.message


def test_the_open_set_is_exact_paths_and_no_more(guarded: TestClient) -> None:
    assert {"/healthz", "/login", *auth.LOGIN_ASSETS} == auth.OPEN_PATHS
    assert all(path.startswith("/static/") for path in auth.LOGIN_ASSETS)
    # Only the named files are open, not the folder, and not a look-alike path.
    mounts = [route.path for route in guarded.app.routes if isinstance(route, Mount)]
    assert mounts == ["/static"]
    for path in ("/static/other.js", "/static/", "/login/", "/healthz/x", "/LOGIN"):
        assert guarded.get(path).status_code == 401, path


def test_the_sign_in_page_loads_only_open_files(guarded: TestClient) -> None:
    """The form is drawn without the token, so all it loads must be open, and open is just that."""
    page = BeautifulSoup(guarded.get("/login").text, "html.parser")
    loaded = {tag["href"] for tag in page.select("link[href]") if tag["href"] != "data:,"}
    loaded |= {tag["src"] for tag in page.select("script[src], img[src]")}
    assert loaded == set(auth.LOGIN_ASSETS)
    for path in loaded:
        assert guarded.get(path).status_code == 200, path


def test_a_wrong_token_is_refused(guarded: TestClient) -> None:
    for value in ("Bearer wrong", f"Bearer {TOKEN}x", "Basic czNjcmV0", TOKEN, "Bearer "):
        assert guarded.get("/api/v1/traces", headers={"Authorization": value}).status_code == 401
    guarded.cookies.set("spyglass_token", TOKEN[:-1])
    assert guarded.get("/api/v1/traces").status_code == 401


def test_the_right_token_is_accepted_as_bearer_or_cookie(guarded: TestClient) -> None:
    bearer = guarded.get("/api/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    guarded.cookies.set("spyglass_token", TOKEN)
    assert guarded.get("/").status_code == 200


def test_pages_offer_a_sign_out_form_only_when_a_token_is_set(
    guarded: TestClient, client: TestClient
) -> None:
    guarded.cookies.set("spyglass_token", TOKEN)
    form = BeautifulSoup(guarded.get("/").text, "html.parser").select_one("form.sign-out")
    assert form is not None and (form["method"], form["action"]) == ("post", "/logout")
    assert BeautifulSoup(client.get("/").text, "html.parser").select_one("form.sign-out") is None
    sign_in = BeautifulSoup(guarded.get("/login").text, "html.parser")
    assert sign_in.select_one("form.sign-out") is None


def test_another_local_apps_malformed_cookie_does_not_hide_ours(guarded: TestClient) -> None:
    # Cookies are per host, not per port: other apps on localhost send theirs here too.
    reply = guarded.get("/api/v1/traces", headers={"cookie": f'junk="x; spyglass_token={TOKEN}'})
    assert reply.status_code == 200


def test_without_a_token_setting_nothing_is_guarded(client: TestClient) -> None:
    assert client.get("/api/v1/traces").status_code == 200
    signed = client.get("/login?next=/traces/abc", follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, "/traces/abc")
    posted = client.post("/login", data={"token": "anything", "next": "//evil.com"})
    assert posted.url.path == "/" and "set-cookie" not in posted.headers


# --- browsers are sent to the form, machines get 401 ---------------------------------------------


@pytest.mark.parametrize("path", ["/", "/?q=weather&status=error", f"/traces/{'ab' * 16}", "/docs"])
def test_a_browser_without_the_token_is_sent_to_the_form(guarded: TestClient, path: str) -> None:
    reply = guarded.get(path, headers={"accept": BROWSER_ACCEPT})
    assert reply.status_code == 303
    location = urlsplit(reply.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]
    form = BeautifulSoup(guarded.get(reply.headers["location"]).text, "html.parser")
    assert form.select_one("form[action='/login'] input[name=next]")["value"] == path


@pytest.mark.parametrize(
    ("method", "path", "accept"),
    [
        ("GET", "/api/v1/traces", BROWSER_ACCEPT),
        ("GET", "/v1/traces", BROWSER_ACCEPT),
        ("POST", "/v1/traces", BROWSER_ACCEPT),
        ("POST", "/", BROWSER_ACCEPT),
        ("GET", "/", "*/*"),  # fetch(), curl
        ("GET", "/", "application/json"),
        ("GET", "/", "application/json, text/html;q=0.5"),
        ("GET", "/partials/traces", "*/*"),  # the list's polling script must not get a form
        ("GET", "/static/app.js", "text/css,*/*;q=0.1"),
    ],
)
def test_api_clients_and_scripts_get_401(
    guarded: TestClient, method: str, path: str, accept: str
) -> None:
    reply = guarded.request(method, path, headers={"accept": accept})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="spyglass"'
    assert reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/xhtml+xml;q=0.9, */*;q=0.8", True),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0", False),
        ("text/html;q=nan", False),
        ("text/html;q=x", False),
        ("*/*", False),
        ("", False),
        (";;,,", False),
    ],
)
def test_prefers_html(accept: str, html: bool) -> None:
    assert auth.prefers_html(accept) is html


# --- the sign-in form ----------------------------------------------------------------------------


def test_the_right_token_sets_a_strict_http_only_cookie_and_goes_back(guarded: TestClient) -> None:
    reply = _login(guarded, next_path="/traces/abc?span=01")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/traces/abc?span=01"
    morsel = _cookie(reply)["spyglass_token"]
    assert morsel.value == TOKEN
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # plain http: a Secure cookie would never come back
    assert guarded.get("/").status_code == 200
    assert guarded.get("/api/v1/traces").status_code == 200


def test_over_https_the_cookie_is_secure(database_url: str, engine) -> None:
    app = create_app(Settings(database_url=database_url, token=TOKEN), engine=engine)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert _cookie(_login(client))["spyglass_token"]["secure"] is True


def test_any_character_of_a_token_survives_the_cookie(database_url: str, engine) -> None:
    token = 'a b;c,"d\\e%ü'
    app = create_app(Settings(database_url=database_url, token=token), engine=engine)
    with TestClient(app, follow_redirects=False) as client:
        assert _login(client, token).status_code == 303
        assert client.get("/").status_code == 200
        # A header carries it as UTF-8 bytes, as the configured token is compared.
        bearer = b"Bearer " + token.encode()
        assert client.get("/", headers={"authorization": bearer}).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "/\t/evil.com",
        "/\n/evil.com",
        "http:/evil.com",
        "evil.com",
        "",
    ],
)
def test_next_never_leads_off_the_site(guarded: TestClient, target: str) -> None:
    assert _login(guarded, next_path=target).headers["location"] == "/"
    form = BeautifulSoup(guarded.get("/login", params={"next": target}).text, "html.parser")
    assert form.select_one("input[name=next]")["value"] == "/"


@pytest.mark.parametrize(
    ("token", "message"),
    [("wrong", login.WRONG_TOKEN), (TOKEN + " ", login.WRONG_TOKEN), ("", login.NO_TOKEN)],
)
def test_a_wrong_token_shows_the_form_again_with_401(
    guarded: TestClient, token: str, message: str
) -> None:
    reply = _login(guarded, token, next_path="/traces/abc")
    assert reply.status_code == 401
    assert "set-cookie" not in reply.headers
    page = BeautifulSoup(reply.text, "html.parser")
    assert page.select_one("#login-message").get_text(strip=True) == message
    # The form again, still going where it was going.
    assert page.select_one("form[action='/login'] input[name=next]")["value"] == "/traces/abc"
    assert guarded.get("/api/v1/traces").status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"token": "s3cret-token"}', "application/json", 415),
        (b"token=" + b"x" * 20_000, "application/x-www-form-urlencoded", 413),
        (b"token=%ff%fe", "application/x-www-form-urlencoded", 400),
        (b"&".join(b"f%d=1" % n for n in range(50)), "application/x-www-form-urlencoded", 400),
    ],
)
def test_a_body_that_is_not_the_form_gets_a_clear_4xx(
    guarded: TestClient, body: bytes, content_type: str, status: int
) -> None:
    reply = guarded.post("/login", content=body, headers={"content-type": content_type})
    assert reply.status_code == status
    assert "set-cookie" not in reply.headers
    assert BeautifulSoup(reply.text, "html.parser").select_one(".error-message").get_text()


def test_logout_clears_the_cookie(guarded: TestClient) -> None:
    _login(guarded)
    assert guarded.get("/api/v1/traces").status_code == 200
    reply = guarded.post("/logout")
    assert (reply.status_code, reply.headers["location"]) == (303, "/login")
    morsel = _cookie(reply)["spyglass_token"]
    assert morsel.value == "" and morsel["max-age"] == "0" and morsel["path"] == "/"
    assert guarded.get("/api/v1/traces").status_code == 401
    # Signing out needs the token like any other change; without it there is nothing to clear.
    assert guarded.post("/logout").status_code == 401


# --- one comparison, in constant time ------------------------------------------------------------


def test_every_way_of_presenting_the_token_is_compared_in_constant_time(
    guarded: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain `==` anywhere (header, cookie or form) would leave a way with no call here."""
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: object, b: object) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(hmac, "compare_digest", spy)
    ways = {
        "header": lambda token: guarded.get(
            "/api/v1/traces", headers={"authorization": f"Bearer {token}"}
        ),
        "cookie": lambda token: guarded.get(
            "/api/v1/traces", headers={"cookie": f"spyglass_token={token}"}
        ),
        "form": lambda token: _login(guarded, token),
    }
    for way, send in ways.items():
        for token, accepted in ((TOKEN, True), ("wrong-token!", False)):
            calls.clear()
            reply = send(token)
            assert (reply.status_code in (200, 303)) is accepted, (way, token)
            assert calls == [(token.encode(), TOKEN.encode())], (way, token)
            guarded.cookies.clear()


def test_token_matches_takes_bytes_only() -> None:
    assert auth.token_matches(b"abc", b"abc")
    assert not auth.token_matches(b"abd", b"abc")
    assert not auth.token_matches(b"", b"abc")
    with pytest.raises(TypeError):
        auth.token_matches("abc", b"abc")  # type: ignore[arg-type]
