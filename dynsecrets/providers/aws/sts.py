"""STS credentials: assumed_role, federation_token and session_token.

AWS cannot revoke one STS session, so these leases are neither renewable nor
revocable: the lease lives exactly as long as the token, and revoking it only
removes the lease. (To cut off every session of a role, an operator must
attach a deny-before-date policy to the role; dynsecrets does not do that.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from ...providers.base import Issued
from ...retry import RetryPolicy
from .iam_user import call
from .roles import ASSUMED_ROLE, FEDERATION_TOKEN, SESSION_TOKEN

DEFAULT_STS_TTL = 3600
MIN_STS_TTL = 900
#: The longest each call grants (AssumeRole: the role's MaxSessionDuration, at most 12 h).
MAX_STS_TTL = {ASSUMED_ROLE: 12 * 3600, FEDERATION_TOKEN: 36 * 3600, SESSION_TOKEN: 36 * 3600}


def duration(
    kind: str, role: Mapping[str, Any], requested: int | None, engine_max: int | None
) -> tuple[int, list[str]]:
    """The DurationSeconds to ask for, and what was clamped (reported as lease warnings)."""
    want = requested or role.get("default_sts_ttl") or DEFAULT_STS_TTL
    warnings: list[str] = []
    caps = [
        (role.get("max_sts_ttl"), "the role's max_sts_ttl"),
        (engine_max, "the lease max_ttl"),
        (MAX_STS_TTL[kind], f"AWS's limit for {kind}"),
    ]
    for cap, what in caps:
        if cap and want > cap:
            warnings.append(f"TTL {want}s clamped to {cap}s by {what}")
            want = cap
    if want < MIN_STS_TTL:
        warnings.append(f"TTL {want}s raised to {MIN_STS_TTL}s, the shortest AWS STS grants")
        want = MIN_STS_TTL
    return want, warnings


def merged_policy(
    iam: Any, retry: RetryPolicy, document: str | None, groups: list[str]
) -> tuple[str | None, list[str]]:
    """Fold the groups' inline and attached policies into the session policy, as
    Vault does for iam_groups on STS roles."""
    statements: list[Any] = []
    arns: list[str] = []
    if document:
        doc = json.loads(document)
        st = doc.get("Statement", [])
        statements.extend(st if isinstance(st, list) else [st])
    for group in groups:
        attached = call(
            retry,
            "ListAttachedGroupPolicies",
            functools.partial(iam.list_attached_group_policies, GroupName=group),
        )
        arns.extend(p["PolicyArn"] for p in attached.get("AttachedPolicies", []))
        names = call(
            retry, "ListGroupPolicies", functools.partial(iam.list_group_policies, GroupName=group)
        )
        for name in names.get("PolicyNames", []):
            got = call(
                retry,
                "GetGroupPolicy",
                functools.partial(iam.get_group_policy, GroupName=group, PolicyName=name),
            )
            doc = got["PolicyDocument"]
            if isinstance(doc, str):
                from urllib.parse import unquote

                doc = json.loads(unquote(doc))
            st = doc.get("Statement", [])
            statements.extend(st if isinstance(st, list) else [st])
    if not groups:
        return document, arns
    if not statements:
        return None, arns
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")
    ), arns


def issue(
    sts: Any, iam: Any, retry: RetryPolicy, plan: Mapping[str, Any], options: Mapping[str, Any]
) -> Issued:
    kind = plan["type"]
    seconds = plan["duration"]
    policy, arns = plan.get("policy_document"), list(plan.get("policy_arns", []))
    if plan.get("groups"):
        policy, group_arns = merged_policy(iam, retry, policy, plan["groups"])
        arns = [*arns, *(a for a in group_arns if a not in arns)]
    common: dict[str, Any] = {"DurationSeconds": seconds}
    if kind != SESSION_TOKEN:
        if policy:
            common["Policy"] = policy
        if arns:
            common["PolicyArns"] = [{"arn": a} for a in arns]
    if kind == ASSUMED_ROLE:
        kwargs = {**common, "RoleArn": plan["role_arn"], "RoleSessionName": plan["session_name"]}
        if plan.get("external_id"):
            kwargs["ExternalId"] = plan["external_id"]
        if plan.get("session_tags"):
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in plan["session_tags"].items()]
        out = call(retry, "AssumeRole", lambda: sts.assume_role(**kwargs))
        extra = {"arn": out["AssumedRoleUser"]["Arn"]}
    elif kind == FEDERATION_TOKEN:
        kwargs = {**common, "Name": plan["session_name"]}
        out = call(retry, "GetFederationToken", lambda: sts.get_federation_token(**kwargs))
        extra = {"arn": out["FederatedUser"]["Arn"]}
    else:
        kwargs = dict(common)
        if plan.get("mfa_serial_number"):
            kwargs["SerialNumber"] = plan["mfa_serial_number"]
            kwargs["TokenCode"] = options.get("mfa_code")
        out = call(retry, "GetSessionToken", lambda: sts.get_session_token(**kwargs))
        extra = {}
    creds = out["Credentials"]
    expires = creds["Expiration"]
    data = {
        "access_key": creds["AccessKeyId"],
        "secret_key": creds["SecretAccessKey"],
        "security_token": creds["SessionToken"],
        "expiration": expires.isoformat(),
        **extra,
    }
    return Issued(
        data=data,
        secret_keys=frozenset({"secret_key", "security_token"}),
        expires_at=expires.timestamp(),
        env={
            "AWS_ACCESS_KEY_ID": data["access_key"],
            "AWS_SECRET_ACCESS_KEY": data["secret_key"],
            "AWS_SESSION_TOKEN": data["security_token"],
            "AWS_REGION": plan["region"],
        },
    )
