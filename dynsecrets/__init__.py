"""dynsecrets: short-lived cloud credentials as leases, without a Vault server.

The public API is what this module exports, plus :mod:`dynsecrets.errors`,
:mod:`dynsecrets.testing` and the provider kit in :mod:`dynsecrets.providers`.
Importing it loads no cloud SDK.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .engine import Engine, Event, Mount, RevokeSummary, TidyReport
from .errors import DynSecretsError
from .expiry import ExpiryWorker
from .models import Capabilities, Lease, LeaseInfo, LeaseState, MountInfo, Role, SecretData
from .providers.base import Issued, IssueRequest, ManagedIdentity, Provider, ProviderContext
from .providers.registry import ProviderRegistry
from .retry import RetryPolicy
from .schema import Field, Schema
from .ttl import format_duration, parse_duration

__version__ = "0.1.0.dev0"

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
