"""Leases issued and expired per second through PostgreSQL by 1, 2 and 4 worker
processes. Run as a script, this is one such process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def node(url: str, mode: str, n: int) -> None:
    from dynsecrets import Engine

    from ._null import KEY, registry

    engine = Engine.open(url, registry=registry(), key=KEY)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    if mode == "issue":
        mount = engine.mount("b")
        for _ in range(n):
            mount.issue("r", ttl=3600)
    else:
        engine.start_worker(interval=0.05)
        while engine.store.next_due() is not None:
            time.sleep(0.01)
    engine.close()


def _phase(url: str, mode: str, procs: int, per: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.pg_nodes", url, mode, str(per)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    for p in nodes:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start = time.perf_counter()
    for p in nodes:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in nodes:
        p.wait(timeout=600)
        assert p.returncode == 0
    return time.perf_counter() - start


def run(pg_url: str, *, total: int) -> dict[int, dict[str, float]]:
    from dynsecrets import Engine
    from dynsecrets.store.postgres import PostgresStore

    from ._null import KEY, registry

    out: dict[int, dict[str, float]] = {}
    for procs in (1, 2, 4):
        url = f"{pg_url}?schema=bench_nodes_{uuid.uuid4().hex[:8]}"
        with Engine.open(url, registry=registry(), key=KEY) as engine:
            engine.enable("b", "null").write_role("r")
        issue_s = _phase(url, "issue", procs, total // procs)
        store: Any = PostgresStore(url)
        store._exec("UPDATE leases SET expires_at = 0, due_at = 0")  # all due now
        expire_s = _phase(url, "expire", procs, 0)
        left = store.count_leases("b")
        store.drop_schema()
        store.close()
        assert left == 0, left
        out[procs] = {"issued_per_s": total / issue_s, "expired_per_s": total / expire_s}
    return out


if __name__ == "__main__":
    node(sys.argv[1], sys.argv[2], int(sys.argv[3]))
