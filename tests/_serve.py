"""`dynsecrets serve` in a subprocess on a free loopback port, and the CLI that manages
its tokens and policies on the same store. Readiness is the server's own log line
and then `sys/health`, polled within a bound: never a fixed sleep."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BAO = Path(sys.executable).parent / "bao"


def env_for(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["DYNSECRETS_STORE"] = f"sqlite:///{store}"
    return env


def cli(store: Path, *args: str, stdin: str | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dynsecrets", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env_for(store),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def new_token(store: Path, *policies: str, ttl: str = "1000h", orphan: bool = False) -> str:
    args = ["token", "create", "-format=json", f"-ttl={ttl}", *(f"-policy={p}" for p in policies)]
    out = cli(store, *args, *(["-orphan"] if orphan else []))
    return str(json.loads(out)["auth"]["client_token"])


class Server:
    def __init__(self, store: Path, *extra: str) -> None:
        self.store = store
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dynsecrets", "serve", "-address=127.0.0.1:0", *extra],
            env=env_for(store),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._wait_for_address()
        self._wait_healthy()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._queue.put(line)

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if "listening on " in line:
                return str(json.loads(line)["message"].split()[2])
        raise AssertionError(f"serve did not start: {''.join(self.lines)}")

    def _wait_healthy(self) -> None:
        for _ in range(200):  # bounded: each try waits at most 0.5 s
            try:
                with urllib.request.urlopen(f"{self.url}/v1/sys/health", timeout=0.5) as r:
                    if r.status == 200:
                        return
            except OSError:
                if self.proc.poll() is not None:
                    break
                threading.Event().wait(0.05)  # between connection attempts only
        raise AssertionError(f"serve never became healthy: {''.join(self.lines)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def bao(self, token: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **env_for(self.store),
            "BAO_ADDR": self.url,
            "BAO_TOKEN": token,
            "HOME": str(self.store.parent),  # no token helper file of the user's
        }
        proc = subprocess.run(
            [str(BAO), *args], capture_output=True, text=True, env=env, timeout=60
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc


@contextmanager
def serving(store: Path, *extra: str) -> Iterator[Server]:
    server = Server(store, *extra)
    try:
        yield server
    finally:
        server.stop()


def request(
    url: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """One raw HTTP request: the status and the decoded JSON body (None if empty)."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}/v1/{path}", data=data, method=method)
    if token:
        req.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None
