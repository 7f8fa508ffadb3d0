"""Lease, mount and role persistence. ``open_store(url)`` picks the backend."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..errors import ValidationError
from .base import LeaseRecord, MountRecord, Store

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LeaseRecord", "MountRecord", "Store", "default_store_path", "open_store"]


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/dynsecrets/dynsecrets.db`` (``~/.local/share`` when unset)."""
    from pathlib import Path

    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "dynsecrets" / "dynsecrets.db"


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url``.

    ``None`` means ``$DYNSECRETS_STORE`` or the default SQLite file;
    ``sqlite:///path``, ``memory://`` and ``postgresql://...`` are understood.
    """
    url = url or os.environ.get("DYNSECRETS_STORE") or f"sqlite:///{default_store_path()}"
    if url in ("memory://", "sqlite://", "sqlite:///:memory:"):
        from .sqlite import SQLiteStore

        return SQLiteStore(":memory:")
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore  # psycopg itself is imported on open

        return PostgresStore(url)
    raise ValidationError(
        "url",
        f"unknown store URL {url.split(':', 1)[0]!r}: use sqlite:///PATH, memory:// or postgresql://...",
    )
