"""The ``azure`` provider: Vault's Azure secrets engine, without the server."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ...errors import ProviderError, ValidationError
from ...providers.base import Issued, IssueRequest, ManagedIdentity, Provider, ProviderContext
from ...providers.routes import Route
from ...providers.static import SecretInfo, StaticSecret
from ...schema import Field, Schema
from . import apps, passwords, static
from . import persist as role_apps
from .config import CONFIG_SCHEMA, Clients, check_config, cloud_of
from .errors import import_azure
from .resolve import Resolver
from .roles import ROLE_SCHEMA, check_role, groups_of, roles_of
from .rotate import rotate_root
from .steps import TAG, TAG_LEASE, TAG_MOUNT, TAG_ROLE, TAG_STORE, Steps, actor_tag, tag_value
from .usable import wait_until_usable
from .verify import verify as verify_permissions

REQUEST_SCHEMA = Schema(
    {
        "wait_until_usable": Field(
            "bool", doc="return only once the new secret obtains a token (bounded wait)"
        )
    },
    what="request",
)
#: Vault's Azure paths: config, roles, creds and rotate-root.
ROUTES = (
    Route("config", "config"),
    Route("config/root", "config", shown=False),
    Route("rotate-root", "rotate_root"),
    Route("roles", "roles", shown=False),
    Route("roles/{role}", "role"),
    Route("creds/{role}", "issue"),
)
_RANDOM = string.ascii_lowercase + string.digits
PASSWORD_PREFIX = "dynsecrets "  # noqa: S105 (a display name, not a secret)


def _timestamp(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


class AzureProvider(Provider):
    """A new application and service principal with role assignments and groups per
    lease, a password on an existing application, or a password on the role's own
    application (``persist_app``, made when the role is written)."""

    name: ClassVar[str] = "azure"
    config_schema = CONFIG_SCHEMA
    role_schema = ROLE_SCHEMA
    request_schema = REQUEST_SCHEMA
    routes = ROUTES
    static_role_schema = static.STATIC_ROLE_SCHEMA
    #: Entra ID takes seconds to minutes to accept a new password, and every rotation
    #: proves the new one before storing it: faster rotation would pile up unproven ones.
    min_rotation_period = 300

    def __init__(self, context: ProviderContext | None = None) -> None:
        super().__init__(context)
        self.clients = Clients()

    @functools.cached_property
    def resolver(self) -> Resolver:
        return Resolver(self.clock)

    @property
    def _retry(self) -> Any:
        return self.context.retry

    def _graph(self, config: Mapping[str, Any]) -> Any:
        import_azure()
        return self.clients.graph(config)

    def _arm(self, config: Mapping[str, Any]) -> Any:
        import_azure()
        return self.clients.arm(config)

    # -- validation -------------------------------------------------------------------
    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return check_config(config)

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        return check_role(name, role)

    def check_mount(
        self, config: Mapping[str, Any] | None, roles: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """TTLs within the password's lifetime; and, with a config, every role name
        must name exactly one role definition (checked in ARM when written, so a typo
        fails the write, not every issue). An unreachable ARM does not block a write:
        the issue will resolve the name and say what is wrong."""
        for role in roles.values():
            explicit = role.get("explicit_max_ttl")
            for field in ("ttl", "max_ttl"):
                if explicit and role.get(field) and role[field] > explicit:
                    raise ValidationError(
                        field,
                        f"must not exceed explicit_max_ttl ({explicit}s), the password's lifetime",
                    )
        if config is None:
            return
        for role in roles.values():
            for entry in roles_of(role):
                if not entry.get("role_name"):
                    continue
                try:
                    self.resolver.role_definition(self._arm(config), self._retry, entry)
                except ProviderError as exc:
                    if exc.code in ("RoleNameAmbiguous", "RoleDefinitionDoesNotExist"):
                        raise ValidationError("azure_roles", str(exc)) from exc

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        # The password ends then, whatever happens to the lease.
        explicit = role.get("explicit_max_ttl")
        return int(explicit) if explicit else None

    # -- plan ---------------------------------------------------------------------------
    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        role = request.role
        lifetime = role.get("explicit_max_ttl") or request.max_ttl or request.ttl
        end = dt.datetime.fromtimestamp(request.now + lifetime, tz=dt.timezone.utc)
        store_id = request.store_id or self.context.store_id
        cloud = cloud_of(config)
        base: dict[str, Any] = {
            "mount": request.mount,
            "role": request.role_name,
            "lease_id": request.lease_id,
            "store_id": store_id,
            "tenant_id": config["tenant_id"],
            "subscription_id": config["subscription_id"],
            "authority_host": config.get("authority") and cloud.authority,
            # The lease id's random tail is unique, and short enough for any name field.
            # Tidy finds an existing app's passwords by this name: lease and store.
            "password_name": f"{PASSWORD_PREFIX}{request.lease_id} store={store_id}",
            "password_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "metadata": dict(role.get("metadata") or {}),
        }
        if role.get("application_object_id"):
            return {**base, "mode": "existing", "app_object_id": role["application_object_id"]}
        if role.get("persist_app"):
            if not role_apps.has_app(role):
                raise ValidationError(
                    "persist_app", f"{request.role_name!r} has no application yet; write it again"
                )
            return {
                **base,
                "mode": "persisted",
                "app_object_id": role["persisted_app_object_id"],
                "app_id": role["persisted_app_id"],
            }
        suffix = "".join(secrets.choice(_RANDOM) for _ in range(16))
        permanently = role.get("permanently_delete")
        return {
            **base,
            "mode": "dynamic",
            # At most 11 + 64 + 1 + 64 + 17 characters: within Graph's 256 for displayName.
            "display_name": f"dynsecrets-{request.mount}-{request.role_name}-{suffix}",
            "app_tags": [
                *role.get("tags", []),
                TAG,
                f"{TAG_MOUNT}{request.mount}",
                f"{TAG_STORE}{store_id}",
                f"{TAG_LEASE}{request.lease_id}",
                *actor_tag(request.actor),
            ],
            "sign_in_audience": role.get("sign_in_audience") or "AzureADMyOrg",
            "permanently_delete": True if permanently is None else bool(permanently),
            "roles": [{**r, "assignment": str(uuid.uuid4())} for r in roles_of(role)],
            "groups": groups_of(role),
        }

    # -- issue, revoke --------------------------------------------------------------------
    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        graph = self._graph(config)
        if plan["mode"] in ("existing", "persisted"):
            issued = passwords.issue(graph, self._retry, plan)
        else:
            issued = apps.issue(graph, self._arm(config), self._retry, self.resolver, plan)
        wait = request.options.get("wait_until_usable")
        if wait is None:
            wait = config.get("wait_until_usable")
        if not wait or wait_until_usable(
            config,
            issued.data["client_id"],
            issued.data["client_secret"],
            self.clock,
            float(config.get("usable_timeout") or 120),
        ):
            return issued
        return Issued(
            data=issued.data,
            secret_keys=issued.secret_keys,
            revocation=issued.revocation,
            env=issued.env,
            warnings=(
                "the new secret obtained no token yet when the wait ran out; Entra ID "
                "can take minutes to accept a new secret, retry for a while",
            ),
        )

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        graph = self._graph(config)
        if plan["mode"] in ("existing", "persisted"):
            passwords.revoke(graph, self._retry, plan, revocation)
        else:
            apps.revoke(graph, self._arm(config), self._retry, self.resolver, plan, revocation)

    # -- the role's own application (persist_app) ----------------------------------------
    def plan_role(
        self,
        config: Mapping[str, Any],
        mount: str,
        name: str,
        role: Mapping[str, Any] | None,
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        if role is None:
            return None if previous is None else role_apps.plan_delete(mount, name, previous)
        return role_apps.plan_write(mount, name, role, previous, self.context.store_id)

    def apply_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
        return role_apps.apply(
            self._graph(config), self._arm(config), self._retry, self.resolver, plan
        )

    def undo_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> None:
        role_apps.undo(self._graph(config), self._arm(config), self._retry, self.resolver, plan)

    # -- root, tidy ---------------------------------------------------------------------
    def can_rotate_root(self, config: Mapping[str, Any]) -> bool:
        # A credential from the default chain (environment, managed identity) is not
        # dynsecrets' to replace: only a configured client secret is.
        return bool(config.get("client_id") and config.get("client_secret"))

    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        return rotate_root(
            self._graph(config), self._retry, self.clock, config, persist, self.context.store_id
        )

    # -- static roles: an existing application's password ----------------------------------
    def check_static_role(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> None:
        static.check_expiry(role)

    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        return static.secrets_of(self._graph(config), self._retry, config, role)

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        return static.create(
            self._graph(config), self._retry, self.clock, config, role, self.context.store_id
        )

    def static_check(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret: StaticSecret
    ) -> None:
        static.check(config, secret, self.clock)

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        static.delete(self._graph(config), self._retry, role, secret_id)

    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        """Tokens for Graph and ARM, the root's Graph application permissions, and
        ARM's permissions at each scope the role assigns at (see :mod:`.verify`)."""
        import_azure()
        return verify_permissions(self.clients, self._retry, config, role)

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        """Applications tagged with this mount, and passwords this mount added to
        existing applications and to its roles' persisted ones (their display name
        holds the lease and store id; a persisted application belongs to its role, not
        to a lease, so it is never reported itself). One
        listing of the applications the root can see: with Application.ReadWrite.OwnedBy
        that is exactly the ones it may change."""
        graph = self._graph(config)
        found = self._retry.call(
            lambda: graph.list_applications(
                "id,appId,displayName,tags,createdDateTime,passwordCredentials"
            )
        )
        out = []
        for app in found:
            tags = list(app.get("tags") or [])
            persisted = tag_value(tags, TAG_ROLE) is not None
            if f"{TAG_MOUNT}{mount}" in tags and not persisted:
                out.append(
                    ManagedIdentity(
                        id=app["id"],
                        lease_id=tag_value(tags, TAG_LEASE),
                        store_id=tag_value(tags, TAG_STORE),
                        created_at=_timestamp(app.get("createdDateTime")),
                        details={"app_id": app.get("appId"), "kind": "application"},
                    )
                )
                continue
            for cred in app.get("passwordCredentials") or []:
                lease_id, _, store = (cred.get("displayName") or "").partition(" store=")
                if not lease_id.startswith(f"{PASSWORD_PREFIX}{mount}/"):
                    continue
                out.append(
                    ManagedIdentity(
                        id=f"{app['id']}/passwords/{cred['keyId']}",
                        lease_id=lease_id[len(PASSWORD_PREFIX) :],
                        store_id=store or None,
                        created_at=_timestamp(cred.get("startDateTime")),
                        details={
                            "kind": "password",
                            "app_object_id": app["id"],
                            "key_id": cred["keyId"],
                        },
                    )
                )
        return out

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        """An application whose lease record is lost: its role assignments (found by
        principal, since their names were in the lost plan), its service principal and
        the application itself; or a password on an existing application."""
        graph, steps = self._graph(config), Steps(self._retry)
        if identity.details.get("kind") == "password":
            passwords.remove(
                graph, self._retry, identity.details["app_object_id"], identity.details["key_id"]
            )
            return
        arm = self._arm(config)
        app_id = identity.details.get("app_id")
        sp = steps.run(lambda: graph.find_service_principal(app_id)) if app_id else None
        if sp:
            held = steps.run(lambda: arm.assignments_of(sp["id"])) or []
            for a in held:
                steps.run(functools.partial(arm.delete_assignment, a["scope"], a["name"]))
            steps.run(lambda: graph.delete_service_principal(sp["id"]))
        apps.delete_app(steps, graph, identity.id, True)
        steps.raise_any()

    def close(self) -> None:
        self.clients.clear()
