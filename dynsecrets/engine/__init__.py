"""The :class:`Engine` facade and the :class:`Mount` it hands out.

- :mod:`.facade`: the Engine (open, mounts, leases, events, workers);
- :mod:`.mount`: one mount's config, roles and issuance;
- :mod:`.router`: the Vault-style path API (``engine.read("aws/creds/ec2")``);
- :mod:`.tidy`: finding and removing identities no lease owns.

The lease lifecycle itself lives in :mod:`dynsecrets.lifecycle`. Only the facade
loads with this package; the rest on first use (PEP 562), so opening an engine
costs only what opening needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .facade import Engine

if TYPE_CHECKING:
    from ..lifecycle.events import Event
    from ..lifecycle.revocation import RevokeSummary
    from .mount import Mount
    from .tidy import TidyReport

__all__ = ["Engine", "Event", "Mount", "RevokeSummary", "TidyReport"]

_WHERE = {
    "Event": "..lifecycle.events",
    "RevokeSummary": "..lifecycle.revocation",
    "Mount": ".mount",
    "TidyReport": ".tidy",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value
