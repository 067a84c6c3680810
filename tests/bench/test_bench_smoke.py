"""One tiny run of each benchmark script, so the scripts keep working as the code moves.

The sizes are `bench/run_all --tiny`'s. The runs start together (each in a process of its own)
when the first of these tests asks for its result, so the whole smoke test costs about as long
as its slowest script; each test then checks its script exited 0 and printed every figure
`bench/run_all` reads from it. The figures themselves are meaningless at these sizes.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90


def _load_run_all() -> ModuleType:
    path = ROOT / "bench" / "run_all"
    loader = importlib.machinery.SourceFileLoader("bench_run_all", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


run_all = _load_run_all()
SMOKE = [bench for bench in run_all.BENCHES if bench.tiny is not None]


def _param(bench: Any) -> Any:
    marks = [pytest.mark.e2e] if bench.starts_collector else []
    return pytest.param(bench.name, marks=marks, id=bench.name)


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future]]:
    """Every selected tiny run, started at once; each test waits for its own."""
    selected = {
        item.callspec.params["name"]
        for item in request.session.items
        if item.module is sys.modules[__name__] and hasattr(item, "callspec")
    }
    home = tmp_path_factory.mktemp("bench-smoke")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "OTEL_"))}
    env |= {"SPYGLASS_DATA_DIR": str(home / "data"), "XDG_DATA_HOME": str(home / "xdg")}
    with ThreadPoolExecutor(max_workers=max(1, len(selected))) as pool:
        futures = {
            bench.name: pool.submit(
                run_all.run, bench, bench.tiny, echo=False, timeout_s=TIMEOUT_S, env=env
            )
            for bench in SMOKE
            if bench.name in selected
        }
        yield futures


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("name", [_param(bench) for bench in SMOKE])
def test_tiny_run(name: str, runs: dict[str, Future]) -> None:
    result = runs[name].result()
    assert not result.skipped, result.skipped
    assert result.status == "ok", f"{result.status}:\n{result.output[-3000:]}"
    missing = [
        figure.name
        for figure in result.bench.figures
        if not figure.optional and figure.find(result.output) is None
    ]
    assert not missing, f"figures not in the output: {missing}\n{result.output[-3000:]}"
