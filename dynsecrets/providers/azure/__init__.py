"""Azure provider. azure-identity, azure-core and azure-mgmt-authorization are
imported on first use, never at import."""

from __future__ import annotations

from .helpers import azure_credential, environ
from .provider import AzureProvider

__all__ = ["AzureProvider", "azure_credential", "environ"]
