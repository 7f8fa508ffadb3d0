"""Cloud providers and the contract they implement.

Each cloud lives in its own subpackage and imports its SDK lazily; this
package itself imports no SDK.
"""

from __future__ import annotations

from .base import (
    Issued,
    IssueRequest,
    KnownLease,
    ManagedIdentity,
    Provider,
    ProviderContext,
    RevokeErrors,
)
from .registry import ENTRY_POINT_GROUP, ProviderRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "IssueRequest",
    "Issued",
    "KnownLease",
    "ManagedIdentity",
    "Provider",
    "ProviderContext",
    "ProviderRegistry",
    "RevokeErrors",
]
