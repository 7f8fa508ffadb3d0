"""A provider with no cloud behind it: measures the lease engine alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from dynsecrets import Issued, IssueRequest, Provider, ProviderRegistry


class NullProvider(Provider):
    name: ClassVar[str] = "null"
    revoked_at: ClassVar[dict[str, float]] = {}
    _lock = threading.Lock()

    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        return {"lease_id": request.lease_id}

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        return Issued(data={"token": "t"}, revocation={"n": 1})

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        now = time.time()
        with self._lock:
            NullProvider.revoked_at[plan["lease_id"]] = now


def registry() -> ProviderRegistry:
    r = ProviderRegistry(entry_points=False)
    r.register(NullProvider)
    return r


KEY = "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMDA="  # 32 bytes, base64
