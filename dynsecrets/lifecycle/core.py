"""What issuance, renewal, revocation and recovery share: the store, the providers
of each mount, their sealed config, the clock, retries, deadlines, claims and events."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import MountNotConfigured, MountNotFound, ValidationError
from ..providers.base import Provider, ProviderContext
from ..retry import RetryPolicy, operation_deadline
from .accounting import known_leases, known_roles
from .claims import Heartbeat, new_owner
from .events import Events
from .limiter import Limiter
from .sealing import ConfigSealing

if TYPE_CHECKING:
    import random

    from ..audit import AuditLog
    from ..clock import Clock
    from ..crypto import KeyProvider
    from ..providers.registry import ProviderRegistry
    from ..store import Store
    from ..store.base import MountRecord

__all__ = ["Core"]


class Core:
    """Shared services of one engine. Internal: the facade owns one."""

    def __init__(
        self,
        store: Store,
        *,
        registry: ProviderRegistry,
        clock: Clock,
        retry: RetryPolicy,
        key_provider: KeyProvider,
        audit: AuditLog | None,
        actor: str | None,
        claim_ttl: float,
        operation_timeout: float,
        max_attempts: int,
        irrevocable_retry: float,
    ) -> None:
        if not claim_ttl > 0:
            raise ValidationError("claim_ttl", "must be a positive number of seconds")
        if not operation_timeout > 0:
            raise ValidationError("operation_timeout", "must be a positive number of seconds")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValidationError("max_attempts", "must be a positive integer")
        self.store = store
        self.store_id: str = store.store_id
        self.registry = registry
        self.clock = clock
        self.retry = retry
        self.claim_ttl = float(claim_ttl)
        self.operation_timeout = float(operation_timeout)
        self.max_attempts = max_attempts
        self.irrevocable_retry = irrevocable_retry
        self.events = Events(clock, audit, actor)
        self.sealing = ConfigSealing(store, key_provider)
        self.heartbeat = Heartbeat(store, clock, self.claim_ttl)
        #: The owner of the claims this engine's issuers hold on their pending leases.
        self.issuer = new_owner("issuer")
        self._providers: dict[str, Provider] = {}
        self._configs: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._limiters: dict[str, Limiter] = {}
        self._lock = threading.Lock()
        self._rng: random.Random | None = None

    # -- mounts, providers, config -------------------------------------------------
    def mount_record(self, path: str) -> MountRecord:
        rec = self.store.get_mount(path)
        if rec is None:
            raise MountNotFound(f"no secrets engine is enabled at {path}/; enable one first")
        return rec

    def provider(self, rec: MountRecord) -> Provider:
        with self._lock:
            provider = self._providers.get(rec.path)
            if provider is None or provider.name != rec.provider:
                cls = self.registry.get(rec.provider)
                provider = cls(
                    ProviderContext(
                        clock=self.clock,
                        retry=self.retry,
                        store_id=self.store_id,
                        leases=functools.partial(known_leases, self),
                        roles=functools.partial(known_roles, self),
                    )
                )
                self._providers[rec.path] = provider
            return provider

    def drop_provider(self, path: str) -> None:
        with self._lock:
            provider = self._providers.pop(path, None)
        if provider is not None:
            provider.close()

    def config(self, rec: MountRecord, provider: Provider) -> dict[str, Any]:
        """The mount's root config, unsealed (or the provider's defaults when unset)."""
        if rec.config is not None:
            # Unsealed once per sealed blob: AES-GCM and JSON on every issue and revoke
            # were a measurable part of a lease's overhead. A new blob (configure,
            # rotate) is a new key, so the cache never serves a stale config.
            with self._lock:
                cached = self._configs.get(rec.path)
            if cached is not None and cached[0] == rec.config:
                return dict(cached[1])
            config = self.sealing.unseal(
                rec.config,
                rec.path,
                reseal=lambda blob: self.store.update_mount(rec.path, config=blob),
            )
            with self._lock:
                self._configs[rec.path] = (rec.config, config)
            return dict(config)
        try:
            return provider.validate_config({})
        except ValidationError as exc:
            raise MountNotConfigured(
                f"{rec.path}/ is not configured ({exc}); write {rec.path}/config/root first"
            ) from exc

    def seal(self, config: Mapping[str, Any], mount: str) -> bytes:
        return self.sealing.seal(config, mount)

    # -- how much at once ----------------------------------------------------------
    def limiter(self, path: str) -> Limiter:
        """The mount's adaptive limiter, shared by issuance, revocation and the worker."""
        with self._lock:
            limiter = self._limiters.get(path)
            if limiter is None:
                limiter = self._limiters[path] = Limiter(self.clock)
            return limiter

    def limited(self, path: str) -> AbstractContextManager[None]:
        """A slot of ``path``'s limiter for one operation; its cloud calls are paced."""
        return self.limiter(path).slot()

    # -- time ------------------------------------------------------------------------
    def deadline(self, operation: str) -> AbstractContextManager[None]:
        """One deadline for every cloud call ``operation`` makes, retries included."""
        return operation_deadline(self.operation_timeout, self.clock, operation)

    def backoff(self, attempts: int) -> float:
        """About 10 s, doubling per attempt, capped at 1 h, +-50 % jitter (as Vault)."""
        base = min(3600.0, 10.0 * 2 ** max(0, attempts - 1))
        if self._rng is None:
            import random

            self._rng = random.Random()  # noqa: S311 (jitter, not secrets)
        return float(base * (0.5 + self._rng.random()))

    def close(self) -> None:
        self.heartbeat.close()
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            provider.close()
