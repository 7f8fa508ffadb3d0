"""Revoking leases: one, by prefix, or as the expiry worker does.

Progress is durable per lease: a lease leaves the store as soon as the cloud has
revoked it, before the next one starts, so a process killed mid-drain repeats
only what was in flight. "Not found" in the cloud is success (the provider's
promise), so repeating it is harmless.

Only the cloud's refusals count as attempts toward ``irrevocable``. A local fault
(wrong key, missing provider plugin, bad local config) puts the lease back for
later without counting, since retrying cannot have reached the cloud.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import DynSecretsError, ProviderError, ValidationError
from ..models import LeaseState
from ..providers.base import Provider
from .events import error_text
from .leases import ACTION_KEY

if TYPE_CHECKING:
    from ..store.base import LeaseRecord, MountRecord
    from .core import Core

__all__ = ["MountCache", "RevokeSummary", "check_concurrency", "revoke_many", "revoke_record"]

log = logging.getLogger("dynsecrets")

_EVENT = {"expiry": "expire", "recovery": "recover"}


@attrs.frozen
class RevokeSummary:
    """What a bulk revocation did. Failed leases stay in the store for the worker."""

    revoked: int
    failed: Mapping[str, str] = attrs.field(factory=dict)

    def __int__(self) -> int:
        return self.revoked


class GroupCommit:
    """Deletes revoked leases' rows, committing concurrent deletions together.

    A revocation is done, and its thread moves on, only once its row's deletion is
    committed: so a crash repeats at most the revocations in flight (the
    concurrency bound), yet leases that finish at about the same time share one
    commit instead of paying one each. The first waiting thread commits for all
    (leader/follower); the others wait for it.
    """

    def __init__(self, core: Core) -> None:
        self.core = core
        self._cond = threading.Condition()
        self._pending: list[str] = []
        self._done: set[str] = set()
        self._committing = False

    def delete(self, lease_id: str) -> None:
        with self._cond:
            self._pending.append(lease_id)
            while lease_id not in self._done:
                if self._committing:
                    self._cond.wait()
                    continue
                batch, self._pending = self._pending, []
                self._committing = True
                self._cond.release()
                committed = False
                try:
                    if len(batch) == 1:
                        self.core.store.delete_lease(batch[0])
                    else:
                        self.core.store.delete_leases(batch)
                    committed = True
                finally:
                    self._cond.acquire()
                    self._committing = False
                    if committed:
                        self._done.update(batch)
                    else:  # the others' rows: the next leader tries them again
                        self._pending = [i for i in batch if i != lease_id] + self._pending
                    self._cond.notify_all()
            self._done.discard(lease_id)


class MountCache:
    """Each mount's provider and unsealed config, read once for many revocations."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._mounts: dict[str, tuple[Provider, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: Shared by the revocations that use this cache (one bulk operation).
        self.commits = GroupCommit(core)

    def get(self, path: str) -> tuple[Provider, dict[str, Any]]:
        with self._lock:
            cached = self._mounts.get(path)
        if cached is None:
            rec = self.core.mount_record(path)
            provider = self.core.provider(rec)
            cached = (provider, self.core.config(rec, provider))
            with self._lock:
                self._mounts[path] = cached
        return cached


