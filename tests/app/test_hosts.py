"""The Host check: a collector on loopback answers to its own names only (DNS rebinding)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.hosts import default_allowed_hosts, host_name
from app.main import create_app
from app.settings import Settings


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:4318", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:4318", "::1"),
        ("[::1]", "::1"),
        ("Evil.Example:80", "evil.example"),
        ("", ""),
    ],
)
def test_host_names_are_read_without_their_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_defaults_follow_the_bind_address() -> None:
    assert "localhost" in default_allowed_hosts("127.0.0.1")
    assert default_allowed_hosts("0.0.0.0") == ["*"]


def _client(database_url: str, engine, **settings) -> TestClient:
    return TestClient(create_app(Settings(database_url=database_url, **settings), engine=engine))


@pytest.mark.parametrize("host", ["localhost:4318", "127.0.0.1:4318", "[::1]:4318"])
def test_a_loopback_collector_answers_its_own_names(database_url, engine, host) -> None:
    with _client(database_url, engine, allowed_hosts=None) as client:
        assert client.get("/api/v1/traces", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/v1/traces", "/openapi.json"])
def test_a_loopback_collector_refuses_a_foreign_host(database_url, engine, path) -> None:
    with _client(database_url, engine, allowed_hosts=None) as client:
        reply = client.get(path, headers={"host": "attacker.example:4318"})
        assert reply.status_code == 400
        assert "SPYGLASS_ALLOWED_HOSTS" in reply.json()["detail"]
        # The health check stays open to probes that do not know the name.
        assert client.get("/healthz", headers={"host": "attacker.example"}).status_code == 200


def test_allowed_hosts_can_be_widened(database_url, engine) -> None:
    with _client(database_url, engine, allowed_hosts=["spyglass.internal"]) as client:
        assert (
            client.get("/api/v1/traces", headers={"host": "spyglass.internal"}).status_code == 200
        )
        assert client.get("/api/v1/traces", headers={"host": "localhost"}).status_code == 400


def test_a_collector_bound_to_every_interface_answers_any_name(database_url, engine) -> None:
    with _client(database_url, engine, host="0.0.0.0", allowed_hosts=None) as client:
        assert client.get("/api/v1/traces", headers={"host": "collector:4318"}).status_code == 200
