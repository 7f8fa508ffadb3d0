"""verify: does the root credential work, and may it make every call the provider
will make?

GetCallerIdentity (a failure is the credential's problem, raised), then
iam:SimulatePrincipalPolicy for the caller (for an assumed-role session, its role)
with the actions each kind of role leads to, read from this package's code: issue,
the fast revoke and the full sweep. Calls made only on rare paths (DeleteConflict's
extra sweep: login profile, MFA, certificates, SSH keys), calls whose denial is
tolerated (GetRole for MaxSessionDuration) and calls AWS never denies
(GetCallerIdentity, GetSessionToken) are not checked. Resources are the ones the
calls will name: a user name rendered from username_template (so a policy limited
to ``user/dynsecrets-*`` is judged as AWS would judge the real call), groups and
roles by ARN. The simulator evaluates identity policies only: a role's trust policy
or an SCP can still refuse a call it allows.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError, ProviderError
from ...retry import RetryPolicy
from .clients import Clients
from .iam_user import call
from .names import USER_NAME_MAX, render
from .roles import ASSUMED_ROLE, FEDERATION_TOKEN, IAM_USER
from .static import assume_for, no_user

#: (action, resource ARN)
Check = tuple[str, str]
_SWEEP = ("ListAccessKeys", "ListUserPolicies", "ListAttachedUserPolicies", "ListGroupsForUser")


class _Account:
    """Builds the ARNs of one account and partition."""

    def __init__(self, arn: str) -> None:
        parts = arn.split(":")
        self.partition, self.id = parts[1], parts[4]

    def iam(self, kind: str, name: str, path: str = "/") -> str:
        return f"arn:{self.partition}:iam::{self.id}:{kind}{path}{name}"


def _sample_user(config: Mapping[str, Any], clock: Clock) -> str:
    """A user name as issuance would render it (only the random part differs)."""
    return render(
        config["username_template"],
        role="verify",
        mount="verify",
        unix_time=int(clock.now()),
        limit=USER_NAME_MAX,
    )


def _iam(actions: tuple[str, ...] | list[str], resource: str) -> list[Check]:
    return [(f"iam:{a}", resource) for a in actions]


def _group_reads(acct: _Account, groups: list[str]) -> list[Check]:
    """STS roles fold their groups' policies into the session policy (sts.merged_policy)."""
    reads = ("ListAttachedGroupPolicies", "ListGroupPolicies", "GetGroupPolicy")
    return [c for g in groups for c in _iam(reads, acct.iam("group", g))]


def role_checks(
    acct: _Account, config: Mapping[str, Any], role: Mapping[str, Any], clock: Clock
) -> list[Check]:
    kind, groups = role.get("credential_type"), list(role.get("iam_groups") or [])
    if kind == IAM_USER:
        user = acct.iam("user", _sample_user(config, clock), role.get("user_path") or "/")
        # Tags go in CreateUser, which AWS authorises as TagUser too; ListUserTags
        # recognises a retried CreateUser that had already succeeded.
        actions = ["CreateUser", "TagUser", "ListUserTags", "CreateAccessKey", "DeleteAccessKey"]
        if role.get("policy_document"):
            actions += ["PutUserPolicy", "DeleteUserPolicy"]
        if role.get("policy_arns"):
            actions += ["AttachUserPolicy", "DetachUserPolicy"]
        if role.get("permissions_boundary_arn"):  # CreateUser with a boundary needs it too
            actions.append("PutUserPermissionsBoundary")
        checks = _iam([*actions, *_SWEEP, "DeleteUser"], user)
        for group in groups:
            checks += _iam(("AddUserToGroup", "RemoveUserFromGroup"), acct.iam("group", group))
        return checks
    if kind == ASSUMED_ROLE:
        checks = [("sts:AssumeRole", arn) for arn in role.get("role_arns") or []]
        if role.get("session_tags"):
            checks += [("sts:TagSession", arn) for arn in role.get("role_arns") or []]
        return checks + _group_reads(acct, groups)
    if kind == FEDERATION_TOKEN:
        name = _sample_user(config, clock)[:32]
        federated = f"arn:{acct.partition}:sts::{acct.id}:federated-user/{name}"
        return [("sts:GetFederationToken", federated), *_group_reads(acct, groups)]
    return []  # session_token: GetSessionToken needs no permission


def config_checks(
    acct: _Account, config: Mapping[str, Any], caller: str, clock: Clock
) -> list[Check]:
    """Tidy (ListUsers, ListUserTags, the sweep and DeleteUser on our users), and
    rotate_root (on the caller's own user) when config holds keys and no role."""
    user = acct.iam("user", _sample_user(config, clock))
    checks = _iam(("ListUsers", "ListUserTags", *_SWEEP, "DeleteAccessKey", "DeleteUser"), user)
    if config.get("access_key") and not config.get("role_arn") and ":user/" in caller:
        own = acct.iam("user", caller.split(":user/", 1)[1], "/")
        checks += _iam(("GetUser", "ListAccessKeys", "CreateAccessKey", "DeleteAccessKey"), own)
    return checks