def revoke_record(
    core: Core,
    rec: LeaseRecord,
    *,
    force: bool = False,
    reason: str = "revoke",
    mounts: MountCache | None = None,
    mount_rec: MountRecord | None = None,
) -> str | None:
    """Revoke one stored lease; return None on success or the error text.
    ``mount_rec``: the lease's mount, when the caller read it already.

    On a cloud failure the lease stays, with its attempt count, error and next
    retry; on a local fault it stays with its attempt count unchanged."""
    try:
        if mounts is not None:
            provider, config = mounts.get(rec.mount)
        else:
            # One lease: no cache (and no group commit) to set up for it.
            mount = mount_rec if mount_rec is not None else core.mount_record(rec.mount)
            provider = core.provider(mount)
            config = core.config(mount, provider)
        if ACTION_KEY in rec.plan:
            # A role action's row: undone before its switch, finished after it.
            from .role_actions import recover  # role_actions imports this module

            recover(core, provider, config, rec)
        # A pending lease may have created objects whatever its capabilities say.
        elif rec.revocable or rec.state != LeaseState.ACTIVE:
            # A slot of the mount's limiter first (waiting for one is not the
            # operation's time), then the deadline for its calls.
            with core.limited(rec.mount), core.deadline("revoke"):
                core.retry.call(lambda: undo(provider, config, rec.plan, rec.revocation))
    except DynSecretsError as exc:
        if force:
            log.warning("force-revoked %s although the cloud refused: %s", rec.lease_id, exc)
            core.store.delete_lease(rec.lease_id)
            return None
        if not isinstance(exc, ProviderError):
            _defer(core, rec, exc, reason)
        else:
            _record_failure(core, rec, exc, reason)
        return error_text(exc)
    # The row goes before anything else happens: from here a crash cannot make
    # this lease be revoked (or reported) again.
    if mounts is None:
        core.store.delete_lease(rec.lease_id)
    else:
        mounts.commits.delete(rec.lease_id)
    log.info("revoked lease %s (%s)", rec.lease_id, reason)
    core.events.emit(_EVENT.get(reason, "revoke"), rec.lease_id, rec.mount, rec.role)
    return None


def undo(
    provider: Provider,
    config: Mapping[str, Any],
    plan: Mapping[str, Any],
    revocation: Mapping[str, Any] | None,
) -> None:
    """Remove what a stored plan made: a role operation's plan (the engine stored it
    before a role write or delete) goes to ``undo_role``, a lease's to ``revoke``."""
    if plan.get("role_op"):
        provider.undo_role(config, plan)
    else:
        provider.revoke(config, plan, revocation)


def _defer(core: Core, rec: LeaseRecord, exc: DynSecretsError, reason: str) -> None:
    core.store.defer(
        rec.lease_id,
        due_at=core.clock.now() + core.backoff(max(1, rec.attempts)),
        last_error=f"local fault, not counted: {error_text(exc)}",
    )
    log.error("%s of %s cannot start here: %s", reason, rec.lease_id, exc)


def _record_failure(core: Core, rec: LeaseRecord, exc: DynSecretsError, reason: str) -> None:
    attempts = rec.attempts + 1
    irrevocable = attempts >= core.max_attempts
    now = core.clock.now()
    core.store.record_failure(
        rec.lease_id,
        state=LeaseState.IRREVOCABLE if irrevocable else LeaseState.REVOKING,
        attempts=attempts,
        last_error=error_text(exc),
        due_at=now + (core.irrevocable_retry if irrevocable else core.backoff(attempts)),
    )
    log.warning("%s of %s failed (attempt %d): %s", reason, rec.lease_id, attempts, exc)
    core.events.emit("failure", rec.lease_id, rec.mount, rec.role, error_text(exc))
    if irrevocable and rec.state != LeaseState.IRREVOCABLE:
        core.events.emit("irrevocable", rec.lease_id, rec.mount, rec.role, error_text(exc))


def revoke_many(
    core: Core,
    records: list[LeaseRecord],
    *,
    force: bool = False,
    reason: str = "revoke",
    concurrency: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> RevokeSummary:
    """Revoke ``records``, ``concurrency`` at a time; failures do not stop the rest."""
    check_concurrency(concurrency)
    failed: dict[str, str] = {}
    done = 0
    lock = threading.Lock()
    mounts = MountCache(core)

    def one(rec: LeaseRecord) -> None:
        nonlocal done
        error = revoke_record(core, rec, force=force, reason=reason, mounts=mounts)
        with lock:
            done += 1
            if error is not None:
                failed[rec.lease_id] = error
            if progress is not None:
                progress(done, len(records))

    if concurrency == 1 or len(records) <= 1:
        for rec in records:
            one(rec)
    else:
        from concurrent.futures import ThreadPoolExecutor  # only when there is work

        with ThreadPoolExecutor(concurrency, thread_name_prefix="dynsecrets-revoke") as pool:
            list(pool.map(one, records))
    return RevokeSummary(revoked=len(records) - len(failed), failed=failed)


def check_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("concurrency", "must be a positive integer (leases at once)")
    return value
