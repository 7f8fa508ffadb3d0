"""The provider contract: what a cloud plugin implements.

A provider translates a role into the cloud's own identities and keys. The
engine drives it in a fixed order so that nothing is ever lost:

1. :meth:`Provider.plan` chooses every name it will create, with no cloud call.
   The engine stores the plan (the lease is ``pending``) before step 2.
2. :meth:`Provider.issue` creates the credential and returns the secrets (given
   to the caller only) and revocation data (stored).
3. :meth:`Provider.revoke` deletes everything the plan names. It must accept a
   partly created credential: "not found" is success, every step is attempted,
   and errors are reported together.

A provider never touches the store and never sees another mount's config.
SDK exceptions must not escape: map them to
:class:`~dynsecrets.errors.TransientProviderError` or
:class:`~dynsecrets.errors.PermanentProviderError`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..clock import Clock
from ..errors import PermanentProviderError, RevokeErrors
from ..models import Capabilities
from ..schema import Schema
from .routes import DEFAULT_ROUTES, Route
from .static import SecretInfo, StaticSecret
from .values import Issued, IssueRequest, KnownLease, ManagedIdentity, ProviderContext

__all__ = [
    "IssueRequest",
    "Issued",
    "KnownLease",
    "ManagedIdentity",
    "Provider",
    "ProviderContext",
    "RevokeErrors",
    "SecretInfo",
    "StaticSecret",
]


class Provider(abc.ABC):
    """Base class for cloud providers. Subclass it and register an entry point::

        [project.entry-points."dynsecrets.providers"]
        mycloud = "my_package:MyCloudProvider"

    One instance serves one mount. Config is passed to every call, so the
    instance may cache SDK clients keyed by it.
    """

    #: The name users pass to ``engine.enable(path, name)``.
    name: ClassVar[str]
    #: Fields of ``<mount>/config/root``. Fields with ``secret=True`` are never read back.
    config_schema: ClassVar[Schema] = Schema({}, what="config")
    #: Fields of ``<mount>/roles/<name>``.
    role_schema: ClassVar[Schema] = Schema({}, what="role")
    #: Per-request options accepted by ``mount.issue(role, **options)`` (e.g. an MFA code).
    request_schema: ClassVar[Schema] = Schema({}, what="request")
    #: The Vault paths this provider serves under its mount (see :mod:`.routes`).
    routes: ClassVar[tuple[Route, ...]] = DEFAULT_ROUTES
    #: Fields of ``static-roles/<name>`` that name an existing identity (AWS
    #: ``username``); None: this provider has no static roles. The engine adds
    #: ``rotation_period`` and ``rotation_grace_period`` (see :mod:`.static`).
    static_role_schema: ClassVar[Schema | None] = None
    #: How many secrets the cloud lets one identity have (AWS and RAM: 2 access keys).
    static_secret_limit: ClassVar[int | None] = None
    #: The shortest ``rotation_period`` (seconds) this provider accepts.
    min_rotation_period: ClassVar[int] = 60
    #: The role field that holds a role's kind, for providers with several kinds of
    #: role under different paths (GCP: roleset, static-account, ...).
    role_kind_field: ClassVar[str] = "kind"

    def __init__(self, context: ProviderContext | None = None) -> None:
        self.context = context or ProviderContext()

    @property
    def clock(self) -> Clock:
        return self.context.clock

    # -- validation -------------------------------------------------------------
    def validate_config(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Normalise root config; raise :class:`ValidationError` naming the field."""
        return self.check_config(self.config_schema.validate(fields))

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Cross-field rules for config. Override; return the (possibly changed) config."""
        return config

    def validate_role(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Normalise a role; raise :class:`ValidationError` naming the field."""
        return self.check_role(name, self.role_schema.validate(fields))

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        """Cross-field rules for roles. Override; return the (possibly changed) role."""
        return role

    def check_mount(  # noqa: B027 (optional hook; most providers have no such rule)
        self, config: Mapping[str, Any] | None, roles: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Rules across config and roles, which neither validation sees alone. The
        engine calls it on configure (the new config, every stored role) and on
        write_role (the stored config or None, the role being written). Raise
        :class:`ValidationError` naming the field."""

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        """Whether leases of this role can be renewed and revoked in the cloud."""
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        """A cap on this role's leases (the cloud's limit, or a provider role field)."""
        return None

    def default_ttl(self, role: Mapping[str, Any]) -> int | None:
        """This role's default lease TTL, when the provider has a role field for it."""
        return None

    # -- lifecycle --------------------------------------------------------------
    @abc.abstractmethod
    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        """Choose every name ``issue`` will create. No cloud calls. JSON-serialisable."""

    @abc.abstractmethod
    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        """Create the credential the plan describes."""

    def renew(  # noqa: B027 (optional hook; the default is right for most clouds)
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any],
        expires_at: float,
    ) -> None:
        """Extend the credential in the cloud, where the cloud tracks an expiry.

        The default does nothing: IAM users and keys have no expiry of their own.
        """

    @abc.abstractmethod
    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        """Delete everything the plan names. Idempotent; ``revocation`` is None when
        issuance never finished."""

    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Replace the root credential: create the new one, call ``persist(new_config)``,
        then delete the old one, so a crash never leaves the store without a working
        credential. Returns the new config."""
        raise PermanentProviderError(
            f"provider {self.name!r} cannot rotate its root credential", operation="rotate_root"
        )

    def can_rotate_root(self, config: Mapping[str, Any]) -> bool:
        """Whether :meth:`rotate_root` can replace this config's credential (not when it
        comes from the SDK's default chain, say): a rotation schedule is refused at
        write time otherwise. Default: whether the provider implements rotate_root."""
        return type(self).rotate_root is not Provider.rotate_root

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        """Identities this mount created that still exist in the cloud (for tidy)."""
        return []

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        """Delete an identity found by :meth:`list_managed`."""
        raise PermanentProviderError(
            f"provider {self.name!r} cannot delete unmanaged identities", operation="tidy"
        )

    # -- role-level cloud objects (optional) ------------------------------------------
    def plan_role(
        self,
        config: Mapping[str, Any],
        mount: str,
        name: str,
        role: Mapping[str, Any] | None,
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """The cloud objects writing (``role``) or deleting (``role`` None) this role
        creates or changes (a GCP roleset's service account and bindings), named
        before any call; None when there are none (the default).

        The engine stores the plan as a pending role operation, claimed like a
        pending lease, then calls :meth:`apply_role`. On failure, or after the process
        died (recovery), the engine passes the plan to :meth:`undo_role`: it tells a
        role plan from a lease's by the key ``"role_op"``, which the plan must hold.
        No cloud calls; JSON-serialisable."""
        return None

    def apply_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out a role plan; return fields the engine stores in the role (e.g.
        the created account's email). Idempotent: a retried apply finishes the job."""
        raise PermanentProviderError(
            f"provider {self.name!r} plans roles but cannot apply them", operation="apply_role"
        )

    def undo_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> None:  # noqa: B027
        """Undo an interrupted role write (delete what it created, restore what it
        changed) or finish an interrupted role delete. Idempotent; "not found" is success."""

    def plan_role_action(
        self,
        config: Mapping[str, Any],
        mount: str,
        name: str,
        role: Mapping[str, Any],
        action: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Plan a role action that *replaces* the role's cloud objects (GCP
        ``roleset/<n>/rotate``; holds ``"role_op"``, no network call), or None to
        leave it to :meth:`role_action`. Two phases (docs/plugins.md): apply_role,
        the switch, revoke what :meth:`retires_lease` selects, :meth:`finish_role`."""
        return None

    def retires_lease(
        self,
        plan: Mapping[str, Any],
        lease_plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> bool:
        """Whether a lease lives on objects a role action's plan retires (revoked
        before :meth:`finish_role`). Default: every lease of the role."""
        return True

    def finish_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> None:  # noqa: B027
        """Remove what a role action's plan retires (after the switch and the
        revocations). Idempotent; "not found" is success."""

    def lease_path(
        self, role_name: str, role: Mapping[str, Any], options: Mapping[str, Any]
    ) -> str:
        """The path a lease of this role is filed under when issued through the Python
        API (``mount.issue``); routes use their own path. Default ``creds/<role>``."""
        return f"creds/{role_name}"

    def role_action(
        self,
        config: Mapping[str, Any],
        mount: str,
        role_name: str,
        role: Mapping[str, Any],
        action: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Run a role-level action a route declares (e.g. GCP's ``rotate-key``)."""
        raise PermanentProviderError(
            f"provider {self.name!r} has no role action {action!r}", operation=action
        )

    # -- static roles (optional; see :mod:`.static`) -----------------------------------------
    def check_static_role(  # noqa: B027 (optional hook; most providers have no such rule)
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> None:
        """Check a static role as it would be stored (identity fields with
        ``rotation_period`` and ``rotation_grace_period``), on every write and before
        any cloud call; raise :class:`ValidationError` naming the field."""

    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        """The identity's secrets now. Raise :class:`ValidationError` naming the field
        when the identity does not exist (AWS ``username``)."""
        raise self._no_static()

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        """Create one new secret for the identity. Never retried blindly: after an
        unclear failure the engine lists the secrets and deletes the unknown one."""
        raise self._no_static()

    def static_check(  # noqa: B027 (optional: a secret that works at once needs no check)
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret: StaticSecret
    ) -> None:
        """Return once ``secret`` works (poll within the operation deadline); raise a
        ProviderError when it never does."""

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        """Delete one secret of the identity. Idempotent: "not found" is success."""
        raise self._no_static()

    def _no_static(self) -> PermanentProviderError:
        return PermanentProviderError(
            f"provider {self.name!r} has no static roles (it cannot rotate an existing "
            "identity's secret)",
            operation="static_role",
            code="NotSupported",
        )

    # -- verification (optional) ---------------------------------------------------------
    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        """Check against the cloud that the root credential works (raise a
        ProviderError when it does not) and return the permissions it lacks for the
        calls this provider makes: for ``role``, or for config-level calls (rotate,
        tidy) when ``role`` is None. ``[]``: all allowed. The default cannot check."""
        raise PermanentProviderError(
            f"provider {self.name!r} cannot verify permissions",
            operation="verify",
            code="NotSupported",
        )

    def close(self) -> None:  # noqa: B027
        """Release clients and connections."""
