"""dynsecrets: short-lived cloud credentials as leases, without a Vault server.

The public API is what this module exports, plus :mod:`dynsecrets.errors`,
:mod:`dynsecrets.testing` and the provider kit in :mod:`dynsecrets.providers`.
Importing it loads no cloud SDK, and nothing else until a name is first used
(PEP 562): the engine and its value types load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DynSecretsError

if TYPE_CHECKING:
    from .clock import Clock, ManualClock, SystemClock
    from .engine import Engine, Event, Mount, RevokeSummary, TidyReport
    from .expiry import ExpiryWorker
    from .models import Capabilities, Lease, LeaseInfo, LeaseState, MountInfo, Role, SecretData
    from .providers.base import Issued, IssueRequest, ManagedIdentity, Provider, ProviderContext
    from .providers.registry import ProviderRegistry
    from .retry import RetryPolicy
    from .schema import Field, Schema
    from .ttl import format_duration, parse_duration

__version__ = "0.1.0.dev0"

_WHERE = {
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "Engine": "engine",
    "Event": "engine",
    "Mount": "engine",
    "RevokeSummary": "engine",
    "TidyReport": "engine",
    "ExpiryWorker": "expiry",
    "Capabilities": "models",
    "Lease": "models",
    "LeaseInfo": "models",
    "LeaseState": "models",
    "MountInfo": "models",
    "Role": "models",
    "SecretData": "models",
    "IssueRequest": "providers.base",
    "Issued": "providers.base",
    "ManagedIdentity": "providers.base",
    "Provider": "providers.base",
    "ProviderContext": "providers.base",
    "ProviderRegistry": "providers.registry",
    "RetryPolicy": "retry",
    "Field": "schema",
    "Schema": "schema",
    "format_duration": "ttl",
    "parse_duration": "ttl",
}

__all__ = [
    "Capabilities",
    "Clock",
    "DynSecretsError",
    "Engine",
    "Event",
    "ExpiryWorker",
    "Field",
    "IssueRequest",
    "Issued",
    "Lease",
    "LeaseInfo",
    "LeaseState",
    "ManagedIdentity",
    "ManualClock",
    "Mount",
    "MountInfo",
    "Provider",
    "ProviderContext",
    "ProviderRegistry",
    "RetryPolicy",
    "RevokeSummary",
    "Role",
    "Schema",
    "SecretData",
    "SystemClock",
    "TidyReport",
    "format_duration",
    "parse_duration",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dynsecrets' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
