"""A moto server on a free loopback port, for tests and examples that need AWS.

    with MotoServer() as moto:
        mount.configure(**moto.config())   # iam_endpoint / sts_endpoint point at it
        iam = moto.client("iam")           # a separate client to check state

``ThrottlingFront`` (:mod:`.aws_throttle`) stands in front of it as a cloud's rate
limit does: above ``rate`` calls per second it answers AWS's ``Throttling`` error
itself. ``AWSFaults`` (:mod:`.aws_faults`) injects errors into boto3 clients.

Needs ``moto[server]`` (the ``test`` extra).
"""

from __future__ import annotations

import urllib.request
from typing import Any

# The fault injection and the rate limit live in modules of their own; their names
# stay importable from here.
from .aws_faults import AWSFaults, _Http  # noqa: F401 (tests import _Http from here)
from .aws_throttle import ThrottlingFront

__all__ = ["AWSFaults", "MotoServer", "ThrottlingFront"]


def _listening(proc: Any, host: str, port: int) -> bool:
    """Wait (at most 30 s, while ``proc`` lives) until ``host:port`` accepts a connection."""
    import socket
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class MotoServer:
    """moto in server mode, over HTTP on 127.0.0.1, in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        aws_managed_policies: bool = False,
        process: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.aws_managed_policies = aws_managed_policies
        #: Run moto in its own process (benchmarks: client and server then do not
        #: share one interpreter lock), rather than in a thread of this one.
        self.process = process
        self._server: Any = None
        self._proc: Any = None

    def start(self) -> MotoServer:
        if self.process:
            return self._start_process()
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            from ..errors import MissingDependency

            raise MissingDependency("MotoServer needs moto; pip install 'moto[server]'") from exc
        import logging
        import os

        if self.aws_managed_policies:  # arn:aws:iam::aws:policy/...; costs ~0.7 s per reset
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config(self, region: str = "us-east-1") -> dict[str, Any]:
        """Root config for an ``aws`` mount that talks to this server."""
        return {
            "access_key": "AKIAMOTOTESTING00000",
            "secret_key": "moto-testing-secret",
            "region": region,
            "iam_endpoint": self.url,
            "sts_endpoint": self.url,
        }

    def client(self, service: str, region: str = "us-east-1") -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="AKIAMOTOTESTING00000",
            aws_secret_access_key="moto-testing-secret",  # noqa: S106 (moto accepts any)
        )

    def reset(self) -> None:
        """Forget all state (moto's reset API)."""
        url = f"{self.url}/moto-api/reset"  # always http://host:port: built above
        req = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310
            pass

    def _start_process(self) -> MotoServer:
        import os
        import socket
        import subprocess
        import sys

        if not self.port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        env = dict(os.environ)
        if self.aws_managed_policies:
            env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        if _listening(self._proc, self.host, self.port):
            return self
        self.stop()
        raise RuntimeError(f"moto server did not start on {self.host}:{self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
