"""Engine and Mount: issue, renew and revoke leases, with the lease as its own
write-ahead log (see DESIGN.md).

Imports point downward: this module knows the store and provider contracts,
never a cloud SDK.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from ._names import check_mount_path, check_role_name, new_lease_id
from .clock import Clock, SystemClock
from .crypto import DecryptionError, KeyProvider, resolve_key
from .errors import (
    DynSecretsError,
    InvalidTTL,
    LeaseLimitExceeded,
    LeaseNotFound,
    LeaseNotRenewable,
    MountInUse,
    MountNotConfigured,
    MountNotFound,
    PathNotFound,
    ProviderError,
    RevocationFailed,
    RoleNotFound,
    ValidationError,
)
from .expiry import ExpiryWorker
from .models import Lease, LeaseInfo, LeaseState, MountInfo, Role, SecretData
from .providers.base import IssueRequest, ManagedIdentity, Provider, ProviderContext
from .providers.registry import ProviderRegistry
from .retry import RetryPolicy
from .schema import Field, Schema
from .store import Store, open_store
from .store.base import LeaseRecord, MountRecord
from .ttl import DEFAULT_MAX_TTL, DEFAULT_TTL, parse_duration

if TYPE_CHECKING:
    import random

    from .audit import AuditLog
    from .crypto import Sealer

__all__ = ["Engine", "Event", "Mount", "RevokeSummary", "TidyReport"]

log = logging.getLogger("dynsecrets")
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dynsecrets_actor", default=None
)

#: Role fields every provider accepts; the engine applies them.
ENGINE_ROLE_FIELDS = Schema(
    {
        "ttl": Field("duration", doc="default lease TTL for this role"),
        "max_ttl": Field("duration", doc="maximum lease TTL for this role"),
        "max_leases": Field("int", minimum=1, doc="cap on live leases of this role"),
    },
    what="role",
)


@attrs.frozen
class Event:
    """Something that happened to a lease, for metrics and alerting.

    ``kind`` is one of ``issue``, ``renew``, ``revoke`` (on request), ``expire``
    (by the worker), ``recover`` (interrupted issuance cleaned up), ``rollback``
    (failed issuance undone), ``failure`` (a failed issue or revocation, with
    ``error``) and ``irrevocable``.
    """

    kind: str
    lease_id: str
    mount: str
    role: str
    time: float
    error: str | None = None


@attrs.frozen
class TidyReport:
    """What ``Mount.tidy`` found: identities this mount created that no lease owns."""

    orphans: tuple[ManagedIdentity, ...] = ()
    deleted: tuple[str, ...] = ()
    errors: Mapping[str, str] = attrs.field(factory=dict)
    dry_run: bool = True
    scanned: int = 0


@attrs.frozen
class RevokeSummary:
    """What a bulk revocation did. Failed leases stay in the store for the worker."""

    revoked: int
    failed: Mapping[str, str] = attrs.field(factory=dict)

    def __int__(self) -> int:
        return self.revoked


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class Engine:
    """The entry point. Owns a store, a provider registry and a clock.

    Use :meth:`open` for the common cases; pass a store directly to share one
    between engines or to inject your own.
    """

    def __init__(
        self,
        store: Store,
        *,
        registry: ProviderRegistry | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        pending_grace: float = 300.0,
        claim_ttl: float = 300.0,
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
        self.registry = registry or ProviderRegistry()
        self.clock: Clock = clock or SystemClock()
        self.retry = (retry or RetryPolicy()).with_clock(self.clock)
        self.pending_grace = pending_grace
        self.claim_ttl = claim_ttl
        self.max_attempts = max_attempts
        self.irrevocable_retry = irrevocable_retry
        self._providers: dict[str, Provider] = {}
        self._subscribers: list[Callable[[Event], None]] = []
        self._workers: list[ExpiryWorker] = []
        self._lock = threading.Lock()
        self._rng: random.Random | None = None
        self._closed = False
        self._key_provider = resolve_key(
            store.url, key=key, key_file=key_file, key_provider=key_provider
        )
        self._sealer: Sealer | None = None
        self.actor = actor
        self.audit: AuditLog | None = None
        if audit is not None:
            from .audit import AuditLog

            salt = self.store.put_meta_if_absent("audit_salt", os.urandom(32).hex())
            self.audit = AuditLog(audit, bytes.fromhex(salt))
        if recover:
            self._recover_pending()

    @classmethod
    def open(cls, url: str | None = None, **kwargs: Any) -> Engine:
        """Open an engine on ``url``: ``None`` (the SQLite file in the user data dir,
        or ``$DYNSECRETS_STORE``), ``sqlite:///path``, ``memory://`` or
        ``postgresql://...``."""
        return cls(open_store(url), **kwargs)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            worker.stop()
        for provider in self._providers.values():
            provider.close()
        if self.audit is not None:
            self.audit.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine({self.store.url!r})"

    # -- events and workers ----------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every lease event; returns an unsubscribe function.
        Callbacks run on the thread that did the work; exceptions they raise are logged."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _emit(
        self,
        kind: str,
        lease_id: str,
        mount: str,
        role: str,
        error: str | None = None,
        **audit: Any,
    ) -> None:
        self._audit(
            f"lease.{kind}", f"{mount}/creds/{role}", lease_id=lease_id, error=error, **audit
        )
        if not self._subscribers:
            return
        event = Event(kind, lease_id, mount, role, self.clock.now(), error)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber %r failed", callback)

    def start_worker(self, **options: Any) -> ExpiryWorker:
        """Start an expiry worker thread; ``close()`` stops it. Options go to
        :class:`ExpiryWorker` (``concurrency``, ``batch``, ``interval``)."""
        worker = ExpiryWorker(self, **options).start()
        self._workers.append(worker)
        return worker

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
        path = check_mount_path(path)
        if not isinstance(provider, str) or not provider:
            raise ValidationError("provider", "name a provider, such as 'aws'")
        self.registry.get(provider)  # unknown names fail here, before anything is stored
        default, maximum = self._mount_ttls(default_ttl, max_ttl)
        self._check_description(description)
        max_leases = self._check_max_leases(max_leases)
        self.store.create_mount(
            MountRecord(
                path=path,
                provider=provider,
                default_ttl=default,
                max_ttl=maximum,
                description=description,
                max_leases=max_leases,
                created_at=self.clock.now(),
            )
        )
        log.info("enabled %s secrets engine at %s/", provider, path)
        self._audit(
            "mount.enable", f"{path}/", provider=provider, default_ttl=default, max_ttl=maximum
        )
        return Mount(self, path)

    @staticmethod
    def _check_description(description: Any) -> None:
        if not isinstance(description, str) or len(description) > 1024:
            raise ValidationError("description", "must be a string of at most 1024 characters")
        if not description.isprintable():
            raise ValidationError("description", "must not contain control characters")

    @staticmethod
    def _check_max_leases(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("max_leases", "must be a positive integer, or None for no cap")
        return value

    @staticmethod
    def _mount_ttls(default_ttl: Any, max_ttl: Any) -> tuple[int, int]:
        default = (
            DEFAULT_TTL
            if default_ttl in (None, "")
            else parse_duration(default_ttl, field="default_ttl")
        )
        maximum = (
            DEFAULT_MAX_TTL if max_ttl in (None, "") else parse_duration(max_ttl, field="max_ttl")
        )
        if default == 0:
            default = DEFAULT_TTL
        if maximum == 0:
            maximum = DEFAULT_MAX_TTL
        if max_ttl not in (None, "") and default_ttl in (None, "") and maximum < default:
            default = maximum
        if default > maximum:
            raise InvalidTTL(
                "default_ttl",
                f"{default}s is longer than max_ttl ({maximum}s); lower default_ttl or raise max_ttl",
            )
        return default, maximum

    def mount(self, path: str) -> Mount:
        path = check_mount_path(path)
        self._mount_record(path)
        return Mount(self, path)

    def mounts(self) -> list[MountInfo]:
        return [self._mount_info(m) for m in self.store.list_mounts()]

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
        rec = self._mount_record(check_mount_path(path))
        default, maximum = self._mount_ttls(
            rec.default_ttl if default_ttl is None else default_ttl,
            rec.max_ttl if max_ttl is None else max_ttl,
        )
        changes: dict[str, Any] = {"default_ttl": default, "max_ttl": maximum}
        if description is not None:
            self._check_description(description)
            changes["description"] = description
        if max_leases is not None:
            changes["max_leases"] = self._check_max_leases(max_leases)
        self.store.update_mount(rec.path, **changes)
        self._audit("mount.tune", f"{rec.path}/", **changes)
        return self._mount_info(self._mount_record(rec.path))

    def disable(self, path: str, *, revoke: bool = False) -> None:
        """Remove a mount, its roles and its config.

        Refuses while the mount has leases, unless ``revoke`` is true, in which
        case they are revoked first (and it still refuses if any revocation fails).
        """
        path = check_mount_path(path)
        self._mount_record(path)
        if self.store.count_leases(path):
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
        with self._lock:
            provider = self._providers.pop(path, None)
        if provider is not None:
            provider.close()
        self.store.delete_mount(path)
        log.info("disabled secrets engine at %s/", path)
        self._audit("mount.disable", f"{path}/")

    def _mount_record(self, path: str) -> MountRecord:
        rec = self.store.get_mount(path)
        if rec is None:
            raise MountNotFound(f"no secrets engine is enabled at {path}/; enable one first")
        return rec

    def _mount_info(self, rec: MountRecord) -> MountInfo:
        return MountInfo(
            path=rec.path,
            provider=rec.provider,
            default_ttl=rec.default_ttl,
            max_ttl=rec.max_ttl,
            description=rec.description,
            max_leases=rec.max_leases,
            configured=rec.config is not None,
        )

    def _provider(self, rec: MountRecord) -> Provider:
        with self._lock:
            provider = self._providers.get(rec.path)
            if provider is None or provider.name != rec.provider:
                cls = self.registry.get(rec.provider)
                provider = cls(ProviderContext(clock=self.clock, retry=self.retry))
                self._providers[rec.path] = provider
            return provider

    # Root config is sealed (AES-256-GCM, the mount path as associated data) before
    # it reaches the store; the store never sees a root secret in the clear.
    def _get_sealer(self) -> Sealer:
        if self._sealer is None:
            from .crypto import Sealer

            sealer = Sealer(self._key_provider)
            check = sealer.seal(b"dynsecrets-key-check", b"key-check").hex()
            stored = self.store.put_meta_if_absent("key_check", check)
            try:
                sealer.unseal(bytes.fromhex(stored), b"key-check")
            except DecryptionError as exc:
                raise DecryptionError(
                    f"the store {self.store.url} was encrypted with another key; set DYNSECRETS_KEY "
                    "(or the key file) to the key it was written with"
                ) from exc
            self._sealer = sealer
        return self._sealer

    def _seal(self, config: Mapping[str, Any], mount: str) -> bytes:
        return self._get_sealer().seal(json.dumps(dict(config)).encode(), mount.encode())

    def _unseal(self, blob: bytes, mount: str) -> dict[str, Any]:
        return dict(json.loads(self._get_sealer().unseal(blob, mount.encode())))

    # -- audit ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def acting_as(self, actor: str) -> Iterator[None]:
        """Attribute the operations in this block (on this thread or task) to ``actor``
        in the audit log."""
        token = _actor.set(actor)
        try:
            yield
        finally:
            _actor.reset(token)

    def _audit(
        self, operation: str, path: str, *, lease_id: str | None = None, **fields: Any
    ) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(
                operation, path, actor=_actor.get() or self.actor, lease_id=lease_id, **fields
            )
        except Exception:  # the audit sink failing must be loud, but not lose a lease
            log.exception("audit sink failed for %s %s", operation, path)

    def audit_hash(self, value: Any) -> str:
        """The HMAC under which ``value`` appears in this store's audit log."""
        if self.audit is None:
            raise ValidationError("audit", "this engine has no audit log; open it with audit=...")
        return self.audit.hash(value)

    def _config(self, rec: MountRecord, provider: Provider) -> dict[str, Any]:
        if rec.config is not None:
            return self._unseal(rec.config, rec.path)
        try:
            return provider.validate_config({})
        except ValidationError as exc:
            raise MountNotConfigured(
                f"{rec.path}/ is not configured ({exc}); write {rec.path}/config/root first"
            ) from exc

    # -- leases ---------------------------------------------------------------------
    def _issue(
        self, path: str, role_name: str, ttl: int | str | None, options: Mapping[str, Any]
    ) -> Lease:
        role_name = check_role_name(role_name)
        found, fields = self.store.get_mount_role(path, role_name)  # one query on the hot path
        if found is None:
            raise MountNotFound(f"no secrets engine is enabled at {path}/; enable one first")
        rec = found
        if fields is None:
            raise RoleNotFound(
                f"no role {role_name!r} at {path}/; write {path}/roles/{role_name} first"
            )
        provider = self._provider(rec)
        config = self._config(rec, provider)
        options = provider.request_schema.validate(options) if options else {}
        caps = provider.capabilities(fields)

        warnings: list[str] = []
        requested = None if ttl in (None, "") else parse_duration(ttl, field="ttl")
        max_ttl = min(rec.max_ttl, fields.get("max_ttl") or rec.max_ttl)
        cloud_max = provider.max_ttl(fields)
        if cloud_max is not None and cloud_max < max_ttl:
            max_ttl = cloud_max
        lease_ttl = (
            requested or fields.get("ttl") or provider.default_ttl(fields) or rec.default_ttl
        )
        if lease_ttl > max_ttl:
            warnings.append(
                f"TTL of {lease_ttl}s exceeded the effective max_ttl; clamped to {max_ttl}s"
            )
            lease_ttl = max_ttl

        self._check_cap(rec, role_name, fields)
        now = self.clock.now()
        lease_id = new_lease_id(path, role_name)
        request = IssueRequest(
            mount=path,
            role_name=role_name,
            role=fields,
            lease_id=lease_id,
            ttl=lease_ttl,
            now=now,
            options=options,
            requested_ttl=requested,
            max_ttl=max_ttl,
        )
        plan = provider.plan(config, request)
        # Write-ahead: the plan is durable before the first cloud call, so a crash
        # from here on leaves a pending lease the worker revokes after the grace period.
        self.store.insert_lease(
            LeaseRecord(
                lease_id=lease_id,
                mount=path,
                role=role_name,
                state=LeaseState.PENDING,
                plan=plan,
                revocation=None,
                issued_at=now,
                expires_at=now + lease_ttl,
                max_expires_at=now + max_ttl,
                due_at=now + self.pending_grace,
                renewable=caps.renewable,
                revocable=caps.revocable,
            )
        )
        try:
            issued = provider.issue(config, request, plan)
        except BaseException as exc:
            self._emit("failure", lease_id, path, role_name, _error_text(exc))
            self._rollback(provider, config, lease_id, plan, exc)
            raise
        expires_at = now + lease_ttl
        if issued.expires_at is not None:
            # The cloud fixed the lifetime (STS): the lease ends when the token does.
            expires_at = issued.expires_at
            lease_ttl = max(0, int(issued.expires_at - now))
        max_expires_at = max(now + max_ttl, expires_at)
        if not self._activate(
            lease_id, issued.revocation, expires_at, max_expires_at, caps.renewable
        ):
            # Recovery revoked this lease while we were still issuing it (issuance took
            # longer than the grace period): what we just created must go too.
            self._rollback(provider, config, lease_id, plan, TimeoutError("pending grace expired"))
            raise ProviderError(
                f"issuing {lease_id} took longer than the pending grace period "
                f"({self.pending_grace:.0f}s) and was rolled back; raise pending_grace",
                operation="issue",
            )
        log.info("issued lease %s (ttl %ss)", lease_id, lease_ttl)
        self._emit(
            "issue",
            lease_id,
            path,
            role_name,
            ttl=lease_ttl,
            plan=plan,
            data=self.audit.hashed(issued.data, issued.secret_keys or issued.data)
            if self.audit
            else None,
        )
        return Lease(
            lease_id=lease_id,
            mount=path,
            role=role_name,
            lease_duration=lease_ttl,
            renewable=caps.renewable,
            revocable=caps.revocable,
            issued_at=now,
            expires_at=expires_at,
            data=SecretData(issued.data, issued.secret_keys),
            warnings=tuple(warnings) + tuple(issued.warnings),
            env=issued.env,
        )

    def _activate(
        self,
        lease_id: str,
        revocation: Mapping[str, Any],
        expires_at: float,
        max_expires_at: float,
        renewable: bool,
    ) -> bool:
        # Only a lease still pending: recovery may have revoked it meanwhile.
        return self.store.activate_lease(
            lease_id,
            revocation=revocation,
            expires_at=expires_at,
            max_expires_at=max_expires_at,
            renewable=renewable,
        )

    def _rollback(
        self,
        provider: Provider,
        config: Mapping[str, Any],
        lease_id: str,
        plan: Mapping[str, Any],
        cause: BaseException,
    ) -> None:
        """Undo a failed issuance from its plan. If the cloud refuses, the pending lease
        stays, marked for retry, so the worker finishes the job."""
        try:
            self.retry.call(lambda: provider.revoke(config, plan, None))
        except Exception as exc:
            log.warning("rollback of %s failed; the worker will retry: %s", lease_id, exc)
            rec = self.store.get_lease(lease_id)
            if rec is not None:
                self.store.record_failure(
                    lease_id,
                    state=LeaseState.REVOKING,
                    attempts=rec.attempts + 1,
                    last_error=f"rollback after {type(cause).__name__}: {_error_text(exc)}",
                    due_at=self.clock.now() + self._backoff(rec.attempts + 1),
                )
            return
        self.store.delete_lease(lease_id)
        log.info("rolled back lease %s after %s", lease_id, type(cause).__name__)
        rec_mount, _, rest = lease_id.partition("/creds/")
        self._emit("rollback", lease_id, rec_mount, rest.rsplit("/", 1)[0])

    def _check_cap(self, rec: MountRecord, role: str, fields: Mapping[str, Any]) -> None:
        if rec.max_leases is not None and self.store.count_leases(rec.path) >= rec.max_leases:
            raise LeaseLimitExceeded(
                f"{rec.path}/ has reached max_leases={rec.max_leases}; revoke leases or raise the cap"
            )
        cap = fields.get("max_leases")
        if cap is not None and self.store.count_leases(rec.path, role) >= cap:
            raise LeaseLimitExceeded(
                f"role {role!r} at {rec.path}/ has reached max_leases={cap}; revoke leases or raise the cap"
            )

    def _lease_record(self, lease_id: str) -> LeaseRecord:
        if not isinstance(lease_id, str):
            raise LeaseNotFound(f"lease ids are strings, got {type(lease_id).__name__}")
        rec = self.store.get_lease(lease_id)
        if rec is None:
            raise LeaseNotFound(f"no lease {lease_id!r}; it may have expired or been revoked")
        return rec

    def lookup(self, lease_id: str) -> LeaseInfo:
        return _info(self._lease_record(lease_id))

    def leases(self, prefix: str = "", *, state: str | None = None) -> list[LeaseInfo]:
        """Leases whose id is ``prefix`` or lies under it as a path."""
        if state is not None and state not in LeaseState.ALL:
            raise ValidationError("state", f"must be one of {', '.join(LeaseState.ALL)}")
        return [_info(r) for r in self._under(prefix, state=state)]

    def _under(self, prefix: str, *, state: str | None = None) -> list[LeaseRecord]:
        if not isinstance(prefix, str):
            raise ValidationError("prefix", "expected a string")
        if not prefix:
            return self.store.list_leases(state=state)
        exact = self.store.get_lease(prefix)
        if exact is not None and (state is None or exact.state == state):
            return [exact]
        # Path semantics, as Vault: "aws/creds/ec2" covers "aws/creds/ec2/..." but not
        # "aws/creds/ec2-read-only/...".
        return self.store.list_leases(prefix.rstrip("/") + "/", state=state)

    def renew(self, lease_id: str, increment: int | str | None = None) -> LeaseInfo:
        """Extend a lease by ``increment`` from now (default: the role's or mount's TTL),
        never past its max TTL counted from issue time."""
        rec = self._lease_record(lease_id)
        if not rec.renewable:
            raise LeaseNotRenewable(
                f"lease {lease_id} is not renewable (the cloud fixed its lifetime); issue a new one"
            )
        if rec.state != LeaseState.ACTIVE:
            raise LeaseNotRenewable(f"lease {lease_id} is {rec.state}, not active; issue a new one")
        now = self.clock.now()
        if rec.expires_at <= now:
            raise LeaseNotRenewable(f"lease {lease_id} has expired; issue a new one")
        mount = self._mount_record(rec.mount)
        if increment in (None, ""):
            role = self.store.get_role(rec.mount, rec.role) or {}
            inc = role.get("ttl") or self._provider(mount).default_ttl(role) or mount.default_ttl
        else:
            inc = parse_duration(increment, field="increment")
        expires_at = min(now + inc, rec.max_expires_at)
        provider = self._provider(mount)
        config = self._config(mount, provider)
        self.retry.call(lambda: provider.renew(config, rec.plan, rec.revocation or {}, expires_at))
        self.store.extend_lease(lease_id, expires_at)
        log.info("renewed lease %s until %.0f", lease_id, expires_at)
        self._emit("renew", lease_id, rec.mount, rec.role)
        return _info(attrs.evolve(rec, expires_at=expires_at, due_at=expires_at))

    def revoke(self, lease_id: str, *, force: bool = False) -> None:
        """Revoke a lease now. Revoking a lease that is gone raises LeaseNotFound;
        ``force`` drops the lease even if the cloud refuses (the object may remain)."""
        rec = self._lease_record(lease_id)
        error = self._revoke_record(rec, force=force)
        if error is not None:
            raise RevocationFailed(lease_id, f"{error}; it stays in the store and will be retried")

    def revoke_prefix(
        self,
        prefix: str,
        *,
        force: bool = False,
        concurrency: int = 4,
        progress: Callable[[int, int], None] | None = None,
    ) -> RevokeSummary:
        """Revoke every lease under ``prefix``. Failures do not stop the rest; they are
        returned in the summary and stay in the store for the worker."""
        if not isinstance(prefix, str) or not prefix.strip("/"):
            raise ValidationError(
                "prefix", "name a mount or role path; an empty prefix would revoke everything"
            )
        records = self._under(prefix)
        failed: dict[str, str] = {}
        done = 0
        lock = threading.Lock()
        batch = RevokeBatch(self)

        def one(rec: LeaseRecord) -> None:
            nonlocal done
            error = self._revoke_record(rec, force=force, batch=batch)
            with lock:
                done += 1
                if error is not None:
                    failed[rec.lease_id] = error
                if progress is not None:
                    progress(done, len(records))

        pool: Any = None
        if concurrency > 1 and len(records) > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix="dynsecrets-revoke"
            )
        try:
            for start in range(0, len(records), RevokeBatch.SIZE):
                chunk = records[start : start + RevokeBatch.SIZE]
                if pool is None:
                    for r in chunk:
                        one(r)
                else:
                    list(pool.map(one, chunk))
                batch.flush()
        finally:
            batch.flush()
            if pool is not None:
                pool.shutdown()
        return RevokeSummary(revoked=len(records) - len(failed), failed=failed)

    def _revoke_record(
        self,
        rec: LeaseRecord,
        *,
        force: bool = False,
        reason: str = "revoke",
        batch: RevokeBatch | None = None,
    ) -> str | None:
        """Revoke one stored lease; return None on success or the error text.

        On failure the lease stays, with its attempt count, error and next retry.
        With a ``batch``, the store row is deleted when the batch is flushed.
        """
        try:
            provider, config = (batch or RevokeBatch(self)).provider(rec.mount)
            # A pending lease may have created objects whatever its capabilities say.
            if rec.revocable or rec.state != LeaseState.ACTIVE:
                self.retry.call(lambda: provider.revoke(config, rec.plan, rec.revocation))
        except DynSecretsError as exc:
            if force:
                log.warning("force-revoked %s although the cloud refused: %s", rec.lease_id, exc)
                self._forget(rec.lease_id, batch)
                return None
            attempts = rec.attempts + 1
            irrevocable = attempts >= self.max_attempts
            now = self.clock.now()
            self.store.record_failure(
                rec.lease_id,
                state=LeaseState.IRREVOCABLE if irrevocable else LeaseState.REVOKING,
                attempts=attempts,
                last_error=_error_text(exc),
                due_at=now + (self.irrevocable_retry if irrevocable else self._backoff(attempts)),
            )
            log.warning("%s of %s failed (attempt %d): %s", reason, rec.lease_id, attempts, exc)
            self._emit("failure", rec.lease_id, rec.mount, rec.role, _error_text(exc))
            if irrevocable and rec.state != LeaseState.IRREVOCABLE:
                self._emit("irrevocable", rec.lease_id, rec.mount, rec.role, _error_text(exc))
            return _error_text(exc)
        self._forget(rec.lease_id, batch)
        log.info("revoked lease %s (%s)", rec.lease_id, reason)
        kind = {"expiry": "expire", "recovery": "recover"}.get(reason, "revoke")
        self._emit(kind, rec.lease_id, rec.mount, rec.role)
        return None

    def _forget(self, lease_id: str, batch: RevokeBatch | None) -> None:
        if batch is None:
            self.store.delete_lease(lease_id)
        else:
            batch.forget(lease_id)

    def _backoff(self, attempts: int) -> float:
        """About 10 s, doubling per attempt, capped at 1 h, +-50 % jitter (as Vault)."""
        base = min(3600.0, 10.0 * 2 ** max(0, attempts - 1))
        if self._rng is None:
            import random

            self._rng = random.Random()  # noqa: S311 (jitter, not secrets)
        return float(base * (0.5 + self._rng.random()))

    def expire_due(self, *, concurrency: int = 4) -> int:
        """One pass of the expiry worker: revoke leases past expiry, pending leases past
        the grace period, and failed revocations whose retry time has come. Returns how
        many were revoked."""
        return ExpiryWorker(self, concurrency=concurrency).run_once()

    def _recover_pending(self, limit: int = 100) -> None:
        """At open, clean up interrupted issuance left by a crash, once past the grace
        period. Bounded, so open() stays fast whatever the store holds; the worker
        handles the rest."""
        try:
            now = self.clock.now()
            owner = f"open:{os.urandom(8).hex()}"
            for rec in self.store.claim_due(
                now,
                owner=owner,
                deadline=now + self.claim_ttl,
                limit=limit,
                state=LeaseState.PENDING,
            ):
                self._revoke_record(rec, reason="recovery")
        except DynSecretsError as exc:  # never fail open() over cleanup; the worker retries
            log.warning("recovery of interrupted issuance failed: %s", exc)

    # -- Vault-style path API -----------------------------------------------------------
    def read(self, path: str, **fields: Any) -> Any:
        """``<mount>/config/root``, ``<mount>/config/lease``, ``<mount>/roles/<name>``,
        or ``<mount>/creds/<role>`` (issues a lease)."""
        mount, kind, name = self._route(path)
        if kind == "config/root":
            return mount.read_config()
        if kind == "config/lease":
            return mount.read_lease_config()
        if kind == "roles" and name:
            return {**mount.read_role(name).fields, "name": name}
        if kind == "creds" and name:
            ttl = fields.pop("ttl", None)
            return mount.issue(name, ttl=ttl, **fields)
        raise PathNotFound(f"cannot read {path!r}; see the paths listed in engine.read's docs")

    def write(self, path: str, **fields: Any) -> Any:
        mount, kind, name = self._route(path)
        if kind == "config/root":
            mount.configure(**fields)
            return None
        if kind == "config/lease":
            unknown = set(fields) - {"lease", "lease_max"}
            if unknown:
                raise ValidationError(
                    sorted(unknown)[0], "unknown field; config/lease takes lease and lease_max"
                )
            lease, lease_max = fields.get("lease"), fields.get("lease_max")
            self.tune(
                mount.path,
                default_ttl=None if lease in (None, "") else parse_duration(lease, field="lease"),
                max_ttl=None
                if lease_max in (None, "")
                else parse_duration(lease_max, field="lease_max"),
            )
            return None
        if kind == "roles" and name:
            mount.write_role(name, **fields)
            return None
        if kind == "creds" and name:
            ttl = fields.pop("ttl", None)
            return mount.issue(name, ttl=ttl, **fields)
        if kind in ("config/rotate-root", "rotate-root"):
            return mount.rotate_root()
        raise PathNotFound(f"cannot write {path!r}")

    def list(self, path: str) -> list[str]:
        mount, kind, name = self._route(path)
        if kind == "roles" and not name:
            return mount.roles()
        raise PathNotFound(f"cannot list {path!r}; try <mount>/roles")

    def delete(self, path: str) -> None:
        mount, kind, name = self._route(path)
        if kind == "roles" and name:
            mount.delete_role(name)
            return
        if kind == "config/root":
            self.store.update_mount(mount.path, config=None)
            self._audit("config.delete", f"{mount.path}/config/root")
            return
        raise PathNotFound(f"cannot delete {path!r}")

    def _route(self, path: str) -> tuple[Mount, str, str | None]:
        if not isinstance(path, str):
            raise ValidationError("path", "expected a string")
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            raise PathNotFound(f"{path!r} is not a path under a mount; try <mount>/roles/<name>")
        mount = self.mount(parts[0])
        rest = parts[1:]
        if rest[0] == "config" and len(rest) == 2 and rest[1] in ("root", "lease", "rotate-root"):
            return mount, f"config/{rest[1]}", None
        if rest == ["rotate-root"]:
            return mount, "rotate-root", None
        if rest[0] in ("roles", "creds", "sts") and len(rest) <= 2:
            kind = "creds" if rest[0] == "sts" else rest[0]
            return mount, kind, rest[1] if len(rest) == 2 else None
        raise PathNotFound(
            f"{path!r} is not a known path; use <mount>/config/root, <mount>/config/lease, "
            "<mount>/roles/<name> or <mount>/creds/<role>"
        )


