"""The expiry worker: revokes leases that are due, and runs due rotations (static
roles' secrets, root credentials; :mod:`.lifecycle.tasks`), exactly once across any number of
threads, processes or nodes sharing a store.

Due means: an active lease past its expiry, a pending lease whose issuer's claim
has lapsed (interrupted issuance), or a failed revocation whose retry time has
come. Each pass *claims* due leases with a token and a deadline ``claim_ttl``
ahead, which a heartbeat keeps moving while the worker lives; when a worker dies,
its claims lapse within one ``claim_ttl`` and another worker takes them over.
Each lease leaves the store as soon as it is revoked, so a killed worker's
successor repeats only what was in flight.

This module builds on :mod:`dynsecrets.lifecycle` (revocation), never on the
:class:`~dynsecrets.Engine` facade.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from .errors import ValidationError
from .lifecycle import tasks
from .lifecycle.claims import new_owner
from .lifecycle.core import Core
from .lifecycle.leases import TASK_KEY, is_task
from .lifecycle.revocation import MountCache, check_concurrency, revoke_record
from .models import LeaseState
from .store.base import LeaseRecord

__all__ = ["ExpiryWorker"]

log = logging.getLogger("dynsecrets.expiry")


class _HasCore(Protocol):
    @property
    def core(self) -> Core: ...


class ExpiryWorker:
    """Revokes due leases of an engine (pass the :class:`~dynsecrets.Engine`).

    ``run_once()`` does one pass (tests, cron); ``start()`` runs passes in a
    background thread until ``stop()``. Revocations run concurrently, at most
    ``concurrency`` at a time per mount; within that, the mount's adaptive limiter
    (shared with issuance and ``revoke_prefix``) lowers the concurrency and paces
    the calls when the cloud throttles. A worker whose key cannot open the store
    refuses to start.
    """

    def __init__(
        self,
        engine: _HasCore | Core,
        *,
        concurrency: int = 16,
        batch: int = 256,
        interval: float = 1.0,
        name: str | None = None,
    ) -> None:
        check_concurrency(concurrency)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValidationError("batch", "must be a positive integer (leases per claim)")
        if not isinstance(interval, (int, float)) or not interval > 0:
            raise ValidationError("interval", "must be a positive number of seconds")
        self.core = engine if isinstance(engine, Core) else engine.core
        self.concurrency = concurrency
        self.batch = batch
        self.interval = float(interval)
        self.name = name or "worker"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._key_checked = False

    def check(self) -> None:
        """Raise :class:`~dynsecrets.crypto.DecryptionError` if this process's key
        cannot open the store: revoking with a wrong key could only fail."""
        if not self._key_checked:
            self.core.sealing.check_key()
            self._key_checked = True

    def run_once(self, *, limit: int | None = None) -> int:
        """Claim and revoke everything due now. Returns how many leases were revoked."""
        self.check()
        core = self.core
        owner = new_owner(self.name)
        seen: set[str] = set()
        revoked = 0
        with core.heartbeat.hold(owner):
            while not self._stop.is_set():
                now = core.clock.now()
                claimed = core.store.claim_due(
                    now, owner=owner, deadline=core.heartbeat.deadline(), limit=self.batch
                )
                batch = [r for r in claimed if r.lease_id not in seen]
                if not batch:
                    break
                seen.update(r.lease_id for r in batch)
                revoked += self._revoke_all(batch, MountCache(core))
                if limit is not None and len(seen) >= limit:
                    break
        return revoked

    def _revoke_all(self, batch: list[LeaseRecord], mounts: MountCache) -> int:
        from concurrent.futures import ThreadPoolExecutor  # only when there is work

        by_mount: dict[str, list[LeaseRecord]] = {}
        for rec in batch:
            by_mount.setdefault(rec.mount, []).append(rec)

        def one(rec: LeaseRecord) -> int:
            if is_task(rec):  # a due rotation
                return 1 if tasks.run(self.core, rec, mounts) is None else 0
            reason = "recovery" if rec.state == LeaseState.PENDING else "expiry"
            error = revoke_record(self.core, rec, reason=reason, mounts=mounts)
            return 1 if error is None else 0

        def drain(records: list[LeaseRecord]) -> int:
            # One mount's leases, `concurrency` at a time; its root rotation last, on
            # its own, so no call of this pass runs with a root key being replaced.
            last = [r for r in records if r.plan.get(TASK_KEY) == tasks.ROOT]
            records = [r for r in records if r.plan.get(TASK_KEY) != tasks.ROOT]
            if len(records) <= 1 or self.concurrency == 1:
                done = sum(one(r) for r in records)
            else:
                with ThreadPoolExecutor(
                    self.concurrency, thread_name_prefix="dynsecrets-expiry"
                ) as pool:
                    done = sum(pool.map(one, records))
            return done + sum(one(r) for r in last)

        if len(by_mount) == 1:
            return drain(next(iter(by_mount.values())))
        with ThreadPoolExecutor(len(by_mount), thread_name_prefix="dynsecrets-mount") as pool:
            return sum(pool.map(drain, by_mount.values()))

    # -- background thread -------------------------------------------------------------
    def start(self) -> ExpiryWorker:
        if self._thread is not None:
            raise RuntimeError("worker already started")
        self.check()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"dynsecrets-{self.name}", daemon=True
        )
        self._thread.start()
        log.info("expiry worker %s started", self.name)
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a worker must outlive a bad pass; the next one retries
                log.exception("expiry pass failed")
            self._stop.wait(self._until_next())

    def _until_next(self) -> float:
        """Sleep until the next lease is due, at most ``interval``: low expiry lag
        without polling the store in a tight loop."""
        try:
            due = self.core.store.next_due()
        except Exception:
            return self.interval
        if due is None:
            return self.interval
        return min(self.interval, max(0.01, due - self.core.clock.now()))

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            log.info("expiry worker %s stopped", self.name)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ExpiryWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
