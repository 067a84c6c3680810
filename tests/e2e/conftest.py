from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector_process import Collector


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    running = Collector(tmp_path / "collector-data").start()
    yield running
    running.stop()
