"""The ``aws`` provider: Vault's AWS secrets engine, without the server."""

from __future__ import annotations

import functools
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
from . import iam_user, static, sts, tidy, verify
from .clients import Clients
from .config import CONFIG_SCHEMA, check_config, partition_of, resolve_region
from .names import (
    FEDERATION_NAME_MAX,
    SESSION_NAME_MAX,
    USER_NAME_MAX,
    actor_tag,
    federation_problem,
    render,
    render_federation_name,
    source_identity,
)
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
    validate_role,
)
from .rotate import rotate_root

# Request options and the credential types they mean something for.
_OPTION_TYPES = {
    "role_arn": (ASSUMED_ROLE,),
    "role_session_name": (ASSUMED_ROLE,),
    "mfa_code": (SESSION_TOKEN,),
    "wait_until_usable": (IAM_USER,),
}


class AWSProvider(Provider):
    """IAM users with an access key, or STS credentials (assumed_role,
    federation_token, session_token)."""

    name: ClassVar[str] = "aws"
    config_schema = CONFIG_SCHEMA
    role_schema = ROLE_SCHEMA
    request_schema = REQUEST_SCHEMA
    static_role_schema = static.STATIC_ROLE_SCHEMA
    #: AWS lets an IAM user have two access keys.
    static_secret_limit = 2

    def __init__(self, context: ProviderContext | None = None) -> None:
        super().__init__(context)
        self.clients = Clients(self.clock)

    @property
    def _retry(self) -> Any:
        return self.context.retry

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return check_config(config)

    def validate_role(self, name: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return validate_role(name, fields)

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        return check_role(name, role)

    def check_mount(
        self, config: Mapping[str, Any] | None, roles: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Rules across config and roles, which neither validation sees alone: a
        federation_token role needs a username_template that fits 32 characters.
        The engine should call this on configure (new config, every stored role) and on
        write_role (stored config or None, the role being written)."""
        if config is None:
            return
        # AWS refuses GetFederationToken and GetSessionToken to temporary credentials.
        untemporary = sorted(
            n
            for n, r in roles.items()
            if r.get("credential_type") in (FEDERATION_TOKEN, SESSION_TOKEN)
        )
        if config.get("role_arn") and untemporary:
            kind = roles[untemporary[0]]["credential_type"]
            raise ValidationError(
                "role_arn",
                f"the {kind} role {untemporary[0]!r} cannot be issued with an assumed role's "
                "temporary credentials (AWS refuses GetFederationToken and GetSessionToken to "
                "them); configure an IAM user's keys without role_arn, or use assumed_role",
            )
        federated = sorted(
            n for n, r in roles.items() if r.get("credential_type") == FEDERATION_TOKEN
        )
        problem = federation_problem(config.get("username_template") or "") if federated else None
        if problem:
            raise ValidationError(
                "username_template",
                f"cannot name a federation token (federation_token role {federated[0]!r}): "
                f"it {problem}. Shorten the template's fixed text, or drop {{unix_time}}",
            )

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if role.get("credential_type") in STS_TYPES:
            return Capabilities(renewable=False, revocable=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        kind = role.get("credential_type")
        return sts.MAX_STS_TTL[kind] if kind in STS_TYPES else None

    def default_ttl(self, role: Mapping[str, Any]) -> int | None:
        # STS tokens last default_sts_ttl or one hour, not the mount's default (768h):
        # the engine must start from this, or it reports a clamp that never happened.
        if role.get("credential_type") in STS_TYPES:
            return sts.default_ttl(role)
        return None

    @functools.cached_property
    def _role_limits(self) -> sts.RoleLimits:
        return sts.RoleLimits(self.clock)

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
        for option, kinds in _OPTION_TYPES.items():
            # False/"" are what front ends pass for "not set": only a real value is refused.
            if options.get(option) not in (None, False, "") and kind not in kinds:
                raise ValidationError(
                    option, f"does not apply to credential_type={kind}; it fits {', '.join(kinds)}"
                )
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
                "actor": actor_tag(request.actor),
            }
        seconds, warnings = sts.duration(kind, role, request.ttl)
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
                source_identity=source_identity(request.actor),
                session_name=options.get("role_session_name")
                or self._name(config, request, SESSION_NAME_MAX, "role session name"),
            )
        elif kind == FEDERATION_TOKEN:
            try:
                plan["session_name"] = render_federation_name(
                    config["username_template"],
                    role=request.role_name,
                    mount=request.mount,
                    unix_time=int(request.now),
                )
            except ValueError as exc:
                raise ValidationError(
                    "username_template",
                    f"cannot make a federation token name of {FEDERATION_NAME_MAX} "
                    f"characters ({exc})",
                ) from exc
        elif kind == SESSION_TOKEN:
            serial = role.get("mfa_serial_number")
            if serial and not options.get("mfa_code"):
                raise ValidationError(
                    "mfa_code", "this role requires MFA; pass the 6-digit mfa_code"
                )
            if options.get("mfa_code") and not serial:
                raise ValidationError(
                    "mfa_code", "the role has no mfa_serial_number, so AWS would ignore the code"
                )
            plan["mfa_serial_number"] = serial
        return plan

    # -- issue, revoke ----------------------------------------------------------------
    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        if plan["type"] != IAM_USER:
            return self._issue_sts(config, request, plan)
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

    def _issue_sts(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        iam = self.clients.get("iam", config)
        seconds, warnings = int(plan["duration"]), list(plan.get("warnings", ()))
        limit = None
        if plan["type"] == ASSUMED_ROLE:
            limit = self._role_limits.get(iam, self._retry, plan["role_arn"])
            if limit and seconds > limit:
                warnings.append(
                    f"TTL {seconds}s was lowered to {limit}s, the MaxSessionDuration of "
                    f"{plan['role_arn']}; set max_sts_ttl to at most {limit}s or raise the "
                    "role's MaxSessionDuration"
                )
                seconds = limit
        if plan["type"] == ASSUMED_ROLE and config.get("role_arn") and seconds > sts.CHAINED_MAX:
            # Role chaining (the root is itself an assumed role): AWS's limit is one hour.
            warnings.append(
                f"TTL {seconds}s was lowered to {sts.CHAINED_MAX}s: the root credential is an "
                "assumed role (config role_arn), and AWS limits a role assumed from one to "
                "one hour"
            )
            seconds = sts.CHAINED_MAX
        try:
            issued = sts.issue(
                self.clients.get("sts", config),
                iam,
                self._retry,
                plan,
                request.options,
                seconds=seconds,
                ttl_field="ttl" if request.requested_ttl else "max_sts_ttl",
            )
        except ValidationError:
            # AWS knows a lower MaxSessionDuration than the cache: read it again next time.
            # (An unknown limit stays cached: GetRole would only be denied again.)
            if limit is not None:
                self._role_limits.forget(plan["role_arn"])
            raise
        return Issued(
            data=issued.data,
            secret_keys=issued.secret_keys,
            expires_at=issued.expires_at,
            env=issued.env,
            warnings=(*warnings, *issued.warnings),
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
        return rotate_root(self.clients, self._retry, self.clock, config, persist)

    # -- static roles ------------------------------------------------------------------
    def _static_iam(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> Any:
        return self.clients.get("iam", config, assume=static.assume_for(role))

    def static_secrets(
        self, config: Mapping[str, Any], role: Mapping[str, Any]
    ) -> list[SecretInfo]:
        return static.secrets(self._static_iam(config, role), self._retry, role)

    def static_create(self, config: Mapping[str, Any], role: Mapping[str, Any]) -> StaticSecret:
        return static.create(self._static_iam(config, role), role, resolve_region(config))

    def static_check(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret: StaticSecret
    ) -> None:
        data, budget = secret.data, float(config.get("usable_timeout") or 60)
        probe = self.clients.get(
            "sts", config, access_key=data["access_key"], secret_key=data["secret_key"]
        )
        if not iam_user.wait_until_usable(probe, self.clock, budget):
            raise static.not_usable(secret.id, budget)

    def static_delete(
        self, config: Mapping[str, Any], role: Mapping[str, Any], secret_id: str
    ) -> None:
        static.delete(self._static_iam(config, role), self._retry, role, secret_id)

    def verify(self, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
        """GetCallerIdentity, then iam:SimulatePrincipalPolicy for the calls this role
        (or, for None, rotate_root and tidy) leads to; see :mod:`.verify`."""
        return verify.verify(self.clients, self._retry, self.clock, config, role)

    def can_rotate_root(self, config: Mapping[str, Any]) -> bool:
        """Only keys in config can be rotated: not the default chain's, and not an
        assumed role's temporary credentials (with keys and role_arn, the keys are)."""
        return bool(config.get("access_key"))

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        return tidy.list_managed(self.clients.get("iam", config), self._retry, config, mount)

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        plan = {"type": IAM_USER, "user_name": identity.id, "policy_arns": [], "groups": []}
        iam_user.revoke(self.clients.get("iam", config), self._retry, plan, None)

    def close(self) -> None:
        self.clients.clear()
