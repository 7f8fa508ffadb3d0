"""Running the server: the listening socket, TLS, uvicorn, the worker, and shutdown.

Loopback by default; any other address needs TLS (1.2 or newer). SIGTERM or SIGINT
stops accepting connections, lets requests in flight finish (up to
``shutdown_timeout``), stops the token sweeper and the expiry worker (which
finishes its pass, so no claim is left to lapse) and closes the store.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["ServeOptions", "check_address", "run"]

log = logging.getLogger("dynsecrets.server")


@attrs.frozen
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8200
    tls_cert: str | None = None
    tls_key: str | None = None
    worker: bool = True
    worker_concurrency: int = 16
    max_request_size: int = 1 << 20
    body_timeout: float = 30.0
    shutdown_timeout: int = 30
    sweep_interval: float = 1.0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(options: ServeOptions) -> None:
    """Refuse what would hand out cloud credentials in clear text over a network."""
    if bool(options.tls_cert) != bool(options.tls_key):
        raise ValidationError("tls", "give both -tls-cert and -tls-key, or neither")
    if not options.tls_cert and not _loopback(options.host):
        raise ValidationError(
            "address",
            f"{options.host} is not a loopback address: serving credentials over the network "
            "needs TLS (-tls-cert and -tls-key); or bind 127.0.0.1",
        )
    if not 0 <= options.port <= 65535:
        raise ValidationError("address", "the port is 0-65535")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=512)
    except OSError as exc:
        raise ValidationError(
            "address", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    # Accepted connections inherit it: uvicorn writes a response's head and body
    # separately, and Nagle would hold the body for the client's delayed ACK (40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def run(
    engine: Engine,
    options: ServeOptions,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT. ``on_ready(url)`` is called once the socket
    listens (port 0 picks a free one). The caller closes ``engine`` afterwards."""
    try:
        import uvicorn
    except ImportError as exc:
        from ..errors import MissingDependency

        raise MissingDependency(
            "serve needs the server extra; install it with: pip install 'dynsecrets[server]'"
        ) from exc
    from .app import create_app

    check_address(options)
    app = create_app(
        engine,
        max_request_size=options.max_request_size,
        body_timeout=options.body_timeout,
        sweep_interval=options.sweep_interval,
    )
    sock = _listen(options.host, options.port)
    config = uvicorn.Config(
        app,
        http="h11",  # accepts Vault's LIST method, which llhttp-based parsers refuse
        lifespan="on",
        log_config=None,
        access_log=False,  # its lines carry query strings; ours (app.py) do not
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(options.shutdown_timeout),
        limit_concurrency=1000,
        ssl_certfile=options.tls_cert,
        ssl_keyfile=options.tls_key,
    )
    config.load()
    if config.ssl is not None:
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_2
    server = uvicorn.Server(config)
    worker = engine.start_worker(concurrency=options.worker_concurrency) if options.worker else None
    # uvicorn re-raises the signal it caught once it has shut down; with these
    # handlers in place that ends here, in an orderly exit, not in a kill.
    caught: list[int] = []

    def note(signum: int, _frame: Any) -> None:
        caught.append(signum)

    old = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    host, port = sock.getsockname()[:2]
    scheme = "https" if options.tls_cert else "http"
    url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
    log.info("listening on %s (worker %s)", url, "on" if worker else "off")
    if on_ready is not None:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if worker is not None:
            worker.stop()
        sock.close()
        log.info("server stopped")
