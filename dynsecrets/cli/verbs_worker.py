"""``worker``: the expiry worker, in the foreground or for one pass (``-once``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import threading
import time
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from dynsecrets.errors import InvalidTTL
from dynsecrets.ttl import parse_duration

from .logs import json_lines
from .messages import UsageError, shorten
from .paths import open_engine

__all__ = ["worker"]

log = logging.getLogger("dynsecrets.cli")


def _whole(flag: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,6}", text.strip()) or int(text) < 1:
        raise UsageError(f"-{flag}: must be a whole number of at least 1, got {shorten(text)!r}")
    return int(text)


def _seconds(flag: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise UsageError(f"-{flag}: must be a number of seconds above 0, got {shorten(text)!r}")
    return value


def _options(args: argparse.Namespace) -> tuple[int, float, dict[str, Any]]:
    concurrency = _whole("concurrency", args.concurrency)
    interval = _seconds("interval", args.interval)
    engine_options: dict[str, Any] = {}
    if args.claim_ttl is not None:
        try:
            claim_ttl = parse_duration(args.claim_ttl, field="-claim-ttl")
        except InvalidTTL as exc:
            raise UsageError(str(exc)) from exc
        if claim_ttl < 1:
            raise UsageError("-claim-ttl: must be at least 1s, such as 30s")
        engine_options["claim_ttl"] = claim_ttl
    return concurrency, interval, engine_options


def _where(url: str | None) -> str:
    """The store URL for the log, without a password (PostgreSQL URLs may carry one)."""
    url = url or os.environ.get("DYNSECRETS_STORE")
    if not url:
        return "the default SQLite store"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def worker(args: argparse.Namespace, out: TextIO) -> int:
    concurrency, interval, engine_options = _options(args)
    if args.once:
        return _once(args, concurrency, engine_options, out)
    json_lines()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_engine(args, **engine_options) as engine:
            engine.subscribe(
                lambda e: logging.getLogger("dynsecrets.events").info(
                    "%s %s",
                    e.kind,
                    e.lease_id,
                    extra={"event": e.kind, "lease_id": e.lease_id, "error": e.error},
                )
            )
            # Raises before any lease is touched when the key does not open the
            # store (DecryptionError): the error line says so and we exit 1.
            engine.start_worker(concurrency=concurrency, interval=interval)
            log.info("worker running on %s", _where(args.store))
            stop.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    log.info("worker stopped")
    return 0


def _once(
    args: argparse.Namespace, concurrency: int, engine_options: dict[str, Any], out: TextIO
) -> int:
    started = time.monotonic()
    with open_engine(args, **engine_options) as engine:
        revoked = engine.expire_due(concurrency=concurrency)
        # Leases, and rotations that keep failing (reported the same way).
        irrevocable = len(engine.store.list_leases(state="irrevocable"))
    summary = {
        "revoked": revoked,
        "irrevocable": irrevocable,
        "seconds": round(time.monotonic() - started, 3),
    }
    print(json.dumps(summary), file=out)
    return 0
