"""The Engine: the entry point that owns a store, a provider registry and a clock,
enables mounts, and issues, renews and revokes leases (the lifecycle itself is in
:mod:`dynsecrets.lifecycle`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from .._names import check_mount_path
from ..clock import Clock, ServerClock, SystemClock
from ..crypto import KeyProvider, resolve_key
from ..errors import MountInUse, ValidationError
from ..lifecycle import issuance, leases, recovery, revocation, tasks
from ..lifecycle.core import Core
from ..providers.registry import ProviderRegistry
from ..retry import RetryPolicy
from ..store import Store, open_store

# What opening an engine does not need is imported on first use (the worker, the
# path API, mount administration, renewal): `Engine.open` stays fast (issue 18).
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..expiry import ExpiryWorker
    from ..lifecycle.events import Event
    from ..lifecycle.revocation import RevokeSummary
    from ..models import Lease, LeaseInfo, MountInfo
    from .mount import Mount
    from .router import Router

__all__ = ["Engine"]

log = logging.getLogger("dynsecrets")


class Engine:
    """The entry point. Owns a store, a provider registry and a clock.

    Use :meth:`open` for the common cases; pass a store directly to share one
    between engines or to inject your own.

    - ``claim_ttl``: how long a claim on a lease (by a worker revoking it, or an
      issuer creating it) outlives its holder; a live holder's heartbeat keeps
      extending it. A dead process's leases are taken over within this time.
    - ``operation_timeout``: one deadline for each issue, revoke, renew or rotate,
      shared by all its cloud calls and their retries.
    - ``clock``: leave unset outside tests. On PostgreSQL the engine then tells
      time by the database, so nodes with skewed clocks agree on what is due.
    """

    def __init__(
        self,
        store: Store,
        *,
        registry: ProviderRegistry | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        claim_ttl: float = 30.0,
        operation_timeout: float = 60.0,
        max_attempts: int = 6,
        irrevocable_retry: float = 86400.0,
        recover: bool = True,
        key: bytes | str | None = None,
        key_file: str | os.PathLike[str] | None = None,
        key_provider: KeyProvider | None = None,
        audit: str | os.PathLike[str] | Callable[[dict[str, Any]], None] | None = None,
        actor: str | None = None,
    ) -> None:
        self.store = store
        if clock is None:
            server_time = getattr(store, "server_time", None)
            clock = ServerClock(server_time) if server_time and server_time() else SystemClock()
        audit_log = None
        if audit is not None:
            from ..audit import AuditLog

            salt = store.put_meta_if_absent("audit_salt", os.urandom(32).hex())
            audit_log = AuditLog(audit, bytes.fromhex(salt))
        self.core = Core(
            store,
            registry=registry or ProviderRegistry(),
            clock=clock,
            retry=(retry or RetryPolicy()).with_clock(clock),
            key_provider=resolve_key(
                store.url, key=key, key_file=key_file, key_provider=key_provider
            ),
            audit=audit_log,
            actor=actor,
            claim_ttl=claim_ttl,
            operation_timeout=operation_timeout,
            max_attempts=max_attempts,
            irrevocable_retry=irrevocable_retry,
        )
        self._workers: list[ExpiryWorker] = []
        self._router_: Router | None = None
        self._closed = False
        if recover:
            recovery.recover_pending(self.core)

    @classmethod
    def open(cls, url: str | None = None, **kwargs: Any) -> Engine:
        """Open an engine on ``url``: ``None`` (the SQLite file in the user data dir,
        or ``$DYNSECRETS_STORE``), ``sqlite:///path``, ``memory://`` or
        ``postgresql://...``."""
        return cls(open_store(url), **kwargs)

    # -- what the engine is made of (read-only views of the core) ---------------------
    @property
    def registry(self) -> ProviderRegistry:
        return self.core.registry

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def retry(self) -> RetryPolicy:
        return self.core.retry

    @property
    def claim_ttl(self) -> float:
        return self.core.claim_ttl

    @property
    def operation_timeout(self) -> float:
        return self.core.operation_timeout

    @property
    def max_attempts(self) -> int:
        """Failed revocations before a lease is reported ``irrevocable``."""
        return self.core.max_attempts

    @max_attempts.setter
    def max_attempts(self, value: int) -> None:
        self.core.max_attempts = value

    @property
    def store_id(self) -> str:
        """The random id this store was given at creation (providers tag with it)."""
        return self.core.store_id

    @property
    def actor(self) -> str | None:
        return self.core.events.actor

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop()
        self.core.close()
        if self.core.events.audit is not None:
            self.core.events.audit.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine({self.store.url!r})"

    # -- events, audit and workers --------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every lease event; returns an unsubscribe function.
        Callbacks run on the thread that did the work; exceptions they raise are logged."""
        return self.core.events.subscribe(callback)

    def acting_as(self, actor: str) -> AbstractContextManager[None]:
        """Attribute the operations in this block (on this thread or task) to ``actor``
        in the audit log."""
        return self.core.events.acting_as(actor)

    def expiring_by(self, until: float) -> AbstractContextManager[None]:
        """Leases issued or renewed in this block (on this thread or task) expire no
        later than ``until`` (epoch seconds): their max TTL is cut to fit. A front end
        that ties leases to a session, such as the server's tokens, uses it."""
        from ..lifecycle.limits import expiring_by

        return expiring_by(until)

    def audit_hash(self, value: Any) -> str:
        """The HMAC under which ``value`` appears in this store's audit log."""
        return self.core.events.audit_hash(value)

    @property
    def _router(self) -> Router:
        if self._router_ is None:
            from .router import Router

            self._router_ = Router(self)
        return self._router_

    def start_worker(self, **options: Any) -> ExpiryWorker:
        """Start an expiry worker thread; ``close()`` stops it. Options go to
        :class:`ExpiryWorker` (``concurrency``, ``batch``, ``interval``). Raises
        :class:`~dynsecrets.crypto.DecryptionError` when this key cannot open the store."""
        from ..expiry import ExpiryWorker

        worker = ExpiryWorker(self, **options).start()
        self._workers.append(worker)
        return worker

    def expire_due(self, *, concurrency: int = 16) -> int:
        """One pass of the expiry worker: revoke leases past expiry, pending leases
        whose issuer is gone, and failed revocations whose retry time has come.
        Returns how many were revoked."""
        from ..expiry import ExpiryWorker

        return ExpiryWorker(self, concurrency=concurrency).run_once()

    # -- mounts -------------------------------------------------------------------
    def enable(
        self,
        path: str,
        provider: str,
        *,
        default_ttl: int | str | None = None,
        max_ttl: int | str | None = None,
        description: str = "",
        max_leases: int | None = None,
    ) -> Mount:
        """Enable a secrets engine of ``provider`` at ``path``."""
        from . import mounts

        path = mounts.enable(
            self.core,
            path,
            provider,
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            description=description,
            max_leases=max_leases,
        )
        from .mount import Mount

        return Mount(self, path)

    def mount(self, path: str) -> Mount:
        path = check_mount_path(path)
        self.core.mount_record(path)
        from .mount import Mount

        return Mount(self, path)

    def mounts(self) -> list[MountInfo]:
        from . import mounts

        return [mounts.info(m) for m in self.store.list_mounts()]

    def tune(
        self,
        path: str,
        *,
        default_ttl: int | str | None = None,
        max_ttl: int | str | None = None,
        description: str | None = None,
        max_leases: int | None = None,
    ) -> MountInfo:
        """Change a mount's TTLs, description or lease cap. Unset arguments stay."""
        from . import mounts

        return mounts.tune(
            self.core,
            check_mount_path(path),
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            description=description,
            max_leases=max_leases,
        )

    def disable(self, path: str, *, revoke: bool = False) -> None:
        """Remove a mount, its roles and its config.

        Refuses while the mount has leases, unless ``revoke`` is true, in which
        case they are revoked first (and it still refuses if any revocation fails).
        """
        path = check_mount_path(path)
        self.core.mount_record(path)
        mount = self.mount(path)
        static = [
            n.split("/", 1)[1] for n in self.store.list_roles(path) if n.startswith("static-roles/")
        ]
        if static and not revoke:
            raise MountInUse(
                f"{path}/ has static roles ({', '.join(static)}); delete them, or pass "
                "revoke=True to delete them and the secrets dynsecrets made for them"
            )
        for name in static:
            mount.static.delete(name)
        if leases.under(self.core, f"{path}/"):
            if not revoke:
                raise MountInUse(
                    f"{path}/ still has leases; revoke them (revoke_prefix('{path}/')) "
                    "or pass revoke=True"
                )
            summary = self.revoke_prefix(f"{path}/")
            if summary.failed:
                raise MountInUse(
                    f"{path}/: {len(summary.failed)} lease(s) could not be revoked; "
                    "they stay in the store; fix the cause or revoke them with force=True"
                )
        tasks.cancel(self.core, path, tasks.ROOT)
        self.core.drop_provider(path)
        self.store.delete_mount(path)
        log.info("disabled secrets engine at %s/", path)
        self.core.events.record("mount.disable", f"{path}/")

    # -- leases ---------------------------------------------------------------------
    def _issue(
        self,
        path: str,
        role: str,
        ttl: int | str | None,
        options: Mapping[str, Any],
        *,
        lease_path: str | None = None,
        kind: str | None = None,
    ) -> Lease:
        return issuance.issue(self.core, path, role, ttl, options, lease_path=lease_path, kind=kind)

    def lookup(self, lease_id: str) -> LeaseInfo:
        return leases.info(leases.lease_record(self.core, lease_id))

    def leases(self, prefix: str = "", *, state: str | None = None) -> list[LeaseInfo]:
        """Leases whose id is ``prefix`` or lies under it as a path."""
        return [leases.info(r) for r in leases.under(self.core, prefix, state=state)]

    def renew(self, lease_id: str, increment: int | str | None = None) -> LeaseInfo:
        """Extend a lease by ``increment`` from now (unset or 0: the role's TTL, as
        Vault), never past its max TTL counted from issue time."""
        from ..lifecycle import renewal

        return renewal.renew(self.core, lease_id, increment)

    def revoke(self, lease_id: str, *, force: bool = False) -> None:
        """Revoke a lease now. Revoking a lease that is gone raises LeaseNotFound;
        ``force`` drops the lease even if the cloud refuses (the object may remain)."""
        from ..errors import RevocationFailed

        rec, mount = leases.lease_and_mount(self.core, lease_id)
        error = revocation.revoke_record(self.core, rec, force=force, mount_rec=mount)
        if error is not None:
            raise RevocationFailed(lease_id, f"{error}; it stays in the store and will be retried")

    def revoke_prefix(
        self,
        prefix: str,
        *,
        force: bool = False,
        concurrency: int = 16,
        progress: Callable[[int, int], None] | None = None,
    ) -> RevokeSummary:
        """Revoke every lease under ``prefix``. Failures do not stop the rest; they are
        returned in the summary and stay in the store for the worker."""
        if not isinstance(prefix, str) or not prefix.strip("/"):
            raise ValidationError(
                "prefix", "name a mount or role path; an empty prefix would revoke everything"
            )
        revocation.check_concurrency(concurrency)
        records = leases.under(self.core, prefix)
        return revocation.revoke_many(
            self.core, records, force=force, concurrency=concurrency, progress=progress
        )

    # -- Vault-style path API -----------------------------------------------------------
    def read(self, path: str, **fields: Any) -> Any:
        """``<mount>/config/root``, ``<mount>/config/lease``, ``<mount>/roles/<name>``,
        or ``<mount>/creds/<role>`` (issues a lease)."""
        return self._router.read(path, **fields)

    def write(self, path: str, **fields: Any) -> Any:
        return self._router.write(path, **fields)

    def list(self, path: str) -> list[str]:
        return self._router.list(path)

    def delete(self, path: str) -> None:
        self._router.delete(path)
