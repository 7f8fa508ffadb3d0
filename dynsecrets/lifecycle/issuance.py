"""Issuing a lease. The lease is its own write-ahead log (DESIGN.md):

1. the provider plans every name it will create, with no cloud call;
2. the lease is stored ``pending``, claimed by this issuer, before the first call;
3. the provider creates; the lease becomes ``active`` with its revocation data;
4. on failure, what the plan names is revoked at once.

While the issuer works, its heartbeat keeps the claim on the pending lease alive;
if the process dies, the claim lapses and recovery revokes the plan within one
``claim_ttl``. Recovery never touches a lease whose issuer is still alive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._names import check_role_name, new_lease_id
from ..errors import (
    DynSecretsError,
    LeaseLimitExceeded,
    MountNotFound,
    ProviderError,
    RoleNotFound,
)
from ..models import Lease, LeaseState, SecretData
from ..providers.base import IssueRequest, Provider
from ..store.base import LeaseRecord
from ..ttl import parse_duration
from .events import error_text
from .leases import ACTOR_KEY
from .limits import latest_expiry
from .revocation import undo

if TYPE_CHECKING:
    from ..store.base import MountRecord
    from .core import Core

__all__ = ["issue"]

log = logging.getLogger("dynsecrets")


def issue(
    core: Core,
    path: str,
    role_name: str,
    ttl: int | str | None,
    options: Mapping[str, Any],
    *,
    lease_path: str | None = None,
    kind: str | None = None,
) -> Lease:
    """Issue from ``role_name``; the lease is filed under ``<path>/<lease_path>/``
    (default: the provider's, ``creds/<role>``). ``kind``: the role must be of it."""
    role_name = check_role_name(role_name)
    found, fields = core.store.get_mount_role(path, role_name)  # one query on the hot path
    if found is None:
        raise MountNotFound(f"no secrets engine is enabled at {path}/; enable one first")
    rec = found
    provider = core.provider(rec)
    if fields is None or (kind is not None and fields.get(provider.role_kind_field) != kind):
        where = f"{kind} " if kind else "role "
        hint = "it" if kind else f"{path}/roles/{role_name}"
        raise RoleNotFound(f"no {where}{role_name!r} at {path}/; write {hint} first")
    config = core.config(rec, provider)
    options = provider.request_schema.validate(options) if options else {}
    caps = provider.capabilities(fields)
    lease_ttl, max_ttl, requested, warnings = _ttls(rec, fields, provider, ttl, config)
    until = latest_expiry()
    if until is not None:
        # The caller's session ends then (a server token): the lease may not outlive it.
        max_ttl = min(max_ttl, max(1, int(until - core.clock.now())))
        lease_ttl = min(lease_ttl, max_ttl)

    now = core.clock.now()
    leased = caps.leased
    if leased:
        _check_cap(core, rec, role_name, fields)
    lease_id = (
        new_lease_id(path, lease_path or provider.lease_path(role_name, fields, options))
        if leased
        else ""
    )
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
        store_id=core.store_id,
        actor=core.events.current_actor(),
    )
    if not leased:
        return _issue_unleased(core, provider, config, request, warnings)
    plan = provider.plan(config, request)
    if request.actor:
        # Kept with the lease (``lease list`` shows who asked), never sent anywhere.
        plan = {**plan, ACTOR_KEY: request.actor}
    # Write-ahead: the plan is durable, and claimed by this issuer, before the first
    # cloud call. It is due when the claim lapses; the heartbeat moves both.
    claim_deadline = core.heartbeat.deadline()
    core.store.insert_lease(
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
            due_at=claim_deadline,
            renewable=caps.renewable,
            revocable=caps.revocable,
            claim_owner=core.issuer,
            claim_deadline=claim_deadline,
        )
    )
    # The mount's limiter paces the cloud calls, rollback's included.
    with core.heartbeat.hold(core.issuer), core.limited(path):
        try:
            with core.deadline("issue"):
                issued = provider.issue(config, request, plan)
        except BaseException as exc:
            core.events.emit("failure", lease_id, path, role_name, error_text(exc))
            if isinstance(exc, ProviderError) and exc.nothing_created:
                # The provider knows its first create was refused: nothing to undo.
                core.store.delete_lease(lease_id)
            else:
                rollback(core, provider, config, lease_id, plan, exc)
            raise
        expires_at = now + lease_ttl
        if issued.expires_at is not None:
            # The cloud fixed the lifetime (STS): the lease ends when the token does,
            # and its duration is what is left of it now, after the call (counted
            # from before it, a slow call read as more than the cloud granted).
            expires_at = issued.expires_at
            # Never more than was asked for: the cloud grants at most that.
            left = round(issued.expires_at - core.clock.now())
            lease_ttl = max(0, min(lease_ttl, left))
        max_expires_at = max(now + max_ttl, expires_at)
        if not core.store.activate_lease(
            lease_id,
            revocation=issued.revocation,
            expires_at=expires_at,
            max_expires_at=max_expires_at,
            renewable=caps.renewable,
            owner=core.issuer,
        ):
            # Recovery took this lease over (our claim lapsed: the heartbeat could not
            # reach the store for a whole claim_ttl): what we just created must go too.
            rollback(core, provider, config, lease_id, plan, TimeoutError("claim lapsed"))
            raise ProviderError(
                f"issuing {lease_id} lost its claim (the store was unreachable for longer "
                f"than claim_ttl, {core.claim_ttl:.0f}s) and was rolled back; try again",
                operation="issue",
            )
    log.info("issued lease %s (ttl %ss)", lease_id, lease_ttl)
    core.events.emit(
        "issue",
        lease_id,
        path,
        role_name,
        ttl=lease_ttl,
        plan=plan,
        data=core.events.hashed(issued.data, issued.secret_keys or issued.data),
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


def _issue_unleased(
    core: Core,
    provider: Provider,
    config: Mapping[str, Any],
    request: IssueRequest,
    warnings: list[str],
) -> Lease:
    """A credential the cloud cannot revoke and the provider issues without a lease
    (``Capabilities(leased=False)``, e.g. a GCP access token): nothing is stored,
    since nothing could be cleaned up; the audit log still records it."""
    path, role_name = request.mount, request.role_name
    plan = provider.plan(config, request)
    if request.actor:
        # Kept with the lease (``lease list`` shows who asked), never sent anywhere.
        plan = {**plan, ACTOR_KEY: request.actor}
    try:
        with core.deadline("issue"):
            issued = provider.issue(config, request, plan)
    except BaseException as exc:
        core.events.emit("failure", "", path, role_name, error_text(exc))
        raise
    expires_at = issued.expires_at if issued.expires_at is not None else request.now + request.ttl
    core.events.emit(
        "issue",
        "",
        path,
        role_name,
        ttl=max(0, int(expires_at - request.now)),
        leased=False,
        plan=plan,
        data=core.events.hashed(issued.data, issued.secret_keys or issued.data),
    )
    return Lease(
        lease_id="",
        mount=path,
        role=role_name,
        lease_duration=0,
        renewable=False,
        revocable=False,
        issued_at=request.now,
        expires_at=expires_at,
        data=SecretData(issued.data, issued.secret_keys),
        warnings=tuple(warnings) + tuple(issued.warnings),
        env=issued.env,
    )


def _ttls(
    rec: MountRecord,
    fields: Mapping[str, Any],
    provider: Provider,
    ttl: int | str | None,
    config: Mapping[str, Any] | None = None,
) -> tuple[int, int, int | None, list[str]]:
    """(lease TTL, max TTL, requested TTL, warnings): request, role, root config (a
    provider whose config has ``ttl``/``max_ttl``, as Vault's GCP engine), provider
    and mount defaults, clamped to the smallest of the caps."""
    warnings: list[str] = []
    config = config or {}
    requested = None if ttl in (None, "") else parse_duration(ttl, field="ttl")
    max_ttl = min(rec.max_ttl, fields.get("max_ttl") or rec.max_ttl)
    if config.get("max_ttl"):
        max_ttl = min(max_ttl, int(config["max_ttl"]))
    cloud_max = provider.max_ttl(fields)
    if cloud_max is not None and cloud_max < max_ttl:
        max_ttl = cloud_max
    lease_ttl = (
        requested
        or fields.get("ttl")
        or config.get("ttl")
        or provider.default_ttl(fields)
        or rec.default_ttl
    )
    if lease_ttl > max_ttl:
        # Only a TTL someone asked for is worth a warning; a mount-wide default
        # that a shorter cap overrides is just the cap working (as in Vault).
        if requested or fields.get("ttl"):
            warnings.append(
                f"TTL of {lease_ttl}s exceeded the effective max_ttl; clamped to {max_ttl}s"
            )
        lease_ttl = max_ttl
    return lease_ttl, max_ttl, requested, warnings


def rollback(
    core: Core,
    provider: Provider,
    config: Mapping[str, Any],
    lease_id: str,
    plan: Mapping[str, Any],
    cause: BaseException,
) -> None:
    """Undo a failed issuance from its plan. If the cloud refuses, the pending lease
    stays, marked for retry, so the worker finishes the job."""
    rec_mount = lease_id.partition("/")[0]
    stored = core.store.get_lease(lease_id)
    role = stored.role if stored is not None else ""
    try:
        with core.deadline("rollback"):
            core.retry.call(lambda: undo(provider, config, plan, None))
    except Exception as exc:
        log.warning("rollback of %s failed; the worker will retry: %s", lease_id, exc)
        rec = core.store.get_lease(lease_id)
        if rec is not None:
            counts = isinstance(exc, DynSecretsError) and isinstance(exc, ProviderError)
            attempts = rec.attempts + 1 if counts else rec.attempts
            core.store.record_failure(
                lease_id,
                state=LeaseState.REVOKING,
                attempts=attempts,
                last_error=f"rollback after {type(cause).__name__}: {error_text(exc)}",
                due_at=core.clock.now() + core.backoff(max(1, attempts)),
            )
        return
    core.store.delete_lease(lease_id)
    log.info("rolled back lease %s after %s", lease_id, type(cause).__name__)
    core.events.emit("rollback", lease_id, rec_mount, role)


def _check_cap(core: Core, rec: MountRecord, role: str, fields: Mapping[str, Any]) -> None:
    if rec.max_leases is not None and core.store.count_leases(rec.path) >= rec.max_leases:
        raise LeaseLimitExceeded(
            f"{rec.path}/ has reached max_leases={rec.max_leases}; revoke leases or raise the cap"
        )
    cap = fields.get("max_leases")
    if cap is not None and core.store.count_leases(rec.path, role) >= cap:
        raise LeaseLimitExceeded(
            f"role {role!r} at {rec.path}/ has reached max_leases={cap}; revoke leases or raise the cap"
        )
