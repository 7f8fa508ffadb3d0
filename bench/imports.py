"""Workload 4: import cost and the first use of each provider, in fresh processes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

FIRST_USE = {
    "fake": "from dynsecrets.testing import FakeProvider; FakeProvider().validate_config({})",
    "aws": (
        "from dynsecrets.providers.aws import AWSProvider; "
        "AWSProvider().clients.get('iam', {'region': 'us-east-1', 'iam_endpoint': 'http://127.0.0.1:1'})"
    ),
    "alicloud": (
        "from dynsecrets.providers.alicloud import AliCloudProvider; "
        "AliCloudProvider().clients.get('ram', {'access_key': 'a', 'secret_key': 'b'})"
    ),
    "postgres store": "from dynsecrets.store.postgres import PostgresStore; import psycopg, psycopg_pool",
}

TIMER = r"""
import json, sys, time
exec(sys.argv[1])
t = time.perf_counter()
exec(sys.argv[2])
print(json.dumps((time.perf_counter() - t) * 1e3))
"""


def _ms(code: str, repeats: int, setup: str = "pass") -> float:
    """Median ms of ``code`` in fresh processes, after ``setup`` (not timed)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", TIMER, setup, code], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(out.stdout))
    return statistics.median(runs)


def open_over_bare(repeats: int) -> dict[str, float]:
    """Whole fresh processes, interleaved: ``Engine.open('memory://')`` against bare
    ``python -c pass``; the difference is what a user waits for the engine."""
    import time

    codes = {
        "bare": "pass",
        "open": "import dynsecrets; dynsecrets.Engine.open('memory://')",
        "floor": "import typing, logging, attrs, sqlite3, json",
    }
    runs: dict[str, list[float]] = {k: [] for k in codes}
    for _ in range(max(repeats, 11)):
        for key, code in codes.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            runs[key].append((time.perf_counter() - t) * 1e3)
    m = {k: statistics.median(v) for k, v in runs.items()}
    return {
        "bare_ms": m["bare"],
        "open_over_bare_ms": m["open"] - m["bare"],
        "floor_over_bare_ms": m["floor"] - m["bare"],
    }


def run(*, repeats: int) -> dict[str, Any]:
    core = _ms("import dynsecrets", repeats)
    engine = _ms("import dynsecrets; dynsecrets.Engine", repeats)
    floor = _ms("import typing, logging, attrs", repeats)  # what the engine cannot do without
    first = {}
    for name, code in FIRST_USE.items():
        try:
            first[name] = _ms(code, repeats, setup="import dynsecrets; dynsecrets.Engine")
        except subprocess.CalledProcessError:
            first[name] = None
    return {
        "import_ms": core,
        "engine_ms": engine,
        "floor_ms": floor,
        "first_use_ms": first,
        "open": open_over_bare(repeats),
    }
