"""Value types of static roles: an existing identity whose secret dynsecrets rotates.

A provider that supports static roles declares ``Provider.static_role_schema`` (the
fields naming the identity, e.g. AWS ``username``) and implements the four
``static_*`` hooks of :class:`~dynsecrets.providers.base.Provider`. The engine owns
everything else: the rotation schedule, the grace period, write-ahead state,
reconciliation after a crash, and sealing the current secret.

Rotation, as the engine drives it (``lifecycle/rotation.py``):

1. ``static_secrets`` lists the identity's secrets; the engine stores the ids it
   knows *before* the create (the intent);
2. ``static_create`` makes one new secret and returns it;
3. ``static_check`` proves the new secret works (within the operation deadline);
4. the engine stores the new secret (sealed) and keeps the old one until its grace
   period ends, then calls ``static_delete`` for it.

After a crash between 1 and 4, ``static_secrets`` shows a secret the store does not
know, created after the intent: the engine deletes it (its value was lost with the
crash) and starts again. The old secret works throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["SecretInfo", "StaticSecret"]


@attrs.frozen
class SecretInfo:
    """One secret an identity has in the cloud, as ``static_secrets`` lists it: its id
    (an access key id, a key name, a password's keyId) and when the cloud says it
    was created (None when the cloud does not say)."""

    id: str
    created_at: float | None = None


@attrs.frozen(eq=False)  # never compared; holds a live secret
class StaticSecret:
    """A new secret from ``static_create``. ``data`` is what ``static-creds/<name>``
    returns (e.g. ``access_key``, ``secret_key``); ``secret_keys`` names its secret
    keys (default: all); ``env`` holds the cloud's environment variables for it."""

    id: str
    data: Mapping[str, Any] = attrs.field(repr=False)
    created_at: float | None = None
    secret_keys: frozenset[str] | None = None
    env: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
