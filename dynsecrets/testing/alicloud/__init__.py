"""A local fake of Alibaba Cloud RAM and STS (TLS, ACS3-HMAC-SHA256 signatures
verified), for testing the ``alicloud`` provider and code that uses it.

Needs ``trustme`` (the ``test`` extra) to make the throwaway CA.
"""

from __future__ import annotations

from .server import AliFaults, FakeAliCloud
from .signing import SignatureError, verify
from .state import Account, ApiError

__all__ = ["Account", "AliFaults", "ApiError", "FakeAliCloud", "SignatureError", "verify"]
