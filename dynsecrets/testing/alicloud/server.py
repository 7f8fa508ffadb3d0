"""A local fake of Alibaba Cloud RAM and STS, over TLS, for tests and examples.

    with FakeAliCloud() as ali:
        mount.configure(**ali.config())     # endpoints and the throwaway CA
        ali.account.users                   # the test's own view of RAM

It speaks the RPC protocol the V2.0 SDK uses (``x-acs-action``/``x-acs-version``,
parameters in the query string or a form body), verifies every request's
ACS3-HMAC-SHA256 signature and refuses a wrong one, a reused nonce or an unknown
key as Alibaba does. The certificate comes from a CA made for this server alone
(``trustme``, the ``test`` extra), so the provider is tested on its TLS path.
"""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .signing import SignatureError, verify
from .state import Account, ApiError

__all__ = ["AliFaults", "FakeAliCloud"]

VERSIONS = {"2015-05-01", "2015-04-01"}  # RAM, STS
#: Parameters never kept in the request log (the log is for assertions, not secrets).
_SECRET_PARAMS = frozenset({"Policy", "PolicyDocument"})


class AliFaults:
    """Fault injection at the fake: ``error(action, code)`` answers the next call of
    ``action`` with that error; ``lose_reply(action)`` lets it take effect, then drops
    the connection before the reply; ``calls`` lists every signed action served."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._errors: list[list[Any]] = []
        self._lost: list[list[Any]] = []
        self._lock = threading.Condition()

    def error(
        self, action: str, code: str, *, status: int = 400, times: int = 1, message: str = ""
    ) -> None:
        with self._lock:
            self._errors.append([action, code, status, times, message or f"injected {code}"])

    def lose_reply(self, action: str, *, nth: int = 1) -> None:
        with self._lock:
            self._lost.append([action, nth])

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._lost.clear()
            self.calls.clear()
            self.requests.clear()

    def wait_for_calls(self, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` calls have been answered in total (no polling)."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.calls) >= count, timeout)

    def _before(self, action: str, params: dict[str, str]) -> ApiError | None:
        with self._lock:
            self.requests.append(
                (action, {k: v for k, v in params.items() if k not in _SECRET_PARAMS})
            )
            for entry in self._errors:
                if entry[0] == action and entry[3] > 0:
                    entry[3] -= 1
                    return ApiError(entry[2], entry[1], entry[4])
        return None

    def _lost_now(self, action: str) -> bool:
        with self._lock:
            for entry in self._lost:
                if entry[0] == action and entry[1] > 0:
                    entry[1] -= 1
                    if entry[1] == 0:
                        return True
        return False

    def _done(self, action: str) -> None:
        with self._lock:
            self.calls.append(action)
            self._lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request otherwise; and requests carry credentials

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps({"RequestId": str(uuid.uuid4()).upper(), **body}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(
            status,
            {
                "HostId": self.headers.get("host", ""),
                "Code": code,
                "Message": message,
                "Recommend": "",
            },
        )

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            caller = verify(
                self.command, url.path, url.query, headers, body, fake.account.secret_for
            )
        except SignatureError as exc:
            self._error(exc.status, exc.code, exc.message)
            return
        try:
            fake.account.check_token(caller, headers.get("x-acs-security-token"))
        except ApiError as exc:
            self._error(exc.status, exc.code, exc.message)
            return
        nonce = headers["x-acs-signature-nonce"]
        with fake.nonce_lock:
            if nonce in fake.nonces:
                self._error(
                    400, "SignatureNonceUsed", "Specified signature nonce was used already."
                )
                return
            fake.nonces.add(nonce)
        action, version = headers["x-acs-action"], headers["x-acs-version"]
        if version not in VERSIONS:
            self._error(
                400, "InvalidVersion", f"Specified parameter Version is not valid: {version}"
            )
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if body and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        fake.last_request = (self.command, url.path, url.query, headers, body)
        injected = fake.faults._before(action, params)
        try:
            if injected is not None:
                raise injected
            result = fake.account.handle(action, params, caller)
        except ApiError as exc:
            # Recorded before the reply goes out: a test that reads `calls` once its
            # client has the answer must find the call there.
            fake.faults._done(action)
            self._error(exc.status, exc.code, exc.message)
            return
        for hook in list(fake.hooks):
            hook(action)
        if fake.faults._lost_now(action):
            # The action took effect; the caller never hears of it.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            fake.faults._done(action)
            return
        fake.faults._done(action)
        self._reply(200, result)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAliCloud
    tls: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # Headers and body go out in two writes: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every reply.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The handshake runs in the connection's own thread, not in the accept loop.
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that drop connections (lost replies, killed processes) are expected


class FakeAliCloud:
    """RAM and STS on ``https://127.0.0.1:<port>``, with a fresh account holding a
    RAM user ``dynsecrets-root`` with AliyunRAMFullAccess and AliyunSTSAssumeRoleAccess
    attached, and its access key (what ``config()`` returns)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.account = Account()
        self.faults = AliFaults()
        #: ``hook(action)`` runs after an action took effect, before its reply.
        self.hooks: list[Callable[[str], None]] = []
        self.nonces: set[str] = set()
        #: The last signed request as received: (method, path, query, headers, body).
        self.last_request: tuple[str, str, str, dict[str, str], bytes] | None = None
        self.nonce_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        root = self.account.add_user("dynsecrets-root")
        self.root_key = self.account.add_key(root.name)
        # A root user as an operator sets one up: RAM for users and keys, STS for roles.
        self.account.attach(root.name, "AliyunRAMFullAccess", "AliyunSTSAssumeRoleAccess")

    @property
    def ca_bundle(self) -> str:
        assert self._dir is not None, "start the server first"
        return str(Path(self._dir.name) / "ca.pem")

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> FakeAliCloud:
        try:
            import trustme
        except ImportError as exc:
            from ...errors import MissingDependency

            raise MissingDependency(
                "FakeAliCloud needs trustme; pip install 'dynsecrets[test]'"
            ) from exc
        ca = trustme.CA()
        cert = ca.issue_cert(self.host, "localhost")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(tls)
        self._dir = tempfile.TemporaryDirectory(prefix="dynsecrets-fake-alicloud-")
        ca.cert_pem.write_to_path(self.ca_bundle)
        server = _Server((self.host, self.port), _Handler)
        server.fake, server.tls = self, tls
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-alicloud", daemon=True
        )
        self._thread.start()
        return self

    def config(self, region: str = "cn-hangzhou") -> dict[str, Any]:
        """Root config for an ``alicloud`` mount that talks to this fake."""
        return {
            "access_key": self.root_key.key_id,
            "secret_key": self.root_key.secret,
            "region": region,
            "ram_endpoint": self.endpoint,
            "sts_endpoint": self.endpoint,
            "ca_bundle": self.ca_bundle,
        }

    def managed_users(self) -> list[str]:
        """Users other than the root user."""
        with self.account.lock:
            return sorted(n for n in self.account.users if n != "dynsecrets-root")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> FakeAliCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
