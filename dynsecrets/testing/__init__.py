"""Test helpers that are part of the public API.

- :class:`FakeProvider` (provider ``fake``) and the :class:`FakeCloud` behind it,
  with fault injection;
- :class:`~dynsecrets.clock.ManualClock`, a clock that moves when told;
- :func:`fake_engine`, an engine on ``memory://`` with the fake registered;
- ``ProviderContract`` and ``StoreContract``, suites to subclass (they need pytest,
  so they load on first access);
- a pytest plugin (loaded automatically) with the fixtures ``dynsecrets_clock``,
  ``dynsecrets_engine``, ``fake_mount`` and ``fake_cloud``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import ManualClock
from ._fake import FakeCloud, FakeCloudError, FakeProvider

if TYPE_CHECKING:
    from ..engine import Engine
    from .contract import CloudCheck, ProviderContract, StoreContract

__all__ = [
    "CloudCheck",
    "FakeCloud",
    "FakeCloudError",
    "FakeProvider",
    "ManualClock",
    "ProviderContract",
    "StoreContract",
    "fake_engine",
]


def fake_engine(
    *, clock: Any = None, cloud: FakeCloud | None = None, url: str = "memory://", **kwargs: Any
) -> Engine:
    """An engine on ``url`` whose ``fake`` provider talks to ``cloud``, retrying
    without sleeping when ``clock`` is a ManualClock."""
    from ..engine import Engine
    from ..providers.registry import ProviderRegistry
    from ..store import open_store

    clock = clock or ManualClock()
    registry = ProviderRegistry()
    registry.register(FakeProvider.sharing(cloud or FakeCloud(clock=clock)), "fake")
    return Engine(open_store(url), registry=registry, clock=clock, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("ProviderContract", "StoreContract", "CloudCheck"):
        from . import contract

        return getattr(contract, name)
    raise AttributeError(f"module 'dynsecrets.testing' has no attribute {name!r}")
