"""A moto server on a free loopback port, for tests and examples that need AWS.

    with MotoServer() as moto:
        mount.configure(**moto.config())   # iam_endpoint / sts_endpoint point at it
        iam = moto.client("iam")           # a separate client to check state

Needs ``moto[server]`` (the ``test`` extra).
"""

from __future__ import annotations

import urllib.request
from typing import Any

__all__ = ["AWSFaults", "MotoServer"]


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
        import time

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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
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


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


class AWSFaults:
    """Fault injection for boto3 clients through botocore's own event hooks.

    ``error(op, code)`` answers the next call of ``op`` with an AWS error response
    (the request never leaves the process); ``requests`` holds each call's
    serialized parameters (moto ignores some, such as permissions boundaries);
    ``after(op, fn)`` runs ``fn`` once
    ``op`` has succeeded at the server (raise from it to simulate a crash right
    after that call). ``calls`` lists every operation in order.

        faults = AWSFaults()
        mount.provider.clients.instrument(faults.attach)
        faults.error("CreateAccessKey", "AccessDenied")
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._errors: list[list[Any]] = []
        self._after: list[list[Any]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._before)
        client.meta.events.register("after-call.*.*", self._after_call)

    def error(
        self,
        operation: str,
        code: str,
        *,
        status: int = 400,
        times: int = 1,
        message: str = "injected by AWSFaults",
    ) -> None:
        self._errors.append([operation, code, status, times, message])

    def after(self, operation: str, fn: Any, *, nth: int = 1) -> None:
        self._after.append([operation, fn, nth])

    def lose_reply(self, operation: str, *, nth: int = 1) -> None:
        """The ``nth`` call of ``operation`` takes effect at the server, then its reply
        is lost (the connection drops), as a flaky network does."""

        def drop() -> None:
            from botocore.exceptions import ConnectionClosedError

            raise ConnectionClosedError(endpoint_url=f"lost reply to {operation}")

        self.after(operation, drop, nth=nth)

    def clear(self) -> None:
        self._errors.clear()
        self._after.clear()

    def _before(self, model: Any, params: Any = None, **_: Any) -> Any:
        self.calls.append(model.name)
        self.requests.append((model.name, dict((params or {}).get("body") or {})))
        for entry in self._errors:
            op, code, status, times, message = entry
            if op == model.name and times > 0:
                entry[3] -= 1
                return _Http(status), {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                }
        return None

    def _after_call(self, model: Any, http_response: Any, **_: Any) -> None:
        if getattr(http_response, "status_code", 500) >= 300:
            return
        for entry in self._after:
            op, fn, _ = entry
            if op == model.name:
                entry[2] -= 1
                if entry[2] == 0:
                    fn()
