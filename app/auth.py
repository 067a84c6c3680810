"""The optional token: when `SPYGLASS_TOKEN` is set, every path but /healthz needs it.

A pure ASGI middleware, so that no route, present or future, can be reached around it. The
token is accepted as `Authorization: Bearer <token>`, or from the login cookie the pages use.
Comparison takes constant time.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any

import orjson

OPEN_PATHS = frozenset({"/healthz"})
COOKIE_NAME = "spyglass_token"


class TokenAuth:
    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            {"detail": "missing or wrong token: send Authorization: Bearer <token>"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="spyglass"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: dict) -> bool:
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
            elif name == b"cookie" and not presented:
                morsel = SimpleCookie(value.decode("latin-1")).get(COOKIE_NAME)
                presented = morsel.value.encode("latin-1") if morsel else b""
        return hmac.compare_digest(presented, self.token)
