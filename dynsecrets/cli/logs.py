"""Library log records during a command: warnings as short lines on stderr, or JSON
lines for the worker."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .messages import error_line
from .render import iso

__all__ = ["WarningLines", "json_lines", "warning_lines"]

_LOGGER = "dynsecrets"


class WarningLines(logging.Handler):
    """``WARNING: ...`` on stderr, one short line per record.

    A record that carries an exception reports a step of a failure the command
    itself ends with (a rollback or a revocation that failed for the same reason),
    so it is held back and shown only if the command succeeds: a failure is printed
    once, by the error line. Under ``--debug`` everything shows at once, in full.
    """

    def __init__(self, *, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self.debug = debug
        self.held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.debug:
                text = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
                print(text, file=sys.stderr)
                return
            line = f"{record.levelname}: {error_line(record.getMessage())}"
            if record.exc_info or any(isinstance(a, BaseException) for a in _args(record)):
                self.held.append(line)
            else:
                print(line, file=sys.stderr)
        except Exception:  # a log line must never break the command
            self.handleError(record)

    def finish(self, *, succeeded: bool) -> None:
        if succeeded:
            for line in self.held:
                print(line, file=sys.stderr)
        self.held.clear()


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)


@contextmanager
def warning_lines(*, debug: bool) -> Iterator[WarningLines]:
    """Route the library's records to a :class:`WarningLines` for one command, and
    put the logger back as it was afterwards (``main`` may run in-process)."""
    logger = logging.getLogger(_LOGGER)
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = WarningLines(debug=debug)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    logger.propagate = False  # once, here; not again through the root logger
    try:
        yield handler
    finally:
        logger.handlers, level, logger.propagate = saved[0], saved[1], saved[2]
        logger.setLevel(level)


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event", "lease_id", "error"):
            if getattr(record, key, None) is not None:
                entry[key] = getattr(record, key)
        return json.dumps(entry)


def json_lines() -> None:
    """The worker's log: one JSON object per line on stderr, INFO and up. Called
    inside :func:`warning_lines`, which restores the logger afterwards."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JSONFormatter())
    logger = logging.getLogger(_LOGGER)
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
