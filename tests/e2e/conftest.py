from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector_process import Collector


@pytest.fixture
def collector(tmp_path: Path, database_url: str) -> Iterator[Collector]:
    """A collector process on the database the suite runs against."""
    running = Collector(tmp_path / "collector-data", database_url=database_url).start()
    yield running
    running.stop()
