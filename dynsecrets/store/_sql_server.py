"""Server tokens, policies and lease owners (schema 2, for ``dynsecrets serve``),
written once for both SQL stores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ._sql import TOKEN_COLS, marks, token_row
from .base import TokenRecord

__all__ = ["ServerRows"]


class ServerRows:
    """Mixed into the SQL stores."""

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    def _row(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:  # pragma: no cover
        return self._rows(sql, args)

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:  # pragma: no cover
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Any]:  # pragma: no cover
        raise NotImplementedError

    def put_token(self, token: TokenRecord) -> None:
        self._exec(
            f"INSERT INTO tokens ({TOKEN_COLS}) VALUES ({marks(9)})",
            (
                token.token_hash,
                token.accessor,
                json.dumps(list(token.policies)),
                token.created_at,
                token.expires_at,
                token.ttl,
                token.display_name,
                token.orphan,
                token.parent,
            ),
        )

    def get_token(self, token_hash: str) -> TokenRecord | None:
        rows = self._row(f"SELECT {TOKEN_COLS} FROM tokens WHERE token_hash = ?", (token_hash,))
        return token_row(rows[0]) if rows else None

    def get_token_by_accessor(self, accessor: str) -> TokenRecord | None:
        rows = self._row(f"SELECT {TOKEN_COLS} FROM tokens WHERE accessor = ?", (accessor,))
        return token_row(rows[0]) if rows else None

    def child_tokens(self, accessor: str) -> list[TokenRecord]:
        rows = self._rows(
            f"SELECT {TOKEN_COLS} FROM tokens WHERE parent = ? ORDER BY accessor", (accessor,)
        )
        return [token_row(r) for r in rows]

    def delete_token(self, accessor: str) -> bool:
        return self._exec("DELETE FROM tokens WHERE accessor = ?", (accessor,)) > 0

    def expired_tokens(self, now: float, *, limit: int) -> list[TokenRecord]:
        rows = self._rows(
            f"SELECT {TOKEN_COLS} FROM tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
            (now, limit),
        )
        return [token_row(r) for r in rows]

    def orphaned_tokens(self, *, limit: int) -> list[TokenRecord]:
        """Child tokens whose parent is gone (revoked by a process that died before
        revoking its children): they must go too."""
        rows = self._rows(
            f"SELECT {TOKEN_COLS} FROM tokens t WHERE t.parent IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM tokens p WHERE p.accessor = t.parent) ORDER BY t.accessor LIMIT ?",
            (limit,),
        )
        return [token_row(r) for r in rows]

    def add_lease_owner(self, lease_id: str, accessor: str) -> None:
        self._exec(
            "INSERT INTO lease_owners (lease_id, accessor) VALUES (?, ?) "
            "ON CONFLICT (lease_id) DO UPDATE SET accessor = excluded.accessor",
            (lease_id, accessor),
        )

    def lease_owner(self, lease_id: str) -> str | None:
        rows = self._row("SELECT accessor FROM lease_owners WHERE lease_id = ?", (lease_id,))
        return str(rows[0][0]) if rows else None

    def leases_of_token(self, accessor: str) -> list[str]:
        rows = self._rows(
            "SELECT lease_id FROM lease_owners WHERE accessor = ? ORDER BY lease_id", (accessor,)
        )
        return [r[0] for r in rows]

    def ownerless_leases(self, *, limit: int) -> list[str]:
        """Leases recorded as owned by a token that no longer exists: to revoke."""
        rows = self._rows(
            "SELECT o.lease_id FROM lease_owners o WHERE NOT EXISTS "
            "(SELECT 1 FROM tokens t WHERE t.accessor = o.accessor) ORDER BY o.lease_id LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]

    def delete_lease_owner(self, lease_id: str) -> bool:
        return self._exec("DELETE FROM lease_owners WHERE lease_id = ?", (lease_id,)) > 0

    def put_policy(self, name: str, body: str, updated_at: float) -> None:
        self._exec(
            "INSERT INTO policies (name, body, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
            "DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            (name, body, updated_at),
        )

    def get_policies(self, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        rows = self._rows(
            f"SELECT name, body FROM policies WHERE name IN ({marks(len(names))})", names
        )
        return {r[0]: r[1] for r in rows}

    def list_policies(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT name FROM policies ORDER BY name")]

    def delete_policy(self, name: str) -> bool:
        return self._exec("DELETE FROM policies WHERE name = ?", (name,)) > 0
