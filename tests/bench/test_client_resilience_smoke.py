"""A tiny run of bench/client_resilience.py, so that the script keeps working as the code moves.

It is not in bench/run_all's table, so it is run here directly, as the other smoke tests run
theirs: the script must exit 0 and print a row for each collector case. The figures themselves
are meaningless at this size.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_tiny_run() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "client_resilience.py"), "--calls", "20"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert rows == ["up", "down", "500", "hanging"], result.stdout
