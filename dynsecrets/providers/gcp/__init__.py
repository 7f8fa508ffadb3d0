"""GCP provider. google-cloud-iam and google-auth are imported on first use, never at import."""

from __future__ import annotations

from .provider import GCPProvider

__all__ = ["GCPProvider"]
