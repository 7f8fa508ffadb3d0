"""AliCloud provider. Alibaba Cloud's V2.0 SDK is imported on first use, never at import."""

from __future__ import annotations

from .permissions import PERMISSIONS
from .provider import AliCloudProvider

__all__ = ["PERMISSIONS", "AliCloudProvider"]
