"""Vault-style output: the Key/Value table the seed document shows.

Key                Value
---                -----
lease_id           aws-us-west-2/creds/ec2/JXcy5a4WnnkVH9p8ouG6SYY5
lease_duration     768h
lease_renewable    true
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .models import Lease
from .ttl import format_duration

__all__ = ["format_columns", "format_table", "format_value", "lease_rows"]


def format_value(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "]"
    return str(value)


def lease_rows(lease: Lease, *, mask: bool = False) -> list[tuple[str, Any]]:
    """The lease's rows in Vault's order; ``mask`` shortens secret values for display."""
    rows: list[tuple[str, Any]] = [
        ("lease_id", lease.lease_id),
        ("lease_duration", format_duration(lease.lease_duration)),
        ("lease_renewable", lease.renewable),
    ]
    for key, value in lease.data.items():
        if mask and key in lease.data.secret_keys and isinstance(value, str):
            value = value[:8] + "......"
        rows.append((key, value))
    return rows


def format_table(rows: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> str:
    items = list(rows.items() if isinstance(rows, Mapping) else rows)
    width = max([len("Key"), *(len(k) for k, _ in items)]) + 4
    lines = [f"{'Key':<{width}}Value", f"{'---':<{width}}-----"]
    lines += [f"{k:<{width}}{format_value(v)}" for k, v in items]
    return "\n".join(lines)


def format_columns(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table with a header and a dashed rule, each column as wide as its widest
    cell plus four spaces (as Vault's ``secrets list``); no trailing spaces."""
    cells = [list(header), ["-" * len(h) for h in header]]
    cells += [[format_value(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) + 4 for i in range(len(header))]
    return "\n".join(
        "".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
