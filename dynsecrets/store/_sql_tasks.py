"""Scheduled tasks' rows (rotations), kept in the lease table so that they share its
claims, heartbeat, retries and backoff, but written and claimed one at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..store.base import LeaseRecord
from ._sql import LEASE_COLS, lease_values, marks

__all__ = ["TaskRows"]

_MOVE = (
    f"INSERT INTO leases ({LEASE_COLS}) VALUES ({marks(16)}) "
    "ON CONFLICT (lease_id) DO UPDATE SET plan = excluded.plan, due_at = excluded.due_at, "
    "expires_at = excluded.expires_at, max_expires_at = excluded.max_expires_at"
)
_UPSERT = _MOVE + ", state = excluded.state, attempts = 0, last_error = NULL"


class TaskRows:
    """Mixed into the SQL stores."""

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:  # pragma: no cover
        raise NotImplementedError

    def put_task(self, task: LeaseRecord, *, keep_health: bool = False) -> None:
        """Insert a task row, or set its plan and due time and reset its attempts
        (``keep_health``: keep its state, attempts and last error); a claim on it
        stays (its holder releases it)."""
        self._exec(_MOVE if keep_health else _UPSERT, lease_values(task))

    def claim_lease(self, lease_id: str, *, owner: str, deadline: float, now: float) -> bool:
        """Claim one row unless another owner's claim is live (or it is ours already)."""
        return (
            self._exec(
                "UPDATE leases SET claim_owner = ?, claim_deadline = ? WHERE lease_id = ? "
                "AND (claim_deadline IS NULL OR claim_deadline < ? OR claim_owner = ?)",
                (owner, deadline, lease_id, now, owner),
            )
            > 0
        )
