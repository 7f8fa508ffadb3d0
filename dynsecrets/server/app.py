"""The ASGI application: Starlette in front of :class:`~dynsecrets.server.routes.Api`.

Requests are decoded here (a size-limited body read under a timeout, JSON that must
be an object) and handed to the synchronous dispatcher in Starlette's thread pool,
so a slow cloud call never stalls other requests. Every request is logged with its
method, path, status, duration and actor (the token's accessor): never a token,
a query string, a request body or a response body.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .responses import ApiError, Reply, error_reply
from .routes import Api, Call

if TYPE_CHECKING:
    from ..engine import Engine
    from ..lifecycle.events import Event

__all__ = ["create_app"]

log = logging.getLogger("dynsecrets.server")
requests_log = logging.getLogger("dynsecrets.server.requests")

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "LIST", "PATCH", "OPTIONS"]
_GONE = frozenset({"revoke", "expire", "recover", "rollback"})


class _Sweeper:
    """Revokes the leases of revoked and expired tokens, in a background thread."""

    def __init__(self, api: Api, interval: float) -> None:
        self.api = api
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dynsecrets-tokens", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.api.tokens.sweep()
            except Exception:  # the next pass retries; a sweep must not kill the server
                log.exception("token sweep failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


async def _body(request: Request, limit: int, timeout: float) -> dict[str, Any]:
    import anyio

    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, f"request body too large: the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:  # a chunked body declares no length
                    raise ApiError(413, f"request body too large: the limit is {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"request body not received within {timeout:g}s") from None
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"failed to decode JSON input: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "failed to decode JSON input: expected a JSON object")
    # Vault's clients send null for "not set" (hvac's max_retries, for one).
    return {k: v for k, v in body.items() if v is not None}


def _query(request: Request) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in query:
            old = query[key]
            query[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            query[key] = value
    return query


def _response(reply: Reply, head: bool = False) -> Response:
    headers = {"Cache-Control": "no-store"}
    if reply.body is None or head:
        return Response(status_code=reply.status, headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def create_app(
    engine: Engine,
    *,
    max_request_size: int = 1 << 20,
    body_timeout: float = 30.0,
    sweep_interval: float = 1.0,
) -> Starlette:
    """The HTTP API over ``engine``. The caller owns the engine (and its worker)."""
    api = Api(engine)

    async def endpoint(request: Request) -> Response:
        started = time.monotonic()
        method = request.method.upper()
        path = request.path_params.get("path", "")
        actor: str | None = None
        try:
            body = await _body(request, max_request_size, body_timeout)
            call = Call(
                method="POST" if method == "PUT" else method,
                path=path,
                query=_query(request),
                body=body,
                headers=dict(request.headers),
            )
            reply, actor = await run_in_threadpool(api.dispatch, call)
        except Exception as exc:
            reply = error_reply(exc)
        requests_log.info(
            "%s /v1/%s %d %s %.1fms",
            method,
            path,
            reply.status,
            actor or "-",
            (time.monotonic() - started) * 1000,
            extra={"event": "request"},
        )
        return _response(reply, head=method == "HEAD")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = (
            "unsupported path; the API is served under /v1/"
            if status == 404
            else "unsupported operation"
        )
        return JSONResponse({"errors": [message]}, status_code=status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = _Sweeper(api, sweep_interval)

        def forget(event: Event) -> None:
            if event.kind in _GONE:
                api.tokens.forget_lease(event.lease_id)

        unsubscribe = engine.subscribe(forget)
        sweeper.start()
        log.info("dynsecrets server ready")
        try:
            yield
        finally:
            sweeper.stop()
            unsubscribe()

    app = Starlette(
        routes=[Route("/v1/{path:path}", endpoint, methods=METHODS)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.api = api
    return app
