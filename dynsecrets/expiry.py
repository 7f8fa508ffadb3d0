"""The expiry worker: revokes leases that are due, exactly once across any number of
threads, processes or nodes sharing a store.

Due means: an active lease past its expiry, a pending lease past the grace period
(interrupted issuance), or a failed revocation whose retry time has come. Each
pass *claims* due leases with a token and a deadline; a worker that dies loses its
claims when the deadline passes, and another worker takes them over.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from .store.base import LeaseRecord

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["ExpiryWorker"]

log = logging.getLogger("dynsecrets.expiry")


class ExpiryWorker:
    """Revokes due leases.

    ``run_once()`` does one pass (tests, cron); ``start()`` runs passes in a
    background thread until ``stop()``. Revocations run concurrently, at most
    ``concurrency`` at a time per mount, so a mass expiry does not trip cloud
    throttling.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 4,
        batch: int = 256,
        interval: float = 1.0,
        name: str | None = None,
    ) -> None:
        if concurrency < 1 or batch < 1 or interval <= 0:
            raise ValueError("concurrency and batch must be >= 1, interval > 0")
        self.engine = engine
        self.concurrency = concurrency
        self.batch = batch
        self.interval = interval
        self.name = name or f"worker-{os.urandom(4).hex()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, *, limit: int | None = None) -> int:
        """Claim and revoke everything due now. Returns how many leases were revoked."""
        owner = f"{self.name}:{os.urandom(8).hex()}"
        seen: set[str] = set()
        revoked = 0
        while not self._stop.is_set():
            now = self.engine.clock.now()
            claimed = self.engine.store.claim_due(
                now, owner=owner, deadline=now + self.engine.claim_ttl, limit=self.batch
            )
            batch = [r for r in claimed if r.lease_id not in seen]
            if not batch:
                break
            seen.update(r.lease_id for r in batch)
            revoked += self._revoke_batch(batch)
            if limit is not None and len(seen) >= limit:
                break
        return revoked

    def _revoke_batch(self, batch: list[LeaseRecord]) -> int:
        from .engine import RevokeBatch

        shared = RevokeBatch(self.engine)
        try:
            return self._revoke_all(batch, shared)
        finally:
            shared.flush()  # revoked leases leave the store in one transaction

    def _revoke_all(self, batch: list[LeaseRecord], shared: Any) -> int:
        from concurrent.futures import ThreadPoolExecutor  # only when there is work

        by_mount: dict[str, list[LeaseRecord]] = {}
        for rec in batch:
            by_mount.setdefault(rec.mount, []).append(rec)

        def drain(records: list[LeaseRecord]) -> int:
            # One mount's leases, `concurrency` at a time.
            if len(records) == 1 or self.concurrency == 1:
                return sum(self._revoke(r, shared) for r in records)
            with ThreadPoolExecutor(
                self.concurrency, thread_name_prefix="dynsecrets-expiry"
            ) as pool:
                return sum(pool.map(lambda r: self._revoke(r, shared), records))

        if len(by_mount) == 1:
            return drain(next(iter(by_mount.values())))
        with ThreadPoolExecutor(len(by_mount), thread_name_prefix="dynsecrets-mount") as pool:
            return sum(pool.map(drain, by_mount.values()))

    def _revoke(self, rec: LeaseRecord, shared: Any = None) -> int:
        reason = "recovery" if rec.state == "pending" else "expiry"
        return 1 if self.engine._revoke_record(rec, reason=reason, batch=shared) is None else 0

    # -- background thread -------------------------------------------------------------
    def start(self) -> ExpiryWorker:
        if self._thread is not None:
            raise RuntimeError("worker already started")
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
            due = self.engine.store.next_due()
        except Exception:
            return self.interval
        if due is None:
            return self.interval
        return min(self.interval, max(0.01, due - self.engine.clock.now()))

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
