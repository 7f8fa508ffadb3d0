"""Durations as Vault writes them: ``768h``, ``1h30m``, ``90s``, or plain seconds."""

from __future__ import annotations

import re

from .errors import InvalidTTL

__all__ = ["DEFAULT_MAX_TTL", "DEFAULT_TTL", "format_duration", "format_time", "parse_duration"]

#: Vault's system default and maximum lease TTL: 768h, 32 days.
DEFAULT_TTL = 768 * 3600
DEFAULT_MAX_TTL = 768 * 3600

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)(d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:d|h|m|s))+")
# Upper bound keeps arithmetic on datetimes safe; 100 years is longer than any lease.
_MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: int | str, *, field: str = "ttl") -> int:
    """Return ``value`` in whole seconds.

    Accepts an int, a string of digits, or a Go/Vault duration such as
    ``"1h30m"``. Raises :class:`~dynsecrets.errors.InvalidTTL` naming ``field``.
    """
    if isinstance(value, bool):
        raise InvalidTTL(field, "expected a duration such as '1h' or 3600, got a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            seconds = int(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise InvalidTTL(
                field,
                f"{shown!r} is not a duration; use seconds or units d/h/m/s such as '768h' or '1h30m'",
            )
    else:
        raise InvalidTTL(
            field, f"expected a duration such as '1h' or 3600, got {type(value).__name__}"
        )
    if seconds < 0:
        raise InvalidTTL(field, "must not be negative")
    if seconds > _MAX_SECONDS:
        raise InvalidTTL(field, "is longer than 100 years; use a shorter duration")
    return seconds


def format_duration(seconds: int | float) -> str:
    """Format like Vault's CLI: ``768h``, ``1h30m``, ``1m30s``, ``0s``."""
    total = int(seconds)
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs:
        parts.append(f"{secs}s")
    return "".join(parts)


def format_time(ts: float) -> str:
    """Epoch seconds as Vault prints a time: RFC 3339 in UTC, ``2026-11-30T21:00:00Z``."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
