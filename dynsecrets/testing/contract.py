"""Reusable conformance suites: :class:`ProviderContract` for providers,
:class:`StoreContract` for stores. (They live in ``provider_contract`` and
``store_contract``; this module keeps the names importable from one place.)"""

from __future__ import annotations

from .provider_contract import CloudCheck, ProviderContract
from .store_contract import StoreContract

__all__ = ["CloudCheck", "ProviderContract", "StoreContract"]
