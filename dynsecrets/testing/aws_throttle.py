"""``ThrottlingFront``: a cloud's rate limit in front of moto (a token bucket that
answers AWS's ``Throttling`` error above ``rate`` calls per second). Importable
from :mod:`dynsecrets.testing.aws`, with ``MotoServer``."""

from __future__ import annotations

import urllib.request
from typing import Any

__all__ = ["ThrottlingFront"]


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
        from .aws import MotoServer

        return MotoServer(self.host, self.port).config(region) | {
            "iam_endpoint": self.url,
            "sts_endpoint": self.url,
        }

    def start(self) -> ThrottlingFront:
        import socket

        from .aws import _listening

        if self.process:
            import subprocess
            import sys

            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
            code = (
                "import sys; from dynsecrets.testing.aws_throttle import ThrottlingFront as F; "
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
