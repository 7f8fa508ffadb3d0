"""``verify``: does the root credential work, and may it make every call the
provider will make? The closest Alibaba Cloud offers to AWS's policy simulator.

1. STS GetCallerIdentity with the root credential (it needs no permission): a
   refusal means the credential does not work at all (PermanentProviderError).
2. For a RAM user: its policies (ListPoliciesForUser) and its groups' policies
   (ListGroupsForUser, ListPoliciesForGroup), read with GetPolicy (the default
   version's document) except well-known system policies, known by name; then each
   needed action on its resource is decided by :mod:`.evaluate`.
3. The account's own AccessKey may do anything: nothing is missing. An assumed role
   (ECS RAM role, OIDC) cannot be checked: its session policy is not readable, so
   ``verify`` raises PermanentProviderError with code ``NotSupported``, as a provider
   without verify does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ...errors import PermanentProviderError
from .api import Api
from .evaluate import SYSTEM_POLICIES, decide, statements
from .roles import STS, kind

_OP = "verify"
#: A name like the ones issue makes: policies scoped to dynsecrets-* users match it.
_SAMPLE_USER = "dynsecrets-verify-000000000000"
_SAMPLE_POLICY = f"{_SAMPLE_USER}-p0"
#: What revoke, recovery and tidy call on a user dynsecrets made.
_SWEEP = (
    "ListAccessKeys",
    "DeleteAccessKey",
    "ListPoliciesForUser",
    "DetachPolicyFromUser",
    "ListGroupsForUser",
    "RemoveUserFromGroup",
    "DeleteLoginProfile",
    "UnbindMFADevice",
    "DeleteUser",
)
_KEYS = ("ListAccessKeys", "CreateAccessKey", "DeleteAccessKey")

Need = tuple[str, list[str]]  # (permission, the resource's ARN in its accepted forms)


def _arn(account: str, path: str) -> list[str]:
    # RAM ARNs are written with an empty or a "*" region.
    return [f"acs:ram::{account}:{path}", f"acs:ram:*:{account}:{path}"]


def _role_arn(arn: str) -> list[str]:
    head, _, rest = arn.partition("::")
    return [arn, f"{head}:*:{rest}"] if rest else [arn]


def needs(
    account: str, caller: str, config: Mapping[str, Any], role: Mapping[str, Any] | None
) -> list[Need]:
    """Every (permission, resource) the provider needs for ``role``, or for the
    config-level calls (rotate-root on the caller, tidy) when ``role`` is None."""
    user, policy = _arn(account, f"user/{_SAMPLE_USER}"), _arn(account, f"policy/{_SAMPLE_POLICY}")
    out: list[Need] = []
    if role is None:
        if config.get("access_key"):  # rotate-root: the caller's own keys
            out += [(f"ram:{a}", _arn(account, f"user/{caller}")) for a in _KEYS]
        out.append(("ram:ListUsers", _arn(account, "*")))  # tidy
        out += [(f"ram:{a}", user) for a in _SWEEP]
        out.append(("ram:DeletePolicy", policy))
    elif "username" in role:  # a static role: the user's keys
        out += [(f"ram:{a}", _arn(account, f"user/{role['username']}")) for a in _KEYS]
    elif kind(role) == STS:
        out.append(("sts:AssumeRole", _role_arn(str(role["role_arn"]))))
    else:
        out += [(f"ram:{a}", user) for a in ("CreateUser", "GetUser", "AttachPolicyToUser")]
        out += [("ram:CreateAccessKey", user)] + [(f"ram:{a}", user) for a in _SWEEP]
        if role.get("inline_policies"):
            out += [(f"ram:{a}", policy) for a in ("CreatePolicy", "GetPolicy", "DeletePolicy")]
    return out


@contextmanager
def _readable(user: str) -> Iterator[None]:
    """A refused read means verify cannot decide: say which permission it needs."""
    try:
        yield
    except PermanentProviderError as exc:
        if exc.code and exc.code.startswith(("NoPermission", "Forbidden")):
            raise PermanentProviderError(
                f"verify cannot read the policies of RAM user {user}: ram:{exc.operation} "
                f"was refused ({exc.code}); allow it (AliyunRAMReadOnlyAccess has it) or "
                "check the permissions by hand",
                operation=_OP,
                code=exc.code,
            ) from exc
        raise


def _attached(listed: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (p["PolicyType"], p["PolicyName"]) for p in listed.get("Policies", {}).get("Policy", [])
    ]


def user_statements(api: Api, user: str) -> list[Mapping[str, Any]]:
    """Every statement of the policies attached to ``user`` and to its groups."""
    with _readable(user):
        attached = _attached(api.call("ListPoliciesForUser", {"UserName": user}))
        groups = api.call("ListGroupsForUser", {"UserName": user})
        for group in groups.get("Groups", {}).get("Group", []):
            params = {"GroupName": group["GroupName"]}
            attached += _attached(api.call("ListPoliciesForGroup", params))
        found: list[Mapping[str, Any]] = []
        for policy_type, name in dict.fromkeys(attached):
            if policy_type == "System" and name in SYSTEM_POLICIES:
                document = SYSTEM_POLICIES[name]
            else:
                got = api.call("GetPolicy", {"PolicyType": policy_type, "PolicyName": name})
                document = got.get("DefaultPolicyVersion", {}).get("PolicyDocument") or "{}"
            found += statements(document)
    return found


def verify(api: Api, config: Mapping[str, Any], role: Mapping[str, Any] | None) -> list[str]:
    try:
        who = api.call("GetCallerIdentity")
    except PermanentProviderError as exc:
        raise PermanentProviderError(
            f"the root credential does not work: STS GetCallerIdentity was refused "
            f"({exc.code}); check access_key and secret_key",
            operation=_OP,
            code=exc.code,
        ) from exc
    identity, arn = str(who.get("IdentityType") or ""), str(who.get("Arn") or "")
    account = str(who.get("AccountId") or "")
    if identity == "Account":
        return []  # the account's own key: RAM policies do not bind it
    if identity != "RAMUser" or ":user/" not in arn:
        raise PermanentProviderError(
            f"the root credential works ({arn or identity}), but its permissions cannot be "
            "checked: RAM has no policy simulator and an assumed role's session policy "
            "cannot be read. Check the role's policies by hand",
            operation=_OP,
            code="NotSupported",
        )
    caller = arn.rsplit(":user/", 1)[1]
    policies = user_statements(api, caller)
    missing: list[str] = []
    for permission, resources in needs(account, caller, config, role):
        if permission not in missing and decide(policies, permission, resources) != "allow":
            missing.append(permission)
    return missing
