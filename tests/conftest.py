"""Shared fixtures. Every test gets its own data directory, so none touches a user's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.database import open_database
from app.main import create_app
from app.settings import Settings


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every default location at a temporary folder and drop stray settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("SPYGLASS_", "OTEL_")):
            monkeypatch.delenv(name)
    # Errors inside the spyglass client are swallowed in apps; under our tests they must show.
    monkeypatch.setenv("SPYGLASS_RAISE_INTERNAL_ERRORS", "1")
    # In-process tests reach the app as "testserver"; the Host check has its own tests.
    monkeypatch.setenv("SPYGLASS_ALLOWED_HOSTS", '["localhost", "127.0.0.1", "::1", "testserver"]')
    data_dir = tmp_path / "data"
    monkeypatch.setenv("SPYGLASS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return data_dir


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'spyglass.db'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The whole app in-process, with its writer thread running."""
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client