def _principal(iam: Any, retry: RetryPolicy, config: Mapping[str, Any], caller: str) -> str | None:
    """The ARN SimulatePrincipalPolicy takes for the caller; None for the account's
    root user, whom no policy limits."""
    kind = caller.split(":", 5)[5]
    if kind == "root":
        return None
    acct = _Account(caller)
    if kind.startswith("user/"):
        # GetCallerIdentity gives the path too; IAM wants iam, not sts (moto says sts).
        return f"arn:{acct.partition}:iam::{acct.id}:{kind}"
    if kind.startswith("assumed-role/"):
        name = kind.split("/")[1]
        if (config.get("role_arn") or "").rsplit("/", 1)[-1] == name:
            return str(config["role_arn"])
        try:  # the session's ARN drops the role's path: GetRole has it
            got = call(retry, "GetRole", functools.partial(iam.get_role, RoleName=name))
            return str(got["Role"]["Arn"])
        except ProviderError:
            return acct.iam("role", name)
    raise PermanentProviderError(
        f"cannot verify the permissions of {caller}: the simulator takes IAM users and roles; "
        "write the config without verify=true",
        operation="verify",
        code="NotSupported",
    )


def simulate(iam: Any, retry: RetryPolicy, principal: str, checks: list[Check]) -> list[str]:
    """The actions of ``checks`` the principal's policies do not allow, in order."""
    by_resource: dict[str, list[str]] = {}
    for action, resource in checks:
        by_resource.setdefault(resource, [])
        if action not in by_resource[resource]:
            by_resource[resource].append(action)
    denied: set[str] = set()
    for resource, actions in by_resource.items():

        def run(resource: str = resource, actions: list[str] = actions) -> list[dict[str, Any]]:
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal, ActionNames=actions, ResourceArns=[resource]
            )
            return [r for page in pages for r in page.get("EvaluationResults", [])]

        try:
            results = call(retry, "SimulatePrincipalPolicy", run)
        except PermanentProviderError as exc:
            if exc.code != "AccessDenied":
                raise
            raise PermanentProviderError(
                f"verify: the root credential may not call iam:SimulatePrincipalPolicy on "
                f"{principal}; allow it, or write without verify=true ({exc})",
                operation="verify",
                code=exc.code,
            ) from exc
        denied.update(r["EvalActionName"] for r in results if r["EvalDecision"] != "allowed")
    return [a for a in dict.fromkeys(a for a, _ in checks) if a in denied]


def verify(
    clients: Clients,
    retry: RetryPolicy,
    clock: Clock,
    config: Mapping[str, Any],
    role: Mapping[str, Any] | None,
) -> list[str]:
    try:
        caller = call(retry, "GetCallerIdentity", clients.get("sts", config).get_caller_identity)
    except ProviderError as exc:
        raise PermanentProviderError(
            f"the root credential does not work: {exc}. Check access_key/secret_key (or the "
            "default credential chain) and role_arn/external_id in config/root",
            operation="verify",
            code=exc.code,
        ) from exc
    arn, iam = str(caller["Arn"]), clients.get("iam", config)
    principal = _principal(iam, retry, config, arn)
    acct = _Account(arn)
    if role is not None and "credential_type" not in role and role.get("username"):
        return _static(clients, retry, config, role, iam, principal, acct)
    if principal is None:
        return []
    checks = (
        config_checks(acct, config, arn, clock)
        if role is None
        else role_checks(acct, config, role, clock)
    )
    return simulate(iam, retry, principal, checks)


def _static(
    clients: Clients,
    retry: RetryPolicy,
    config: Mapping[str, Any],
    role: Mapping[str, Any],
    iam: Any,
    principal: str | None,
    acct: _Account,
) -> list[str]:
    """A static role's three calls on its user, made by the root credential or, with
    assume_role_arn, by that role (simulated in its own account, with its own
    credentials), which the root credential must be allowed to assume."""
    keys = ("ListAccessKeys", "CreateAccessKey", "DeleteAccessKey")
    assume = assume_for(role)
    if assume is not None:
        if principal is not None:
            missing = simulate(iam, retry, principal, [("sts:AssumeRole", assume.role_arn)])
            if missing:
                return missing
        acct, principal = _Account(assume.role_arn), assume.role_arn
        iam = clients.get("iam", config, assume=assume)
    if principal is None:
        return []
    path = "/"
    try:  # the user's path is part of its ARN; "/" when GetUser is not allowed
        got = call(retry, "GetUser", functools.partial(iam.get_user, UserName=role["username"]))
        path = got["User"].get("Path") or "/"
    except ProviderError as exc:
        if exc.code == "NoSuchEntity":
            raise no_user(role) from exc
    return simulate(iam, retry, principal, _iam(keys, acct.iam("user", role["username"], path)))
