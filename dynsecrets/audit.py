"""The audit log: one JSON record per operation, secrets only as HMAC-SHA256.

Every enable, tune, disable, configure, role write and delete, issue, renew,
revoke (by request, by the expiry worker, by recovery or rollback), failure,
rotate_root and tidy deletion is recorded with its time, operation, path, lease
id and actor. Expiry-driven revocations are audited too (Vault's are not).

Secret values are written as ``hmac-sha256:<hex>`` keyed with a per-store salt,
as Vault's audit devices do: an operator who holds a value can find it in the
log with :meth:`AuditLog.hash` (``engine.audit_hash(value)``), nobody can read it back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["AuditLog"]

Sink = Callable[[dict[str, Any]], None]


class AuditLog:
    """Writes records to a JSON-lines file (created 0600) or hands them to a callable."""

    def __init__(self, sink: str | os.PathLike[str] | Sink, salt: bytes) -> None:
        self._salt = salt
        self._lock = threading.Lock()
        self._fh: Any = None
        if callable(sink):
            self._sink: Sink = sink
        else:
            path = Path(sink)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._fh = os.fdopen(fd, "a", encoding="utf-8")
            self._sink = self._write

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._fh.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            self._fh.flush()

    def hash(self, value: Any) -> str:
        digest = hmac.new(self._salt, str(value).encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"

    def hashed(self, data: Mapping[str, Any], secret_keys: Iterable[str]) -> dict[str, Any]:
        secret = set(secret_keys)
        return {k: (self.hash(v) if k in secret and v is not None else v) for k, v in data.items()}

    def record(
        self,
        operation: str,
        path: str,
        *,
        actor: str | None,
        lease_id: str | None = None,
        **fields: Any,
    ) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "operation": operation,
            "path": path,
            "lease_id": lease_id,
            "actor": actor,
        }
        entry.update({k: v for k, v in fields.items() if v is not None})
        self._sink(entry)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
