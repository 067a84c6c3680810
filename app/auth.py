"""The optional token: when `SPYGLASS_TOKEN` is set, every path but a few open ones needs it.

A pure ASGI middleware, so that no route, present or future, can be reached around it. The
token is accepted as `Authorization: Bearer <token>`, or from the `spyglass_token` cookie that
the sign-in form (`app/routes/login.py`) sets. Without it, a browser asking for a page is sent
to that form; every other client gets a 401: OTLP exporters a google.rpc.Status in the format
they sent, the REST API and the pages' own script JSON. `token_matches()` is the one place a presented token is compared with the
configured one, in constant time.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote, unquote, urlencode

import orjson
from starlette.requests import cookie_parser

from app import otlp

COOKIE_NAME = "spyglass_token"
LOGIN_PATH = "/login"
# The sign-in page is drawn by base.html, which links these: the repository's own files, no data.
LOGIN_ASSETS = frozenset(
    {"/static/spyglass.css", "/static/timeline.css", "/static/highlight.css", "/static/spyglass.js"}
)
# Everything reachable without the token, by exact path: liveness, the form, what it loads.
OPEN_PATHS = frozenset({"/healthz", LOGIN_PATH, *LOGIN_ASSETS})
# Machine endpoints: whatever their Accept header says, they get a 401, never the form.
OTLP_PREFIX = "/v1/"
API_PREFIXES = ("/api/", OTLP_PREFIX)
REFUSED = "missing or wrong token: send Authorization: Bearer <token>"
HTML_TYPES = ("text/html", "application/xhtml+xml")


def token_matches(presented: bytes, expected: bytes) -> bool:
    """Whether a presented token is the configured one. Constant time, so how long the answer
    takes says nothing about how much of a guess was right."""
    return hmac.compare_digest(presented, expected)


def cookie_value(token: str) -> str:
    """The token as the cookie carries it: percent-encoded, so any character survives."""
    return quote(token, safe="")


def prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks HTML first, as a browser navigating to a page does.

    `*/*` alone (what fetch(), curl and the SDKs send) does not count."""
    best = html = 0.0
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if not 0.0 <= weight <= 1.0:  # also NaN
            weight = 0.0
        if media.lower() in HTML_TYPES:
            html = max(html, weight)
        best = max(best, weight)
    return html > 0.0 and html >= best


class TokenAuth:
    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if _is_page_visit(scope):
            await _send(send, 303, [(b"location", _login_location(scope).encode())], b"")
            return
        if scope["path"].startswith(OTLP_PREFIX):
            # OTLP/HTTP: a failed export is answered with a google.rpc.Status in the request's
            # own format, which exporters parse and log.
            fmt = _otlp_format(scope)
            body = otlp.error_reply(fmt, 401, REFUSED)
            content_type = otlp.MEDIA_TYPE_OF[fmt].encode()
        else:
            body, content_type = orjson.dumps({"detail": REFUSED}), b"application/json"
        headers = [
            (b"content-type", content_type),
            (b"www-authenticate", b'Bearer realm="spyglass"'),
        ]
        await _send(send, 401, headers, body)

    def _allowed(self, scope: dict) -> bool:
        bearer: bytes | None = None
        cookies: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                bearer = value[7:].strip()
            elif name == b"cookie":
                cookies.append(value.decode("latin-1"))
        if bearer is not None:
            presented = bearer
        else:
            # Starlette's lenient parser: a malformed cookie of another local app skips only
            # itself (the standard library's SimpleCookie would drop every cookie after it).
            found = cookie_parser("; ".join(cookies)).get(COOKIE_NAME, "")
            presented = unquote(found).encode()
        return token_matches(presented, self.token)


def _otlp_format(scope: dict) -> otlp.Format:
    """The format an OTLP request was sent in; JSON, readable by a person, for any other."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    media_type = content_type.decode("latin-1").split(";", 1)[0].strip().lower()
    return otlp.CONTENT_TYPES.get(media_type, "json")


def _is_page_visit(scope: dict) -> bool:
    if scope["method"] not in ("GET", "HEAD") or scope["path"].startswith(API_PREFIXES):
        return False
    accept = b",".join(value for name, value in scope["headers"] if name == b"accept")
    return prefers_html(accept.decode("latin-1"))


def _login_location(scope: dict) -> str:
    """/login?next=<the page asked for>, path and query as the browser sent them."""
    raw_path = scope.get("raw_path")
    target = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    return f"{LOGIN_PATH}?{urlencode({'next': target})}"


async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", str(len(body)).encode()),
                # A refusal depends on credentials; no cache may hand it to someone else.
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
