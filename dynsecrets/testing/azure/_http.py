"""The TLS HTTP server the Azure fakes run on, with fault injection shared by all
three services (identity platform, Graph, ARM)."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["AzureFaults", "HTTPError", "Request", "Route", "Service"]


class HTTPError(Exception):
    """An error reply in Graph's and ARM's shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str = "", body: Any = None) -> None:
        self.status, self.code, self.message = status, code, message or code
        self.body = body if body is not None else {"error": {"code": code, "message": self.message}}
        super().__init__(f"{status} {code}")


class Request:
    def __init__(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes):
        self.method, self.path, self.query, self.headers, self.raw = (
            method,
            path,
            query,
            headers,
            body,
        )

    def json(self) -> Any:
        try:
            return json.loads(self.raw or b"{}")
        except ValueError as exc:
            raise HTTPError(400, "BadRequest", "the body is not JSON") from exc

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode()).items()}


Handler = Callable[..., tuple[int, Any]]


class Route:
    def __init__(self, method: str, pattern: str, operation: str, handler: Handler) -> None:
        self.method, self.regex, self.operation, self.handler = (
            method,
            re.compile(pattern, re.IGNORECASE),
            operation,
            handler,
        )


class _Fault:
    def __init__(self, status: int, code: str, message: str, times: int) -> None:
        self.status, self.code, self.message, self.times = status, code, message, times


class AzureFaults:
    """Faults by operation name (``CreateApplication``, ``AddPassword``,
    ``CreateRoleAssignment``, ``Token``, ...; see each service's routes):

    - ``error(op, status, code)``: the next ``times`` calls fail with that reply;
    - ``lose_reply(op)``: the next call takes effect, then the connection drops;
    - ``calls``: every operation served, in order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: dict[str, list[_Fault]] = {}
        self._lose: dict[str, int] = {}
        self.calls: list[str] = []

    def error(
        self, operation: str, status: int, code: str, *, message: str = "", times: int = 1
    ) -> None:
        with self._lock:
            self._errors.setdefault(operation, []).append(_Fault(status, code, message, times))

    def lose_reply(self, operation: str, *, times: int = 1) -> None:
        with self._lock:
            self._lose[operation] = self._lose.get(operation, 0) + times

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._lose.clear()
            self.calls.clear()

    def _before(self, operation: str) -> HTTPError | None:
        with self._lock:
            self.calls.append(operation)
            queue = self._errors.get(operation) or []
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return HTTPError(fault.status, fault.code, fault.message)
        return None

    def _take_lose(self, operation: str) -> bool:
        with self._lock:
            if self._lose.get(operation):
                self._lose[operation] -= 1
                return True
        return False


class Service:
    """One HTTPS service: routes matched in order against the request path."""

    def __init__(
        self,
        name: str,
        routes: list[Route],
        faults: AzureFaults,
        fault_body: Callable[[HTTPError], Any] | None = None,
    ) -> None:
        self.name, self.routes, self.faults = name, routes, faults
        #: The service's own error shape for an injected fault (the identity platform
        #: answers OAuth errors, not Graph's ``{"error": {"code", "message"}}``).
        self.fault_body = fault_body or (lambda err: err.body)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def operation_of(self, method: str, path: str) -> tuple[Route, re.Match[str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.regex.fullmatch(path)
                if m:
                    return route, m
        return None

    def start(self, context: ssl.SSLContext, host: str = "127.0.0.1") -> Service:
        service = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tokens and secrets travel in these requests

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                found = service.operation_of(self.command, parts.path)
                if found is None:
                    self._reply(404, {"error": {"code": "NotFound", "message": parts.path}})
                    return
                route, match = found
                injected = service.faults._before(route.operation)
                if injected is not None:
                    self._reply(injected.status, service.fault_body(injected))
                    return
                req = Request(self.command, parts.path, query, self.headers, body)
                try:
                    status, reply = route.handler(req, **match.groupdict())
                except HTTPError as err:
                    status, reply = err.status, err.body
                if service.faults._take_lose(route.operation):
                    # It happened; the caller never hears so.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._reply(status, reply)

            def _reply(self, status: int, reply: Any) -> None:
                data = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that went away mid-reply (a killed test process) is expected.
                import sys

                if not isinstance(sys.exc_info()[1], OSError):
                    super().handle_error(request, client_address)

        server = Server((host, 0), H)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"azure-fake-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
