"""SIGKILL a victim process at a point it reports: the victim prints ``ready``, then
``call <name>`` after each cloud call it completes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kill_after_calls(module: str, args: list[str], env: Mapping[str, str], calls: int) -> None:
    """Run ``python -m module *args``, wait until it has completed ``calls`` cloud calls,
    then kill it with SIGKILL (no cleanup code of the victim runs)."""
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    for _ in range(calls):
        assert child.stdout.readline().startswith("call ")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
