"""A moto server on a free loopback port, for tests and examples that need AWS.

    with MotoServer() as moto:
        mount.configure(**moto.config())   # iam_endpoint / sts_endpoint point at it
        iam = moto.client("iam")           # a separate client to check state

``ThrottlingFront`` stands in front of it as a cloud's rate limit does: above
``rate`` calls per second it answers AWS's ``Throttling`` error itself.

Needs ``moto[server]`` (the ``test`` extra).
"""

from __future__ import annotations

import urllib.request
from typing import Any

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


_THROTTLED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="https://iam.amazonaws.com/doc/'
    b'2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded'
    b"</Message></Error><RequestId>throttled-by-front</RequestId></ErrorResponse>"
)


class _Bucket:
    """A token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        import threading
        import time

        self.rate, self.burst, self.tokens = rate, burst, burst
        self._time = time.monotonic
        self.last = self._time()
        self.admitted = self.throttled = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self._time()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                self.admitted += 1
                return True
            self.throttled += 1
            return False


def _front_handler(target: tuple[str, int], bucket: _Bucket) -> Any:
    import http.client
    import json
    import threading
    from http.server import BaseHTTPRequestHandler

    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
        # Headers and body go out in two writes: without this, Nagle's algorithm and
        # the client's delayed ACK hold each reply back ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # one line per request otherwise
            pass

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/_front/stats":
                stats = {"admitted": bucket.admitted, "throttled": bucket.throttled}
                self._reply(200, json.dumps(stats).encode(), "application/json")
                return
            if self.path == "/_front/reset":
                with bucket.lock:
                    bucket.admitted = bucket.throttled = 0
                    bucket.tokens, bucket.last = bucket.burst, bucket._time()
                self._reply(200, b"{}", "application/json")
                return
            if not self.path.startswith("/moto-api") and not bucket.take():
                self._reply(400, _THROTTLED, "text/xml")
                return
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(*target, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                local.conn = None
                conn.close()
                self._reply(502, b"front: upstream failed", "text/plain")
                return
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

    return Handler


class ThrottlingFront:
    """A rate limit in front of an AWS endpoint (moto): calls above ``rate`` per
    second (a token bucket of ``burst`` calls, default one second's worth) are
    answered ``400 Throttling`` as AWS does; the rest are forwarded.

        with MotoServer() as moto, ThrottlingFront(moto.url, rate=20) as front:
            mount.configure(**front.config())
            ...
            front.stats()   # {"admitted": ..., "throttled": ...}

    ``process=True`` serves from a process of its own, so that a benchmark's
    client and the front do not share one interpreter lock.
    """

    def __init__(
        self,
        target: str,
        *,
        rate: float,
        burst: float | None = None,
        host: str = "127.0.0.1",
        process: bool = False,
    ) -> None:
        import urllib.parse

        parsed = urllib.parse.urlsplit(target)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.rate = float(rate)
        self.burst = float(rate if burst is None else burst)
        self.host = host
        self.port = 0
        self.process = process
        self._server: Any = None
        self._proc: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config(self, region: str = "us-east-1") -> dict[str, Any]:
        """Root config for an ``aws`` mount that talks to the cloud through the front."""
        return MotoServer(self.host, self.port).config(region) | {
            "iam_endpoint": self.url,
            "sts_endpoint": self.url,
        }

    def start(self) -> ThrottlingFront:
        import socket

        if self.process:
            import subprocess
            import sys

            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
            code = (
                "import sys; from dynsecrets.testing.aws import ThrottlingFront as F; "
                "F._serve(sys.argv[1], int(sys.argv[2]), (sys.argv[3], int(sys.argv[4])), "
                "float(sys.argv[5]), float(sys.argv[6]))"
            )
            args = [self.host, str(self.port), *map(str, self.target), str(self.rate)]
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code, *args, str(self.burst)],
                stdout=subprocess.DEVNULL,
            )
            if _listening(self._proc, self.host, self.port):
                return self
            self.stop()
            raise RuntimeError(f"throttling front did not start on {self.host}:{self.port}")
        import threading

        self._server = self._make(self.host, 0, self.target, self.rate, self.burst)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @staticmethod
    def _make(host: str, port: int, target: tuple[str, int], rate: float, burst: float) -> Any:
        from http.server import ThreadingHTTPServer

        server = ThreadingHTTPServer((host, port), _front_handler(target, _Bucket(rate, burst)))
        server.daemon_threads = True
        return server

    @staticmethod
    def _serve(host: str, port: int, target: tuple[str, int], rate: float, burst: float) -> None:
        ThrottlingFront._make(host, port, target, rate, burst).serve_forever()

    def _get(self, path: str) -> dict[str, int]:
        import json

        req = urllib.request.Request(self.url + path, method="POST")  # noqa: S310 (loopback)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return dict(json.loads(resp.read()))

    def stats(self) -> dict[str, int]:
        """Calls forwarded (``admitted``) and answered ``Throttling`` so far."""
        return self._get("/_front/stats")

    def reset(self) -> None:
        """Zero the counts and refill the bucket."""
        self._get("/_front/reset")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ThrottlingFront:
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
