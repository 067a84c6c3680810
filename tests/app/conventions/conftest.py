"""Fixtures for the conventions tests: both encodings of content, and the real client's spans."""

from __future__ import annotations

import pytest

from tests.app.conventions.client_spans import ClientSpans
from tests.app.conventions.encodings import ENCODINGS


@pytest.fixture(params=ENCODINGS)
def encoding(request: pytest.FixtureRequest) -> str:
    """Each content attribute as JSON text, then as a structured OTLP value."""
    return request.param


@pytest.fixture
def client_spans(monkeypatch: pytest.MonkeyPatch) -> ClientSpans:
    return ClientSpans(monkeypatch)
