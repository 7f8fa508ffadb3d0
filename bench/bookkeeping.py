"""Workload 2: lease bookkeeping at scale, with a zero-latency provider, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dynsecrets import Engine
from dynsecrets.store import open_store

from ._null import KEY, NullProvider, registry

ROOT = Path(__file__).resolve().parent.parent


def _engine(url: str, **kw: Any) -> Engine:
    return Engine.open(url, registry=registry(), key=KEY, **kw)


def _setup(url: str) -> Engine:
    engine = _engine(url)
    engine.enable("b", "null").write_role("r")
    return engine


def issue_rate(url: str, n: int, threads: int) -> float:
    """Leases issued per second, ``threads`` callers at once."""
    engine = _setup(url)
    mount = engine.mount("b")
    per = n // threads

    def work() -> None:
        for _ in range(per):
            mount.issue("r")

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    engine.close()
    return per * threads / elapsed


def revoke_prefix_rate(url: str, n: int) -> float:
    engine = _setup(url)
    bulk_insert(engine, n, due_in=86400)
    start = time.perf_counter()
    summary = engine.revoke_prefix("b/")
    elapsed = time.perf_counter() - start
    engine.close()
    assert summary.revoked == n, summary
    return n / elapsed


def bulk_insert(engine: Engine, n: int, *, due_in: float, start_at: float | None = None) -> float:
    """Insert ``n`` active leases straight into the store (what issuing them would
    leave there), all expiring at one moment. Returns that moment."""
    now = time.time() if start_at is None else start_at
    due = now + due_in
    rows = [
        (
            f"b/creds/r/{i:024d}",
            "b",
            "r",
            "active",
            json.dumps({"lease_id": f"b/creds/r/{i:024d}"}),
            '{"n":1}',
            now,
            due,
            due + 3600,
            due,
            True,
            True,
            0,
        )
        for i in range(n)
    ]
    cols = (
        "lease_id, mount, role, state, plan, revocation, issued_at, expires_at, max_expires_at, "
        "due_at, renewable, revocable, attempts"
    )
    from dynsecrets.store.sqlite import SQLiteStore

    store: Any = engine.store
    if isinstance(store, SQLiteStore):
        with store._tx() as db:
            db.executemany(f"INSERT INTO leases ({cols}) VALUES ({', '.join('?' * 13)})", rows)
    else:
        with (
            store._conn() as conn,
            conn.cursor() as cur,
            cur.copy(f"COPY leases ({cols}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    return due


def cycle_latency(url: str, n: int) -> dict[str, float]:
    """One thread issuing and revoking ``n`` leases in turn: the tail of a cycle's
    latency (a WAL checkpoint inside a commit shows as the p99.9 and the max)."""
    engine = _setup(url)
    mount = engine.mount("b")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        engine.revoke(mount.issue("r").lease_id)
        times.append(time.perf_counter() - t)
    engine.close()
    times.sort()

    def ms(q: float) -> float:
        return times[min(len(times) - 1, int(len(times) * q))] * 1e3

    return {"p50": ms(0.5), "p99": ms(0.99), "p999": ms(0.999), "max": times[-1] * 1e3}


def expiry_lag(url: str, n: int) -> dict[str, float]:
    """``n`` leases expiring in the same second; lag = revocation time - expiry time."""
    engine = _setup(url)
    NullProvider.revoked_at.clear()
    due = bulk_insert(engine, n, due_in=1.5)
    engine.start_worker(interval=0.2)
    deadline = time.time() + 120
    while len(NullProvider.revoked_at) < n and time.time() < deadline:
        time.sleep(0.02)
    engine.close()
    lags = sorted(t - due for t in NullProvider.revoked_at.values())
    if len(lags) < n:
        raise RuntimeError(f"only {len(lags)} of {n} revoked in time")
    return {"p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99) - 1], "max": lags[-1]}


PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from dynsecrets import Engine
from bench._null import KEY, registry
t1 = time.perf_counter()
engine = Engine.open(sys.argv[1], registry=registry(), key=KEY)
t2 = time.perf_counter()
engine.mount("b").issue("r")
t3 = time.perf_counter()
engine.expire_due()
t4 = time.perf_counter()
rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "open_ms": (t2 - t1) * 1e3,
                  "open_to_issue_ms": (t3 - t1) * 1e3, "open_to_pass_ms": (t4 - t1) * 1e3 - (t3 - t2) * 1e3,
                  "rss_kb": rss}))
"""


def open_costs(url: str, counts: list[int], repeats: int) -> dict[int, dict[str, float]]:
    """Engine.open to first issue and to first worker pass, and RSS, in fresh
    processes over stores holding ``counts`` leases (none of them due)."""
    out: dict[int, dict[str, float]] = {}
    for n in counts:
        engine = _setup(url)
        bulk_insert(engine, n, due_in=86400)
        engine.close()
        runs = []
        for _ in range(repeats):
            proc = subprocess.run(
                [sys.executable, "-c", PROBE, url],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=True,
            )
            runs.append(json.loads(proc.stdout))
        out[n] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        _reset(url)
    return out


def _reset(url: str) -> None:
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
    else:
        store: Any = open_store(url)
        store.drop_schema()
        store.close()


def fresh_sqlite() -> str:
    return f"sqlite:///{tempfile.mkdtemp(prefix='dynsecrets-bench-')}/bench.db"


def run(*, quick: bool, pg_url: str | None, repeats: int) -> dict[str, Any]:
    sizes = [1000] if quick else [10_000, 100_000]
    stored = [0, 10_000] if quick else [0, 100_000, 1_000_000]
    lag_n = 1000 if quick else 10_000
    prefix_n = 1000 if quick else 10_000
    results: dict[str, Any] = {"sqlite": {}, "postgres": {}}
    backends = [("sqlite", fresh_sqlite)]
    if pg_url:
        import uuid

        backends.append(("postgres", lambda: f"{pg_url}?schema=bench_{uuid.uuid4().hex[:10]}"))
    for name, make in backends:
        r = results[name]
        for n in sizes:
            for threads in (1, 8):
                rates = []
                for _ in range(repeats if n <= 10_000 else 1):
                    url = make()
                    rates.append(issue_rate(url, n, threads))
                    _reset(url)
                r[f"issue_rate_{n}_{threads}"] = statistics.median(rates)
        url = make()
        r["cycle_latency"] = cycle_latency(url, 3000 if quick else 30_000)
        r["cycle_latency_n"] = 3000 if quick else 30_000
        _reset(url)
        lags = []
        for _ in range(repeats):
            url = make()
            lags.append(expiry_lag(url, lag_n))
            _reset(url)
        r["expiry_lag"] = {k: statistics.median(x[k] for x in lags) for k in lags[0]}
        r["expiry_lag_n"] = lag_n
        prefix = []
        for _ in range(repeats):
            url = make()
            prefix.append(revoke_prefix_rate(url, prefix_n))
            _reset(url)
        r["revoke_prefix_rate"] = statistics.median(prefix)
        r["revoke_prefix_n"] = prefix_n
        r["open"] = open_costs(make(), stored if name == "sqlite" else stored[:2], repeats)
    return results
