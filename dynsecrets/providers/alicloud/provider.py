"""The ``alicloud`` provider: Vault's AliCloud secrets engine, without the server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ...errors import ValidationError
from ...models import Capabilities
from ...providers.base import (
    Issued,
    IssueRequest,
    ManagedIdentity,
    Provider,
    ProviderContext,
    SecretInfo,
    StaticSecret,
)
from ...providers.routes import Route
from . import names, ram_user, static, sts
from .api import Api, Clients
from .config import CONFIG_SCHEMA, check_config
from .policies import inline_documents, parse_remote
from .proof import prove_key
from .roles import (
    RAM_USER,
    ROLE_SCHEMA,
    STS,
    STS_MAX_TTL,
    check_ttls,
    default_ttl,
    kind,
    validate_role,
)
from .rotate import rotate_root
from .verify import verify

#: Vault's AliCloud paths, plus config/rotate-root (which Vault's engine lacks).
ROUTES = (
    Route("config", "config"),
    Route("config/rotate-root", "rotate_root"),
    Route("role", "roles"),
    Route("role/{role}", "role"),
    Route("creds/{role}", "issue"),
)


class AliCloudProvider(Provider):
    """RAM users with an access key (``inline_policies``/``remote_policies``), or STS
    tokens from AssumeRole (``role_arn``)."""

    name: ClassVar[str] = "alicloud"
    config_schema = CONFIG_SCHEMA
    role_schema = ROLE_SCHEMA
    routes = ROUTES
    static_role_schema = static.STATIC_ROLE_SCHEMA
    static_secret_limit = static.KEY_LIMIT

    def __init__(self, context: ProviderContext | None = None) -> None:
        super().__init__(context)
        self.clients = Clients()

    def _api(self, config: Mapping[str, Any]) -> Api:
        return Api(self.clients, self.context.retry, config)

    # -- validation -------------------------------------------------------------------
    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return check_config(config)

    def validate_role(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return validate_role(name, fields)

    def check_mount(
        self, config: Mapping[str, Any] | None, roles: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for role in roles.values():
            check_ttls(role)

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if kind(role) == STS:
            return Capabilities(renewable=False, revocable=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        return STS_MAX_TTL if kind(role) == STS else None

    def default_ttl(self, role: Mapping[str, Any]) -> int | None:
        # STS tokens last an hour unless asked, not the mount's default (768h): the engine
        # must start from this, or it reports a clamp that never happened.
        return default_ttl(role)

    # -- plan --------------------------------------------------------------------------
    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        role = request.role
        store_id = request.store_id or self.context.store_id
        base = {
            "type": kind(role),
            "mount": request.mount,
            "role": request.role_name,
            "lease_id": request.lease_id,
            "store_id": store_id,
        }
        if kind(role) == STS:
            seconds, warnings = sts.duration(request.ttl, request.max_ttl)
            return {
                **base,
                "role_arn": role["role_arn"],
                "session_name": names.session_name(request.role_name, request.actor),
                "duration": seconds,
                "warnings": warnings,
            }
        user = names.user_name(request.role_name)
        display = ram_user.display_name(request.mount, request.lease_id)
        comments = ram_user.comments(store_id, request.mount, request.actor)
        if len(display) > 128 or len(comments) > 128:
            raise ValidationError(
                "role",
                "the lease id does not fit RAM's 128-character DisplayName; shorten the role name",
            )
        documents = inline_documents(role.get("inline_policies"))
        policy_names = names.policy_names(user, len(documents))
        # The description names the lease: a policy found after a crash is known as ours.
        description = f"{ram_user.MARK} lease={request.lease_id} store={store_id}"
        return {
            **base,
            "user_name": user,
            "display_name": display,
            "comments": comments,
            "inline": [
                {"name": n, "document": d, "description": description}
                for n, d in zip(policy_names, documents, strict=True)
            ],
            "remote": [list(parse_remote(p)) for p in role.get("remote_policies") or []],
        }

    # -- issue, revoke -------------------------------------------------------------------
    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        if plan["type"] == STS:
            return sts.issue(self._api(config), plan)
        return ram_user.issue(self._api(config), plan)

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        # STS tokens cannot be revoked one by one; the lease just ends.
        if plan.get("type") == RAM_USER:
            ram_user.revoke(self._api(config), plan, revocation)

    # -- root, tidy ----------------------------------------------------------------------
    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        new = rotate_root(self.clients, self.context.retry, config, persist)
        self.clients.clear()  # clients signed with the old key must not be reused
        return new

    def can_rotate_root(self, config: Mapping[str, Any]) -> bool:
        # Credentials from the SDK's default chain (environment, ECS RAM role, OIDC) are
        # not dynsecrets' to replace: rotate-root refuses them, so a schedule would too.
        return bool(config.get("access_key"))

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        return ram_user.list_managed(self._api(config), mount)

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        ram_user.raise_all(ram_user.sweep(self._api(config), identity.id, []))

    # -- static roles: an existing RAM user's access keys -----------------------------------
    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        return static.secrets(self._api(config), role)

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        return static.create(self._api(config), role)

    def static_check(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret: StaticSecret
    ) -> None:
        prove_key(
            self.clients,
            self.context.retry,
            config,
            secret.data["access_key"],
            secret.data["secret_key"],
            user=role["username"],
            operation="static_check",
        )

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        static.delete(self._api(config), role, secret_id)

    # -- verify ------------------------------------------------------------------------------
    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        """GetCallerIdentity, then the caller's RAM policies evaluated for every call
        this provider makes (see :mod:`.verify`); the missing permissions, by name."""
        return verify(self._api(config), config, role)

    def close(self) -> None:
        self.clients.clear()
