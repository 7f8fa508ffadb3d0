"""Turn an Azure lease into what Azure tools take."""

from __future__ import annotations

from typing import Any

from ...models import Lease


def azure_credential(lease: Lease, **kwargs: Any) -> Any:
    """An azure-identity ``ClientSecretCredential`` for the lease's principal."""
    return lease.azure_credential(**kwargs)


def environ(lease: Lease) -> dict[str, str]:
    """``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``, ``AZURE_TENANT_ID`` (what
    azure-identity's ``EnvironmentCredential`` reads) and ``AZURE_SUBSCRIPTION_ID``."""
    return lease.environ()
