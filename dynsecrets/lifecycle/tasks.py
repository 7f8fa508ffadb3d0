"""Scheduled tasks: a static role's rotation, a mount's root rotation.

A task is a row of the lease table with ``plan[TASK_KEY]`` naming its kind and
``due_at`` its next run, so the expiry worker claims it exactly like a due lease:
one holder at a time across processes, kept alive by the heartbeat, retried with
backoff, and reported as ``irrevocable`` after ``max_attempts`` refusals. Lease
listings and revoke-by-prefix never show it (:func:`.leases.is_task`). A manual
run (``rotate``) claims the row first, so it never races the worker.

Task ids: ``@rotation/<mount>/root`` and ``@rotation/<mount>/static/<role>``:
outside every mount's lease prefix, so lease counts, caps and revoke-by-prefix never
meet them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import Conflict, DynSecretsError, ProviderError, RoleNotFound
from ..models import LeaseState
from ..store.base import LeaseRecord
from .claims import new_owner
from .events import error_text
from .leases import TASK_KEY
from .revocation import _defer, _record_failure

if TYPE_CHECKING:
    from .core import Core
    from .revocation import MountCache

__all__ = ["NEVER", "ROOT", "STATIC", "cancel", "health", "hold", "run", "schedule", "task_id"]

log = logging.getLogger("dynsecrets")

#: Task kinds.
ROOT = "rotate-root"
STATIC = "rotate-static"
#: The due time of a task with nothing scheduled (year 9999): kept for its state.
NEVER = 253402300799.0

#: What runs a due task: ``(core, mount, name) -> next due time``. Filled in by the
#: modules that own each kind (rotation, root_rotation), so this one imports neither.
RUNNERS: dict[str, Callable[[Core, str, str], float]] = {}


def task_id(mount: str, kind: str, name: str = "") -> str:
    return f"@rotation/{mount}/root" if kind == ROOT else f"@rotation/{mount}/static/{name}"


def schedule(
    core: Core, mount: str, kind: str, name: str, due_at: float, *, keep_health: bool = False
) -> None:
    """Create the task, or move it to ``due_at`` and reset its attempts (after a
    success; ``keep_health`` only moves it, mid-run). Its claim stays with its holder."""
    now = core.clock.now()
    core.store.put_task(
        LeaseRecord(
            lease_id=task_id(mount, kind, name),
            mount=mount,
            role=name,
            state=LeaseState.ACTIVE,
            plan={TASK_KEY: kind, "mount": mount, "name": name},
            revocation=None,
            issued_at=now,
            expires_at=due_at,
            max_expires_at=due_at,
            due_at=due_at,
            renewable=False,
            revocable=True,
        ),
        keep_health=keep_health,
    )


def health(core: Core, mount: str, kind: str, name: str = "") -> dict[str, object]:
    """How the task is doing, for reads: ``rotation_state`` is ``ok``, ``retrying``
    or ``irrevocable`` (as a lease that cannot be revoked), with the last error."""
    rec = core.store.get_lease(task_id(mount, kind, name))
    if rec is None or not rec.attempts:
        return {"rotation_state": "ok", "rotation_error": None}
    state = "irrevocable" if rec.state == LeaseState.IRREVOCABLE else "retrying"
    return {
        "rotation_state": state,
        "rotation_error": rec.last_error,
        "rotation_attempts": rec.attempts,
    }


def cancel(core: Core, mount: str, kind: str, name: str = "") -> None:
    core.store.delete_lease(task_id(mount, kind, name))


@contextmanager
def hold(
    core: Core, mount: str, kind: str, name: str = "", *, create: bool = False
) -> Iterator[str]:
    """Claim the task's row for a manual run (``Conflict`` while another process
    runs it), keep the claim alive for the block, and yield the owner. ``create``:
    make the row first if there is none (an import; a root config written before
    tasks existed); otherwise a missing row is ``NotFound``."""
    owner = new_owner("rotate")
    tid = task_id(mount, kind, name)
    with core.heartbeat.hold(owner):
        if core.store.get_lease(tid) is None:
            if not create:
                raise RoleNotFound(f"no static role {name!r} at {mount}/ (deleted meanwhile?)")
            # Due when this claim lapses: if the process dies, a worker finishes.
            schedule(core, mount, kind, name, core.heartbeat.deadline())
        if not core.store.claim_lease(
            tid, owner=owner, deadline=core.heartbeat.deadline(), now=core.clock.now()
        ):
            raise Conflict(f"{tid} is running elsewhere now; try again in a moment")
        try:
            yield owner
        finally:
            core.store.release_claim(tid, owner)


def run(core: Core, rec: LeaseRecord, mounts: MountCache | None = None) -> str | None:
    """Run a due task the worker claimed; None on success or the error text. On
    success the task moves to its next due time; on failure it is retried with
    backoff and reported as irrevocable lands, like a revocation."""
    kind = str(rec.plan.get(TASK_KEY))
    mount = str(rec.plan.get("mount"))
    runner = RUNNERS.get(kind)
    if runner is None:
        from . import root_rotation, rotation  # noqa: F401 (they register their runners)

        runner = RUNNERS.get(kind)
    try:
        if runner is None:
            raise Conflict(f"unknown task kind {kind!r}; upgrade dynsecrets on this node")
        with core.limited(mount):
            due = runner(core, mount, rec.role)
    except DynSecretsError as exc:
        if isinstance(exc, ProviderError):
            _record_failure(core, rec, exc, "rotation")
        else:
            _defer(core, rec, exc, "rotation")
        return error_text(exc)
    if core.store.get_lease(rec.lease_id) is not None:  # not deleted meanwhile
        schedule(core, mount, kind, rec.role, due)
        if rec.claim_owner:
            core.store.release_claim(rec.lease_id, rec.claim_owner)
    core.events.emit("rotate", rec.lease_id, mount, rec.role)
    log.info("ran %s (next %s)", rec.lease_id, "never" if due >= NEVER else f"at {due:.0f}")
    return None
