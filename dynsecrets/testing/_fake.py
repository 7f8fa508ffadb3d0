"""A fake cloud and the provider that speaks to it.

``FakeCloud`` behaves like a small IAM: users, attached policies and keys, with
the cloud's rules (a user with keys cannot be deleted; names are unique) and its
error codes. ``FakeProvider`` is written exactly as a real provider is: it maps
the cloud's errors to dynsecrets errors, retries throttling and revokes
idempotently. Tests inspect ``cloud`` and inject faults into it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from .._names import random_base62
from ..errors import (
    DynSecretsError,
    PermanentProviderError,
    TransientProviderError,
    ValidationError,
)
from ..models import Capabilities
from ..providers.base import (
    Issued,
    IssueRequest,
    ManagedIdentity,
    Provider,
    RevokeErrors,
    SecretInfo,
    StaticSecret,
)
from ..schema import Field, Schema
from .fake_cloud import TRANSIENT_CODES, FakeCloud, FakeCloudError

__all__ = ["FakeCloud", "FakeCloudError", "FakeProvider"]

T = TypeVar("T")


def _map(op: str, exc: FakeCloudError) -> DynSecretsError:
    message = f"fake cloud {op} failed: {exc.code}"
    if exc.code in TRANSIENT_CODES:
        return TransientProviderError(
            message, operation=op, code=exc.code, throttled=exc.code == "Throttling"
        )
    return PermanentProviderError(message, operation=op, code=exc.code)


class FakeProvider(Provider):
    """Provider ``fake``: IAM-like users with policies and keys, or unrevocable tokens.

    Role fields: ``credential_type`` (``user`` or ``token``), ``policies`` (names).
    Config: ``account`` and a secret ``api_key`` (checked against the cloud's root
    key when set, so rotate_root can be tested).
    """

    name: ClassVar[str] = "fake"
    config_schema = Schema(
        {
            "account": Field("str", default="fake-account", pattern=r"[a-z0-9-]{1,32}"),
            "api_key": Field("str", secret=True),
        },
        what="config",
    )
    role_schema = Schema(
        {
            "credential_type": Field("str", default="user", choices=("user", "token")),
            "policies": Field("list", default=[], pattern=r"[A-Za-z0-9][A-Za-z0-9:_.*-]{0,127}"),
        },
        what="role",
    )
    static_role_schema = Schema(
        {"username": Field("str", required=True, pattern=r"[\w+=,.@-]{1,64}")},
        what="static role",
    )
    static_secret_limit = 2
    #: Longest lifetime the fake cloud gives a token, like STS's caps.
    TOKEN_MAX_TTL = 12 * 3600

    #: Set by :meth:`sharing` so that every instance talks to one cloud.
    shared_cloud: ClassVar[FakeCloud | None] = None

    def __init__(self, context: Any = None, cloud: FakeCloud | None = None) -> None:
        super().__init__(context)
        self.cloud = cloud or self.shared_cloud or FakeCloud(clock=self.context.clock)

    @classmethod
    def sharing(cls, cloud: FakeCloud) -> type[FakeProvider]:
        """A FakeProvider class whose instances all use ``cloud``: register it to let
        several engines (a restart, two workers) see the same fake cloud."""
        return type("SharedFakeProvider", (cls,), {"shared_cloud": cloud})

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except FakeCloudError as exc:
                raise _map(op, exc) from exc

        return self.context.retry.call(once)

    def _auth(self, config: Mapping[str, Any]) -> None:
        key = config.get("api_key")
        if key is not None and key != self.cloud.root_key:
            raise PermanentProviderError(
                "fake cloud rejected the api_key (InvalidClientTokenId)",
                operation="auth",
                code="InvalidClientTokenId",
            )

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        if role["credential_type"] == "token" and role["policies"]:
            from ..errors import ValidationError

            raise ValidationError(
                "policies", "tokens carry no policies; remove policies or use credential_type=user"
            )
        return role

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if role.get("credential_type") == "token":
            return Capabilities(renewable=False, revocable=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        return self.TOKEN_MAX_TTL if role.get("credential_type") == "token" else None

    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        if request.role.get("credential_type") == "token":
            return {"type": "token"}
        # 64 chars at most, like IAM; the role part is cut first, 12 random chars stay.
        user = f"fake-{request.role_name[:40]}-{random_base62(12)}"
        return {"type": "user", "user": user, "policies": list(request.role.get("policies", []))}

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        try:
            self._auth(config)
        except PermanentProviderError as exc:
            exc.nothing_created = True
            raise
        if plan["type"] == "token":
            token, expires = self._call("issue_token", lambda: self.cloud.issue_token(request.ttl))
            return Issued(data={"token": token}, expires_at=expires, env={"FAKE_TOKEN": token})
        user = plan["user"]
        tags = {
            "dynsecrets-mount": request.mount,
            "dynsecrets-lease": request.lease_id,
            "dynsecrets-store": request.store_id,
        }
        if request.actor:
            tags["dynsecrets-actor"] = request.actor[:256]
        try:
            self._call("create_user", lambda: self.cloud.create_user(user, tags))
        except PermanentProviderError as exc:
            exc.nothing_created = exc.code != "EntityAlreadyExists"
            raise
        for policy in plan["policies"]:
            self._call("attach_policy", functools.partial(self.cloud.attach_policy, user, policy))
        key_id, secret = self._create_key(user)
        return Issued(
            data={"user": user, "access_key": key_id, "secret_key": secret},
            secret_keys=frozenset({"secret_key"}),
            revocation={"user": user, "key_id": key_id},
            env={"FAKE_ACCESS_KEY": key_id, "FAKE_SECRET_KEY": secret},
        )

    def _create_key(self, user: str) -> tuple[str, str]:
        # A create whose reply was lost may still have made a key nobody was given:
        # before creating again, delete every key the user holds (none is ours yet).
        tried = False

        def once() -> tuple[str, str]:
            nonlocal tried
            try:
                if tried:
                    for key_id in self.cloud.list_keys(user):
                        self.cloud.delete_key(user, key_id)
                tried = True
                return self.cloud.create_key(user)
            except FakeCloudError as exc:
                raise _map("create_key", exc) from exc

        return self.context.retry.call(once)

    def renew(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any],
        expires_at: float,
    ) -> None:
        if plan.get("type") == "user":
            self._call("renew", lambda: self.cloud.renew(plan["user"], expires_at))

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        if plan.get("type") != "user":
            return
        self._auth(config)
        user = plan["user"]
        errors: list[DynSecretsError] = []

        def step(op: str, fn: Callable[[], Any]) -> Any:
            try:
                return self._call(op, fn)
            except PermanentProviderError as exc:
                if exc.code == "NoSuchEntity":
                    return None
                errors.append(exc)
            except TransientProviderError as exc:
                errors.append(exc)
            return None

        # Keys are listed rather than taken from `revocation`: a crash after
        # create_key but before the lease was stored leaves a key we never saw.
        for key_id in step("list_keys", lambda: self.cloud.list_keys(user)) or []:
            step("delete_key", functools.partial(self.cloud.delete_key, user, key_id))
        for policy in plan.get("policies", []):
            step("detach_policy", functools.partial(self.cloud.detach_policy, user, policy))
        if not errors:
            step("delete_user", lambda: self.cloud.delete_user(user))
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise RevokeErrors(errors)

    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        old = config.get("api_key") or self.cloud.root_key
        new = {**config, "api_key": self._call("rotate_root", lambda: self.cloud.rotate_root(old))}
        persist(new)
        return new

    # -- static roles ------------------------------------------------------------------
    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        self._auth(config)
        try:
            dates = self._call("list_keys", lambda: self.cloud.key_dates(role["username"]))
        except PermanentProviderError as exc:
            if exc.code == "NoSuchEntity":
                raise ValidationError(
                    "username", f"no user {role['username']!r} in the fake cloud; create it first"
                ) from exc
            raise
        return [SecretInfo(k, t) for k, t in dates.items()]

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        self._auth(config)
        try:  # once: a lost reply is reconciled by the engine, never retried here
            key_id, secret = self.cloud.create_key(role["username"])
        except FakeCloudError as exc:
            raise _map("create_key", exc) from exc
        return StaticSecret(
            key_id,
            {"access_key": key_id, "secret_key": secret},
            created_at=self.cloud.clock.now(),
            secret_keys=frozenset({"secret_key"}),
            env={"FAKE_ACCESS_KEY": key_id, "FAKE_SECRET_KEY": secret},
        )

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        self._auth(config)
        try:
            self._call("delete_key", lambda: self.cloud.delete_key(role["username"], secret_id))
        except PermanentProviderError as exc:
            if exc.code != "NoSuchEntity":
                raise

    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        self._auth(config)
        if role is None:
            needed = {"fake:RotateRoot", "fake:ListUsers", "fake:DeleteUser"}
        elif "username" in role:
            needed = {"fake:ListKeys", "fake:CreateKey", "fake:DeleteKey"}
        elif role.get("credential_type") == "token":
            needed = {"fake:IssueToken"}
        else:
            needed = {"fake:CreateUser", "fake:CreateKey", "fake:DeleteKey", "fake:DeleteUser"}
            if role.get("policies"):
                needed |= {"fake:AttachPolicy", "fake:DetachPolicy"}
        return sorted(needed & self.cloud.denied)

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        users = self._call("list_users", self.cloud.list_users)
        return [
            ManagedIdentity(
                id=u.name,
                lease_id=u.tags.get("dynsecrets-lease"),
                created_at=u.created_at,
                store_id=u.tags.get("dynsecrets-store"),
            )
            for u in users
            if u.tags.get("dynsecrets-mount") == mount
        ]

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        user = self.cloud.users.get(identity.id)
        policies = list(user.policies) if user else []
        self.revoke(config, {"type": "user", "user": identity.id, "policies": policies}, None)
