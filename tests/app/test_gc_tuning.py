"""The garbage collector settings of serving processes: the collector and its workers."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import uvicorn
from click.testing import CliRunner

from app import gc_tuning
from app.cli import main
from app.decoding import Decoder
from tests.collector_process import free_port


def test_tuning_freezes_what_the_process_holds_and_collects_young_objects_less_often() -> None:
    # In a process of its own: the test process keeps CPython's defaults.
    probe = (
        "import gc; from app import gc_tuning; before = gc.get_threshold();"
        " gc_tuning.tune_for_serving(); print(before[0], gc.get_threshold(), gc.get_freeze_count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split(maxsplit=1)
    default, (threshold, frozen) = int(out[0]), out[1].rsplit(maxsplit=1)
    assert default == 700
    assert threshold == repr((gc_tuning.YOUNG_THRESHOLD, *gc.get_threshold()[1:]))
    assert int(frozen) > 1_000  # what the process holds, out of the collector's sight


def test_serve_tunes_its_process_before_it_serves(tmp_path: Path, monkeypatch) -> None:
    steps: list[str] = []
    monkeypatch.setattr(gc_tuning, "tune_for_serving", lambda: steps.append("tuned"))

    def serve(_server: uvicorn.Server, sockets: list) -> None:
        steps.append("served")
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", serve)
    args = ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert steps == ["tuned", "served"]


def test_decoding_workers_are_tuned_as_the_collector_is() -> None:
    decoder = Decoder(1)
    try:
        threshold = decoder._executor.submit(gc.get_threshold).result(timeout=60)
        frozen = decoder._executor.submit(gc.get_freeze_count).result(timeout=60)
    finally:
        decoder.close()
    assert threshold[0] == gc_tuning.YOUNG_THRESHOLD
    assert frozen > 0
