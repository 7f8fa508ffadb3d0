"""The ``aws`` provider: Vault's AWS secrets engine, without the server."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ...errors import PermanentProviderError, ValidationError
from ...models import Capabilities
from ...providers.base import Issued, IssueRequest, ManagedIdentity, Provider, ProviderContext
from . import iam_user, sts
from .config import CONFIG_SCHEMA, Clients, check_config, partition_of, resolve_region
from .names import FEDERATION_NAME_MAX, SESSION_NAME_MAX, USER_NAME_MAX, render, static_prefix
from .roles import (
    ASSUMED_ROLE,
    FEDERATION_TOKEN,
    IAM_USER,
    REQUEST_SCHEMA,
    ROLE_SCHEMA,
    SESSION_TOKEN,
    STS_TYPES,
    check_role,
    role_partition,
)


class AWSProvider(Provider):
    """IAM users with an access key, or STS credentials (assumed_role,
    federation_token, session_token)."""

    name: ClassVar[str] = "aws"
    config_schema = CONFIG_SCHEMA
    role_schema = ROLE_SCHEMA
    request_schema = REQUEST_SCHEMA

    def __init__(self, context: ProviderContext | None = None) -> None:
        super().__init__(context)
        self.clients = Clients()

    @property
    def _retry(self) -> Any:
        return self.context.retry

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return check_config(config)

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        return check_role(name, role)

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if role.get("credential_type") in STS_TYPES:
            return Capabilities(renewable=False, revocable=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        kind = role.get("credential_type")
        return sts.MAX_STS_TTL[kind] if kind in STS_TYPES else None

    # -- plan ---------------------------------------------------------------------
    def _name(
        self, config: Mapping[str, Any], request: IssueRequest, limit: int, field: str
    ) -> str:
        try:
            return render(
                config["username_template"],
                role=request.role_name,
                mount=request.mount,
                unix_time=int(request.now),
                limit=limit,
            )
        except ValueError as exc:
            raise ValidationError("username_template", f"cannot make a {field} ({exc})") from exc

    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        role, options = dict(request.role), request.options
        kind = role["credential_type"]
        region = resolve_region(config)
        partition = partition_of(region)
        arn_partition = role_partition(role)
        if arn_partition and arn_partition != partition:
            raise ValidationError(
                "policy_arns",
                f"the role's ARNs are in partition {arn_partition}, but region "
                f"{region} is in {partition}; fix the ARNs or the mount's region",
            )
        base = {
            "type": kind,
            "mount": request.mount,
            "role": request.role_name,
            "lease_id": request.lease_id,
            "store_id": request.store_id or self.context.store_id,
            "region": region,
            "policy_document": role.get("policy_document"),
            "policy_arns": list(role.get("policy_arns", [])),
            "groups": list(role.get("iam_groups", [])),
        }
        if kind == IAM_USER:
            return {
                **base,
                "user_name": self._name(config, request, USER_NAME_MAX, "user name"),
                "path": role.get("user_path") or "/",
                "policy_name": request.role_name,
                "tags": dict(role.get("iam_tags", {})),
                "permissions_boundary_arn": role.get("permissions_boundary_arn"),
            }
        seconds, warnings = sts.duration(kind, role, request.requested_ttl, request.max_ttl)
        plan = {**base, "duration": seconds, "warnings": warnings}
        if kind == ASSUMED_ROLE:
            arns = role["role_arns"]
            chosen = options.get("role_arn")
            if chosen is None:
                if len(arns) != 1:
                    raise ValidationError(
                        "role_arn",
                        f"the role has {len(arns)} role_arns; pass role_arn= one of them",
                    )
                chosen = arns[0]
            elif chosen not in arns:
                raise ValidationError("role_arn", "is not one of the role's role_arns")
            plan.update(
                role_arn=chosen,
                external_id=role.get("external_id"),
                session_tags=dict(role.get("session_tags", {})),
                session_name=options.get("role_session_name")
                or self._name(config, request, SESSION_NAME_MAX, "role session name"),
            )
        elif kind == FEDERATION_TOKEN:
            plan["session_name"] = self._name(
                config, request, FEDERATION_NAME_MAX, "federation token name"
            )
        elif kind == SESSION_TOKEN:
            serial = role.get("mfa_serial_number")
            if serial and not options.get("mfa_code"):
                raise ValidationError(
                    "mfa_code", "this role requires MFA; pass the 6-digit mfa_code"
                )
            plan["mfa_serial_number"] = serial
        return plan

    # -- issue, revoke ----------------------------------------------------------------
    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        if plan["type"] != IAM_USER:
            issued = sts.issue(
                self.clients.get("sts", config),
                self.clients.get("iam", config),
                self._retry,
                plan,
                request.options,
            )
            return Issued(
                data=issued.data,
                secret_keys=issued.secret_keys,
                expires_at=issued.expires_at,
                env=issued.env,
                warnings=tuple(plan.get("warnings", ())),
            )
        issued = iam_user.issue(self.clients.get("iam", config), self._retry, plan)
        wait = request.options.get("wait_until_usable")
        if wait is None:
            wait = config.get("wait_until_usable")
        if not wait:
            return issued
        data = issued.data
        usable = iam_user.wait_until_usable(
            self.clients.get(
                "sts", config, access_key=data["access_key"], secret_key=data["secret_key"]
            ),
            self.clock,
            float(config.get("usable_timeout") or 60),
        )
        if usable:
            return issued
        return Issued(
            data=issued.data,
            secret_keys=issued.secret_keys,
            revocation=issued.revocation,
            env=issued.env,
            warnings=(
                "the new access key was not yet accepted by AWS "
                "when the wait ran out; retry for a few seconds",
            ),
        )

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        # STS sessions cannot be revoked one by one; the lease just ends.
        if plan.get("type") == IAM_USER:
            iam_user.revoke(self.clients.get("iam", config), self._retry, plan, revocation)

    # -- root, tidy ---------------------------------------------------------------------
    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        if not config.get("access_key"):
            raise PermanentProviderError(
                "rotate_root needs access_key and secret_key in config/root; credentials from the "
                "default chain are not dynsecrets' to rotate",
                operation="rotate_root",
            )
        iam = self.clients.get("iam", config)
        call = iam_user.call
        user = call(self._retry, "GetUser", iam.get_user)["User"]["UserName"]
        keys = call(self._retry, "ListAccessKeys", lambda: iam.list_access_keys(UserName=user))
        ids = [k["AccessKeyId"] for k in keys.get("AccessKeyMetadata", [])]
        if len(ids) >= 2:
            raise PermanentProviderError(
                f"IAM user {user} already has two access keys ({', '.join(ids)}); AWS allows two, "
                "so delete the one not in use, then rotate again",
                operation="rotate_root",
                code="LimitExceeded",
            )
        key = call(self._retry, "CreateAccessKey", lambda: iam.create_access_key(UserName=user))[
            "AccessKey"
        ]
        new = {**config, "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
        persist(new)
        iam_user.wait_until_usable(
            self.clients.get("sts", new), self.clock, float(config.get("usable_timeout") or 60)
        )
        call(
            self._retry,
            "DeleteAccessKey",
            lambda: iam.delete_access_key(UserName=user, AccessKeyId=config["access_key"]),
        )
        return new

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        iam = self.clients.get("iam", config)
        prefix = static_prefix(config["username_template"])
        found: list[ManagedIdentity] = []
        users: list[dict[str, Any]] = []

        def list_users() -> None:
            users.clear()
            for page in iam.get_paginator("list_users").paginate():
                users.extend(page.get("Users", []))

        iam_user.call(self._retry, "ListUsers", list_users)
        for user in users:
            if not user["UserName"].startswith(prefix):
                continue
            tags = iam_user.call(
                self._retry,
                "ListUserTags",
                functools.partial(iam.list_user_tags, UserName=user["UserName"]),
            )
            tag = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
            if tag.get(iam_user.TAG_MOUNT) == mount and tag.get(iam_user.TAG_MANAGED) == "true":
                found.append(
                    ManagedIdentity(
                        id=user["UserName"],
                        lease_id=tag.get(iam_user.TAG_LEASE),
                        store_id=tag.get(iam_user.TAG_STORE),
                        created_at=user["CreateDate"].timestamp(),
                        details={"path": user.get("Path", "/")},
                    )
                )
        return found

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        plan = {"type": IAM_USER, "user_name": identity.id, "policy_arns": [], "groups": []}
        iam_user.revoke(self.clients.get("iam", config), self._retry, plan, None)

    def close(self) -> None:
        self.clients.clear()
