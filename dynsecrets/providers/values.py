"""The values the engine and a provider pass each other (see :mod:`.base`): the
request for a credential, what ``issue`` returns, the context the engine lends a
provider, the store's view of a mount's leases, and what ``list_managed`` reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..clock import Clock, SystemClock
from ..retry import RetryPolicy

__all__ = ["IssueRequest", "Issued", "KnownLease", "ManagedIdentity", "ProviderContext"]


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class KnownLease:
    """A lease as the store knows it (``ProviderContext.leases``). ``in_flight``: pending
    and claimed by another engine's issuer, so its secret may exist in the cloud
    before the store can name it (``revocation`` is None until it is active)."""

    lease_id: str
    role: str
    plan: Mapping[str, Any]
    revocation: Mapping[str, Any] | None
    in_flight: bool = False


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class ProviderContext:
    """What the engine lends a provider: a clock, a retry policy on that clock, and
    the id of the store, which the provider tags every identity it creates with so
    that tidy never touches another store's identities; ``leases(mount)``, the
    store's view of a mount's leases for reconciling (docs/plugins.md); and
    ``roles(mount)``, the mount's stored roles by name (read-only: where tidy
    should look, e.g. each GCP roleset's project)."""

    clock: Clock = attrs.field(factory=SystemClock)
    retry: RetryPolicy = attrs.field(
        default=attrs.Factory(lambda self: RetryPolicy(clock=self.clock), takes_self=True)
    )
    store_id: str = ""
    leases: Callable[[str], Sequence[KnownLease]] | None = None
    roles: Callable[[str], Mapping[str, Mapping[str, Any]]] | None = None


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class IssueRequest:
    """One request for a credential, as the engine passes it to ``plan`` and ``issue``."""

    mount: str
    role_name: str
    role: Mapping[str, Any]
    lease_id: str
    ttl: int
    now: float
    options: Mapping[str, Any] = attrs.field(factory=dict)
    #: The TTL the caller asked for, before defaults and clamping (None: not asked).
    requested_ttl: int | None = None
    #: The longest this lease may live (mount, role and cloud caps applied).
    max_ttl: int | None = None
    #: The store's id: tag created identities with it (tidy deletes only its own).
    store_id: str = ""
    #: Who asked (a person or service, from ``engine.acting_as``/``actor=``, the CLI's
    #: ``$USER`` or ``-actor``, a server token's display name); "" when unknown. Put it
    #: where the cloud keeps it (a tag, a description), sanitised to the cloud's rules.
    actor: str = ""


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class Issued:
    """What ``issue`` returns.

    ``data`` goes to the caller and is never stored; ``revocation`` is stored
    and later handed to ``revoke``. ``secret_keys`` names the keys of ``data``
    that are secret (default: all). ``expires_at`` is set when the cloud fixes
    the lifetime (STS tokens); ``env`` holds the cloud's standard environment
    variables for these credentials.
    """

    data: Mapping[str, Any]
    revocation: Mapping[str, Any] = attrs.field(factory=dict)
    secret_keys: frozenset[str] | None = None
    expires_at: float | None = None
    env: Mapping[str, Any] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Issued(keys={sorted(self.data)}, revocation={dict(self.revocation)!r})"


@attrs.frozen
class ManagedIdentity:
    """A cloud identity a mount created, as ``list_managed`` reports it."""

    id: str
    lease_id: str | None = None
    created_at: float | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)
    #: The store id the identity is tagged with; tidy deletes only its own store's.
    store_id: str | None = None
    #: The role that owns it instead of a lease (a GCP roleset's account): owned while
    #: the role's fields, or a pending role operation's plan, name its ``id``.
    role: str | None = None
