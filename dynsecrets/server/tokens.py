"""Server tokens: made once, shown once, stored only as a keyed hash.

A token is ``dst.`` and 43 random base62 characters (~256 bits). The store keeps
HMAC-SHA256(token) under a random salt that lives in the store's ``meta`` table,
and a separate *accessor* that names the token in audit records and for
revocation without being usable to authenticate.

Leases belong to the token that asked for them, as in Vault: the server issues them
inside :meth:`~dynsecrets.Engine.expiring_by` (so none outlives its token) and
records ``lease_id -> accessor`` right after the engine returns. Revoking a token,
or its expiry, revokes the leases it owns and its child tokens. An ``orphan`` token
has no parent and owns no leases: they live their own TTL.

Crash safety: a token row goes first, so a revoked token stops working at once;
its leases are then revoked by a sweep that looks for ownership rows whose token is
gone. A process that dies between the two leaves rows that the next sweep (any
process's) finishes. A process that dies between issuing a lease and recording its
owner leaves a lease that its token does not revoke early, but that still expires no
later than the token would have.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import string
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from ..errors import LeaseNotFound, NotFound, RevocationFailed, ValidationError
from ..store.base import TokenRecord
from ..ttl import parse_duration
from .policies import ROOT, check_policy_name

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["NewToken", "TokenNotFound", "Tokens"]

log = logging.getLogger("dynsecrets.server")

PREFIX = "dst."
DEFAULT_TTL = 768 * 3600
_ALPHABET = string.ascii_letters + string.digits
_SALT_KEY = "token_salt"


class TokenNotFound(NotFound):
    """No live token has that value or accessor."""


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


@attrs.frozen
class NewToken:
    """A token just made: the only time its value exists outside the client."""

    token: str = attrs.field(repr=False)
    record: TokenRecord


class Tokens:
    """Create, look up and revoke tokens of one engine's store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        salt = self.store.put_meta_if_absent(_SALT_KEY, os.urandom(32).hex())
        self._salt = bytes.fromhex(salt)

    def hash(self, token: str) -> str:
        return hmac.new(self._salt, token.encode(), hashlib.sha256).hexdigest()

    # -- creation ---------------------------------------------------------------------
    def create(
        self,
        policies: Iterable[str],
        *,
        ttl: int | str | None = None,
        display_name: str = "",
        orphan: bool = False,
        parent: TokenRecord | None = None,
    ) -> NewToken:
        names = sorted({check_policy_name(p) for p in policies})
        if not names:
            raise ValidationError("policy", "name at least one policy (-policy=NAME)")
        missing = sorted(set(names) - {ROOT} - set(self.store.get_policies(names)))
        if missing:
            raise ValidationError(
                "policy",
                f"no policy named {missing[0]!r}; write it first (dynsecrets policy write)",
            )
        seconds = DEFAULT_TTL if ttl in (None, "", 0) else parse_duration(ttl, field="ttl")
        if seconds < 1:
            raise ValidationError("ttl", "a token lives at least 1s")
        if not isinstance(display_name, str) or len(display_name) > 128:
            raise ValidationError("display_name", "at most 128 characters")
        if not display_name.isprintable():
            raise ValidationError("display_name", "must not contain control characters")
        now = self.engine.clock.now()
        expires_at = now + seconds
        if parent is not None and not orphan:
            if ROOT not in parent.policies and not set(names) <= set(parent.policies):
                raise ValidationError(
                    "policies", "a child token may only hold policies its parent holds"
                )
            # A child never outlives its parent (it is revoked with it anyway).
            expires_at = min(expires_at, parent.expires_at)
        token = PREFIX + _random(43)
        record = TokenRecord(
            token_hash=self.hash(token),
            accessor=_random(24),
            policies=tuple(names),
            created_at=now,
            expires_at=expires_at,
            ttl=int(expires_at - now),
            display_name=display_name,
            orphan=orphan,
            parent=None if orphan or parent is None else parent.accessor,
        )
        self.store.put_token(record)
        log.info("created token %s (policies %s)", record.accessor, ",".join(names))
        return NewToken(token, record)

    # -- lookup -----------------------------------------------------------------------------
    def lookup(self, token: str) -> TokenRecord | None:
        """The live token with this value, or None (unknown, revoked or expired)."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        rec = self.store.get_token(self.hash(token))
        if rec is None or rec.expires_at <= self.engine.clock.now():
            return None
        return rec

    def by_accessor(self, accessor: str) -> TokenRecord:
        rec = self.store.get_token_by_accessor(accessor)
        if rec is None or rec.expires_at <= self.engine.clock.now():
            raise TokenNotFound(f"no live token with accessor {accessor!r}")
        return rec

    def record_lease(self, token: TokenRecord, lease_id: str) -> None:
        """Make ``token`` the owner of ``lease_id`` (orphans own nothing)."""
        if lease_id and not token.orphan:
            self.store.add_lease_owner(lease_id, token.accessor)

    # -- revocation -------------------------------------------------------------------------
    def revoke(self, accessor: str) -> int:
        """Revoke a token, its child tokens and every lease they own. Returns how many
        leases were revoked. The token stops working before any lease is touched."""
        rec = self.store.get_token_by_accessor(accessor)
        if rec is None:
            raise TokenNotFound(f"no token with accessor {accessor!r}")
        self._delete_tree(rec)
        return self.sweep()

    def _delete_tree(self, rec: TokenRecord) -> None:
        # Parent first: it stops working at once; children found afterwards are
        # still found by orphaned_tokens() if this process dies midway.
        self.store.delete_token(rec.accessor)
        log.info("revoked token %s", rec.accessor)
        for child in self.store.child_tokens(rec.accessor):
            self._delete_tree(child)

    def sweep(self, *, batch: int = 256) -> int:
        """Delete expired tokens and children of deleted ones, then revoke every lease
        whose owner is gone. Safe to run in many processes at once. Returns how many
        leases were revoked."""
        now = self.engine.clock.now()
        while True:
            gone = self.store.expired_tokens(now, limit=batch) + self.store.orphaned_tokens(
                limit=batch
            )
            if not gone:
                break
            for rec in gone:
                self._delete_tree(rec)
        revoked = 0
        while True:
            lease_ids = self.store.ownerless_leases(limit=batch)
            if not lease_ids:
                return revoked
            for lease_id in lease_ids:
                try:
                    self.engine.revoke(lease_id)
                    revoked += 1
                except LeaseNotFound:
                    pass  # expired or revoked meanwhile
                except RevocationFailed as exc:
                    # The engine keeps the lease with its error and the worker retries;
                    # from here the lease is the engine's business, not the token's.
                    log.warning("lease %s of a revoked token: %s", lease_id, exc)
                self.store.delete_lease_owner(lease_id)

    def forget_lease(self, lease_id: str) -> None:
        self.store.delete_lease_owner(lease_id)