class RevokeBatch:
    """Shared state for revoking many leases: each mount's provider and config are
    read once, and revoked leases leave the store in one transaction per batch
    rather than one each. (A crash before the flush only means those leases are
    revoked again, which revocation allows.)"""

    SIZE = 256

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._mounts: dict[str, tuple[Provider, dict[str, Any]]] = {}
        self._done: list[str] = []
        self._lock = threading.Lock()

    def provider(self, path: str) -> tuple[Provider, dict[str, Any]]:
        with self._lock:
            cached = self._mounts.get(path)
        if cached is None:
            rec = self.engine._mount_record(path)
            provider = self.engine._provider(rec)
            cached = (provider, self.engine._config(rec, provider))
            with self._lock:
                self._mounts[path] = cached
        return cached

    def forget(self, lease_id: str) -> None:
        with self._lock:
            self._done.append(lease_id)

    def flush(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        if done:
            self.engine.store.delete_leases(done)


def _info(rec: LeaseRecord) -> LeaseInfo:
    return LeaseInfo(
        lease_id=rec.lease_id,
        mount=rec.mount,
        role=rec.role,
        state=rec.state,
        renewable=rec.renewable,
        revocable=rec.revocable,
        issued_at=rec.issued_at,
        expires_at=rec.expires_at,
        max_expires_at=rec.max_expires_at,
        attempts=rec.attempts,
        last_error=rec.last_error,
        next_attempt_at=rec.due_at
        if rec.state in (LeaseState.REVOKING, LeaseState.IRREVOCABLE)
        else None,
    )


class Mount:
    """One enabled secrets engine. Get it from :meth:`Engine.enable` or :meth:`Engine.mount`."""

    def __init__(self, engine: Engine, path: str) -> None:
        self.engine = engine
        self.path = path

    def __repr__(self) -> str:
        return f"Mount({self.path!r})"

    @property
    def info(self) -> MountInfo:
        return self.engine._mount_info(self.engine._mount_record(self.path))

    @property
    def provider(self) -> Provider:
        """The provider instance serving this mount (tests inspect a fake's cloud here)."""
        return self._rec_provider()[1]

    def _rec_provider(self) -> tuple[MountRecord, Provider]:
        rec = self.engine._mount_record(self.path)
        return rec, self.engine._provider(rec)

    def configure(self, **fields: Any) -> None:
        """Validate and store the provider's root config (sealed)."""
        provider = self._rec_provider()[1]
        config = provider.validate_config(fields)
        self.engine.store.update_mount(self.path, config=self.engine._seal(config, self.path))
        log.info("configured %s/", self.path)
        if self.engine.audit is not None:
            hashed = self.engine.audit.hashed(config, provider.config_schema.secret_fields)
            self.engine._audit("config.write", f"{self.path}/config/root", fields=hashed)

    def read_config(self) -> dict[str, Any]:
        """The root config without its secret fields."""
        rec, provider = self._rec_provider()
        if rec.config is None:
            raise MountNotConfigured(
                f"{self.path}/ is not configured; write {self.path}/config/root first"
            )
        return provider.config_schema.masked(self.engine._unseal(rec.config, self.path))

    def read_lease_config(self) -> dict[str, Any]:
        rec = self.engine._mount_record(self.path)
        return {"lease": rec.default_ttl, "lease_max": rec.max_ttl}

    def rotate_root(self) -> dict[str, Any]:
        """Replace the root credential in the cloud and store the new one.
        Returns the new config without secrets."""
        rec, provider = self._rec_provider()
        config = self.engine._config(rec, provider)

        def persist(new: dict[str, Any]) -> None:
            self.engine.store.update_mount(self.path, config=self.engine._seal(new, self.path))

        try:
            new = provider.rotate_root(config, persist)
        except DynSecretsError as exc:
            self.engine._audit(
                "config.rotate_root", f"{self.path}/config/rotate-root", error=_error_text(exc)
            )
            raise
        log.info("rotated root credential of %s/", self.path)
        if self.engine.audit is not None:
            hashed = self.engine.audit.hashed(new, provider.config_schema.secret_fields)
            self.engine._audit(
                "config.rotate_root", f"{self.path}/config/rotate-root", fields=hashed
            )
        return provider.config_schema.masked(new)

    def write_role(self, name: str, **fields: Any) -> Role:
        name = check_role_name(name)
        provider = self._rec_provider()[1]
        engine_fields = {k: fields.pop(k) for k in list(fields) if k in ENGINE_ROLE_FIELDS.fields}
        common = ENGINE_ROLE_FIELDS.validate(engine_fields)
        if common["ttl"] and common["max_ttl"] and common["ttl"] > common["max_ttl"]:
            raise InvalidTTL("ttl", "is longer than the role's max_ttl; lower ttl or raise max_ttl")
        normalised = provider.validate_role(name, fields)
        provider_default = provider.default_ttl(normalised)
        if provider_default and common["max_ttl"] and provider_default > common["max_ttl"]:
            raise InvalidTTL(
                "default_ttl", "is longer than the role's max_ttl; lower it or raise max_ttl"
            )
        stored = {**normalised, **{k: v for k, v in common.items() if v is not None}}
        self.engine.store.put_role(self.path, name, stored)
        self.engine._audit("role.write", f"{self.path}/roles/{name}", fields=stored)
        return Role(self.path, name, stored)

    def read_role(self, name: str) -> Role:
        name = check_role_name(name)
        self.engine._mount_record(self.path)
        fields = self.engine.store.get_role(self.path, name)
        if fields is None:
            raise RoleNotFound(f"no role {name!r} at {self.path}/")
        return Role(self.path, name, fields)

    def roles(self) -> list[str]:
        self.engine._mount_record(self.path)
        return self.engine.store.list_roles(self.path)

    def delete_role(self, name: str) -> None:
        """Delete a role. Its live leases stay valid (as in Vault); revoke them by prefix."""
        name = check_role_name(name)
        if not self.engine.store.delete_role(self.path, name):
            raise RoleNotFound(f"no role {name!r} at {self.path}/")
        self.engine._audit("role.delete", f"{self.path}/roles/{name}")

    def issue(self, role: str, *, ttl: int | str | None = None, **options: Any) -> Lease:
        """Create a credential for ``role``; the lease is stored before the cloud is called."""
        return self.engine._issue(self.path, role, ttl, options)

    @contextmanager
    def lease(self, role: str, *, ttl: int | str | None = None, **options: Any) -> Iterator[Lease]:
        """Issue a lease for the ``with`` block and revoke it on exit, whatever happens."""
        lease = self.issue(role, ttl=ttl, **options)
        try:
            yield lease
        finally:
            self.engine.revoke(lease.lease_id)

    def leases(self, *, state: str | None = None) -> list[LeaseInfo]:
        return self.engine.leases(f"{self.path}/", state=state)

    def tidy(self, *, dry_run: bool = True) -> TidyReport:
        """Find cloud identities this mount created (by its tags or naming) that no
        lease in the store owns; with ``dry_run=False``, delete them. Identities the
        mount did not create are never touched."""
        rec, provider = self._rec_provider()
        config = self.engine._config(rec, provider)
        found = provider.list_managed(config, self.path)
        orphans = tuple(
            i
            for i in found
            if i.lease_id is None or self.engine.store.get_lease(i.lease_id) is None
        )
        deleted: list[str] = []
        errors: dict[str, str] = {}
        if not dry_run:
            for identity in orphans:
                try:
                    self.engine.retry.call(
                        functools.partial(provider.delete_managed, config, identity)
                    )
                except DynSecretsError as exc:
                    errors[identity.id] = _error_text(exc)
                else:
                    deleted.append(identity.id)
                    log.info("tidy deleted %s from %s/", identity.id, self.path)
                    self.engine._audit(
                        "tidy.delete",
                        f"{self.path}/",
                        identity=identity.id,
                        lease_id=identity.lease_id,
                    )
        return TidyReport(
            orphans=orphans,
            deleted=tuple(deleted),
            errors=errors,
            dry_run=dry_run,
            scanned=len(found),
        )
