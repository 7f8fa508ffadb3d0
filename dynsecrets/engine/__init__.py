"""The :class:`Engine` facade and the :class:`Mount` it hands out.

- :mod:`.facade`: the Engine (open, mounts, leases, events, workers);
- :mod:`.mount`: one mount's config, roles and issuance;
- :mod:`.router`: the Vault-style path API (``engine.read("aws/creds/ec2")``);
- :mod:`.tidy`: finding and removing identities no lease owns.

The lease lifecycle itself lives in :mod:`dynsecrets.lifecycle`.
"""

from __future__ import annotations

from ..lifecycle.events import Event
from ..lifecycle.revocation import RevokeSummary
from .facade import Engine
from .mount import Mount
from .tidy import TidyReport

__all__ = ["Engine", "Event", "Mount", "RevokeSummary", "TidyReport"]
