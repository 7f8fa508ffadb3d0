"""The ``gcp`` provider: Vault's GCP secrets engine, without the server."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from ...errors import PermanentProviderError, ValidationError
from ...models import Capabilities
from ...providers.base import Issued, IssueRequest, ManagedIdentity, Provider, ProviderContext
from ...providers.routes import Route
from ...providers.static import SecretInfo, StaticSecret
from . import accounts, keys, roleset_rotate, static_keys, tidy, tokens
from . import verify as verify_mod
from .clients import Clients
from .config import CONFIG_SCHEMA, check_config, root_project
from .roles import (
    ACCESS_TOKEN,
    IMPERSONATED,
    REQUEST_SCHEMA,
    ROLE_SCHEMA,
    ROLESET,
    SERVICE_ACCOUNT_KEY,
    STATIC,
    check_role,
    prepare,
)
from .rotate import rotate_root
from .usable import wait_until_usable

__all__ = ["GCPProvider"]

_KEY = {"secret_type": SERVICE_ACCOUNT_KEY}
_TOKEN = {"secret_type": ACCESS_TOKEN}

ROUTES: tuple[Route, ...] = (
    Route("config", "config"),
    Route("config/rotate-root", "rotate_root"),
    Route("roleset", "roles", kind=ROLESET, shown=False),
    Route("rolesets", "roles", kind=ROLESET, shown=False),
    Route("roleset/{role}", "role", kind=ROLESET),
    Route("roleset/{role}/key", "issue", kind=ROLESET, options=_KEY),
    Route("roleset/{role}/token", "issue", kind=ROLESET, options=_TOKEN),
    Route("roleset/{role}/rotate", "role_action", kind=ROLESET, name="rotate", shown=False),
    Route("roleset/{role}/rotate-key", "role_action", kind=ROLESET, name="rotate-key", shown=False),
    Route("static-account", "roles", kind=STATIC, shown=False),
    Route("static-accounts", "roles", kind=STATIC, shown=False),
    Route("static-account/{role}", "role", kind=STATIC),
    Route("static-account/{role}/key", "issue", kind=STATIC, options=_KEY),
    Route("static-account/{role}/token", "issue", kind=STATIC, options=_TOKEN),
    Route(
        "static-account/{role}/rotate-key",
        "role_action",
        kind=STATIC,
        name="rotate-key",
        shown=False,
    ),
    Route("impersonated-account", "roles", kind=IMPERSONATED, shown=False),
    Route("impersonated-accounts", "roles", kind=IMPERSONATED, shown=False),
    Route("impersonated-account/{role}", "role", kind=IMPERSONATED),
    Route("impersonated-account/{role}/token", "issue", kind=IMPERSONATED, options=_TOKEN),
    # Vault's deprecated paths, for rolesets.
    Route("key/{role}", "issue", kind=ROLESET, options=_KEY, shown=False),
    Route("token/{role}", "issue", kind=ROLESET, options=_TOKEN, shown=False),
)


def _bindings(role: Mapping[str, Any] | None) -> dict[str, list[str]]:
    text = (role or {}).get("bindings")
    return dict(json.loads(text)) if text else {}


class GCPProvider(Provider):
    """Service-account keys and access tokens from rolesets, static accounts and
    impersonated accounts."""

    name: ClassVar[str] = "gcp"
    config_schema = CONFIG_SCHEMA
    role_schema = ROLE_SCHEMA
    request_schema = REQUEST_SCHEMA
    routes = ROUTES
    static_role_schema = static_keys.STATIC_ROLE_SCHEMA
    #: Google's limit of user-managed keys per service account.
    static_secret_limit = 10

    def __init__(self, context: ProviderContext | None = None) -> None:
        super().__init__(context)
        self.clients = Clients()
        self.ledger = keys.KeyLedger(self.context.leases)

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return check_config(config)

    def validate_role(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self.check_role(name, self.role_schema.validate(prepare(fields)))

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        return check_role(name, role)

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if role.get("secret_type") == ACCESS_TOKEN:
            # Google cannot revoke an access token: no lease, as in Vault.
            return Capabilities(renewable=False, revocable=False, leased=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        return tokens.MAX_TOKEN_TTL if role.get("secret_type") == ACCESS_TOKEN else None

    def default_ttl(self, role: Mapping[str, Any]) -> int | None:
        return tokens.MAX_TOKEN_TTL if role.get("secret_type") == ACCESS_TOKEN else None

    def lease_path(
        self, role_name: str, role: Mapping[str, Any], options: Mapping[str, Any]
    ) -> str:
        what = "key" if role.get("secret_type") == SERVICE_ACCOUNT_KEY else "token"
        return f"{role.get('kind', ROLESET)}/{role_name}/{what}"

    # -- role-level cloud objects ---------------------------------------------------
    def plan_role(
        self,
        config: Mapping[str, Any],
        mount: str,
        name: str,
        role: Mapping[str, Any] | None,
        previous: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        if role is None:
            return (
                None
                if previous is None
                else accounts.plan_delete(mount, name, previous, _bindings(previous))
            )
        if previous is not None and previous.get("kind") != role.get("kind"):
            raise ValidationError(
                "kind", f"{name!r} is a {previous.get('kind')}; delete it first to reuse the name"
            )
        if role["kind"] == ROLESET and previous is not None:
            had = len(previous.get("service_accounts") or [])
            if previous.get("project") == role["project"] and role["max_accounts"] < had:
                raise ValidationError(
                    "max_accounts",
                    f"cannot shrink the pool below its {had} accounts (their keys would "
                    "break); rotate the roleset instead",
                )
        return accounts.plan_write(
            mount,
            name,
            role,
            previous,
            _bindings(role),
            _bindings(previous),
            self.context.store_id,
        )

    def apply_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
        return accounts.apply(self.clients.get(config), self.context.retry, plan)

    def undo_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> None:
        accounts.undo(self.clients.get(config), self.context.retry, plan)

    def plan_role_action(
        self,
        config: Mapping[str, Any],
        mount: str,
        name: str,
        role: Mapping[str, Any],
        action: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        if action != roleset_rotate.ROTATE or role.get("kind", ROLESET) != ROLESET:
            return None
        return roleset_rotate.plan(
            mount, name, role, _bindings(role), self.context.store_id, options
        )

    def retires_lease(
        self,
        plan: Mapping[str, Any],
        lease_plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> bool:
        return roleset_rotate.retires_lease(plan, lease_plan, revocation)

    def finish_role(self, config: Mapping[str, Any], plan: Mapping[str, Any]) -> None:
        roleset_rotate.finish(self.clients.get(config), self.context.retry, plan)

    # -- plan, issue, revoke ----------------------------------------------------------
    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        role, options = request.role, request.options
        secret_type = options.get("secret_type") or role["secret_type"]
        kind = role.get("kind", ROLESET)
        if secret_type != role["secret_type"]:
            other = "token" if role["secret_type"] == ACCESS_TOKEN else "key"
            raise ValidationError(
                "secret_type",
                f"{kind} {request.role_name!r} issues {role['secret_type']}; read "
                f"{kind}/{request.role_name}/{other}",
            )
        if kind == ROLESET:
            pool = list(role.get("service_accounts") or [])
            if not pool:
                raise ValidationError(
                    "service_accounts", "the roleset has no account yet; write it again"
                )
        else:
            pool = [role["service_account_email"]]
        base = {
            "mount": request.mount,
            "role": request.role_name,
            "lease_id": request.lease_id,
            "store_id": request.store_id or self.context.store_id,
        }
        if secret_type == ACCESS_TOKEN:
            return {
                **base,
                "type": "token",
                "account": pool[0],
                "scopes": list(role["token_scopes"]),
                "lifetime": min(int(request.ttl), tokens.MAX_TOKEN_TTL),
            }
        # Spread keys over the pool: start at a random account, fall through when full.
        start = random.randrange(len(pool))  # noqa: S311 (load spreading, not secrets)
        return {
            **base,
            "type": "key",
            "accounts": pool[start:] + pool[:start],
            "key_algorithm": options.get("key_algorithm") or "KEY_ALG_RSA_2048",
            "key_type": options.get("key_type") or "TYPE_GOOGLE_CREDENTIALS_FILE",
            # Google's clock, not the engine's: compared with keys' valid_after_time.
            "not_before": self.ledger.google_now(),
            "project": self.clients.project(config),
        }

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        clients = self.clients.get(config)
        if plan["type"] == "token":
            return tokens.issue_token(clients, self.context.retry, plan)
        issued = keys.issue_key(
            clients, self.context.retry, self.ledger, plan, self.ledger.google_now
        )
        wait = request.options.get("wait_until_usable")
        if wait is None:
            wait = config.get("wait_until_usable")
        if not wait or plan["key_type"] != "TYPE_GOOGLE_CREDENTIALS_FILE":
            return issued
        info = json.loads(base64.b64decode(issued.data["private_key_data"]))
        if wait_until_usable(info, config.get("ca_bundle"), self.clock):
            return issued
        return attrs.evolve(
            issued,
            warnings=(
                "the new key was not yet accepted by Google's token endpoint within the "
                "operation's deadline; it may take a few more seconds",
            ),
        )

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        if plan.get("type") == "key":
            keys.revoke_key(
                self.clients.get(config), self.context.retry, self.ledger, plan, revocation
            )

    def role_action(
        self,
        config: Mapping[str, Any],
        mount: str,
        role_name: str,
        role: Mapping[str, Any],
        action: str,
        options: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        if action == "rotate-key":
            # Vault keeps one key per access_token roleset to mint tokens; we mint
            # them with iamcredentials.generateAccessToken and hold no key at all.
            return {
                "rotated": False,
                "reason": "no key is held: tokens come from iamcredentials.generateAccessToken",
            }
        # roleset/<n>/rotate is planned (plan_role_action) and never reaches here.
        raise PermanentProviderError(
            f"{action} is not supported for {role_name!r}",
            operation=action,
            code="NotSupported",
        )

    # -- static roles: an existing account's keys, rotated by the engine -------------------
    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        return static_keys.list_secrets(
            self.clients.get(config), self.context.retry, role["service_account_email"]
        )

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        return static_keys.create(self.clients.get(config), role["service_account_email"])

    def static_check(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret: StaticSecret
    ) -> None:
        static_keys.check(config.get("ca_bundle"), self.clock, secret)

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        static_keys.delete(
            self.clients.get(config),
            self.context.retry,
            role["service_account_email"],
            secret_id,
        )

    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        return verify_mod.verify(
            self.clients.get(config), self.context.retry, config, role, _bindings(role)
        )

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        # Roleset accounts, owned by their roleset (the engine checks the role), in
        # the config's project and every project a roleset uses.
        roles = self.context.roles(mount) if self.context.roles is not None else {}
        named = [root_project(config)] + [
            r.get("project") for r in roles.values() if r.get("kind", ROLESET) == ROLESET
        ]
        projects = {str(p) for p in named if p}
        if not projects:
            raise ValidationError(
                "project", "tidy lists the rolesets' accounts in the config's project; set it"
            )
        clients = self.clients.get(config)
        return [
            identity
            for project in sorted(projects)
            for identity in tidy.roleset_accounts(clients, self.context.retry, project, mount)
        ]

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        tidy.delete_roleset_account(self.clients.get(config), self.context.retry, identity)

    def can_rotate_root(self, config: Mapping[str, Any]) -> bool:
        # Application Default Credentials are not a key of ours to replace.
        return bool(config.get("credentials"))

    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        return rotate_root(self.clients, self.context.retry, config, persist)

    def close(self) -> None:
        self.clients.clear()
