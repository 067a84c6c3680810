"""Refuse requests whose Host header is not this collector's, against DNS rebinding.

A web page the user visits can point a name it controls at 127.0.0.1 and then read the local
collector from the browser, conversations and all. The browser still sends the page's name in
the Host header, so a collector that only answers to its own names is out of reach. When bound
to a loopback address it answers to loopback names only; bound elsewhere (in a container) it
answers to any, unless SPYGLASS_ALLOWED_HOSTS says otherwise.
"""

from __future__ import annotations

from typing import Any

import orjson

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
OPEN_PATHS = frozenset({"/healthz"})


def default_allowed_hosts(bind_host: str) -> list[str]:
    loopback = bind_host in LOOPBACK_HOSTS or bind_host.startswith("127.")
    return [*LOOPBACK_HOSTS, bind_host] if loopback else ["*"]


def host_name(header: str) -> str:
    """The name in a Host header, without its port; IPv6 literals keep no brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    def __init__(self, app: Any, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {name.lower().strip("[]") for name in allowed}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "*" in self.allowed or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if host_name(header) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(
            {"detail": f"host {header!r} is not allowed: set SPYGLASS_ALLOWED_HOSTS to add it"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
