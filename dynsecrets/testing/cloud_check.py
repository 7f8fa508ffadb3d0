"""How the provider contract suite looks at the cloud: :class:`CloudCheck`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..engine import Mount
from ..models import Lease
from ..providers.base import Provider

__all__ = ["CloudCheck", "overrides"]


class CloudCheck:
    """How the suite looks at the cloud. Override what your cloud can answer;
    None means "cannot tell" and skips that assertion."""

    def exists(self, mount: Mount, lease: Lease) -> bool | None:
        """Whether the lease's identity (or its secret) exists in the cloud."""
        return None

    def secret_count(self, mount: Mount, lease: Lease) -> int | None:
        """How many secrets (keys, passwords) the lease's identity holds."""
        return None

    def role_objects(self, mount: Mount, plan: Mapping[str, Any]) -> int | None:
        """How many of the cloud objects a role plan (``Provider.plan_role``) names
        exist or are still bound (a roleset's accounts and their bindings)."""
        return None


class _MethodCheck(CloudCheck):
    """The older hook: a ``credential_exists(mount, lease)`` method on the suite."""

    def __init__(self, fn: Callable[[Mount, Lease], bool | None]) -> None:
        self._fn = fn

    def exists(self, mount: Mount, lease: Lease) -> bool | None:
        return self._fn(mount, lease)


def overrides(provider: Provider, name: str) -> bool:
    return getattr(type(provider), name) is not getattr(Provider, name)
