"""STS credentials: assumed_role, federation_token and session_token.

AWS cannot revoke one STS session, so these leases are neither renewable nor
revocable: the lease lives exactly as long as the token, and revoking it only
removes the lease. (To cut off every session of a role, an operator must
attach a deny-before-date policy to the role; dynsecrets does not do that.)
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...errors import InvalidTTL, PermanentProviderError, ProviderError
from ...providers.base import Issued
from ...retry import RetryPolicy
from .iam_user import call
from .roles import ASSUMED_ROLE, FEDERATION_TOKEN, SESSION_TOKEN

DEFAULT_STS_TTL = 3600  # Vault's, when neither the request nor default_sts_ttl sets one
MIN_STS_TTL = 900
#: The longest each call grants (AssumeRole: the role's MaxSessionDuration, at most 12 h).
MAX_STS_TTL = {ASSUMED_ROLE: 12 * 3600, FEDERATION_TOKEN: 36 * 3600, SESSION_TOKEN: 36 * 3600}
#: AssumeRole made with an assumed role's credentials (role chaining) lasts at most 1 h.
CHAINED_MAX = 3600
#: How long a role's MaxSessionDuration (from GetRole) is trusted before it is read again.
ROLE_LIMIT_TTL = 300.0


def default_ttl(role: Mapping[str, Any]) -> int:
    """What an STS lease lasts when the request names no ttl: the role's default_sts_ttl,
    else one hour, never past the role's own caps (so no clamp is reported for it)."""
    if role.get("default_sts_ttl"):
        return int(role["default_sts_ttl"])
    caps = [c for c in (role.get("max_sts_ttl"), role.get("max_ttl")) if c]
    return int(min([DEFAULT_STS_TTL, *caps]))


def duration(kind: str, role: Mapping[str, Any], ttl: int) -> tuple[int, list[str]]:
    """The DurationSeconds to ask for, from the engine's TTL (request, role or default,
    already within the lease max_ttl and AWS's limit for ``kind``), and a warning for
    each change made here."""
    want = min(ttl, MAX_STS_TTL[kind])
    warnings: list[str] = []
    cap = role.get("max_sts_ttl")
    if cap and want > cap:
        warnings.append(f"TTL {want}s was lowered to {cap}s, the role's max_sts_ttl")
        want = cap
    if want < MIN_STS_TTL:
        warnings.append(
            f"TTL {want}s was raised to {MIN_STS_TTL}s, the shortest credential AWS STS issues"
        )
        want = MIN_STS_TTL
    return want, warnings


class RoleLimits:
    """Each IAM role's MaxSessionDuration, read with GetRole and kept for ROLE_LIMIT_TTL.

    AssumeRole refuses a DurationSeconds above it, so issuance clamps instead. None
    means unknown (GetRole denied, or a role in another account): AssumeRole then
    decides, and its refusal is reported as a typed error."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, int | None]] = {}

    def get(self, iam: Any, retry: RetryPolicy, role_arn: str) -> int | None:
        with self._lock:
            hit = self._cache.get(role_arn)
        if hit is not None and hit[0] > self.clock.now():
            return hit[1]
        # The role name is the ARN's last segment; what comes before it is the path.
        name = role_arn.rsplit("/", 1)[1]
        try:
            got = call(retry, "GetRole", functools.partial(iam.get_role, RoleName=name))
            limit: int | None = int(got["Role"].get("MaxSessionDuration") or 0) or None
        except PermanentProviderError:
            limit = None  # remembered too: asking again each issue would be denied again
        except ProviderError:
            return None  # transient: not remembered, the next issue asks again
        with self._lock:
            self._cache[role_arn] = (self.clock.now() + ROLE_LIMIT_TTL, limit)
        return limit

    def forget(self, role_arn: str) -> None:
        with self._lock:
            self._cache.pop(role_arn, None)


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


def _duration_refused(exc: PermanentProviderError) -> bool:
    # AWS's ValidationError texts: "The requested DurationSeconds exceeds the
    # MaxSessionDuration set for this role." and, for role chaining, "... exceeds the
    # 1 hour session limit for roles assumed by role chaining."
    return exc.code == "ValidationError" and "DurationSeconds exceeds" in str(exc)


def _assume_role(sts: Any, retry: RetryPolicy, kwargs: dict[str, Any], warnings: list[str]) -> Any:
    """AssumeRole; with SourceIdentity (who asked), once more without it when AWS
    denies the call: the role's trust policy must allow sts:SetSourceIdentity, and
    roles written before dynsecrets sent one may not. The lease still works, and
    the warning says what to add. If the retry is denied too, its error is the
    real one."""
    try:
        return call(retry, "AssumeRole", lambda: sts.assume_role(**kwargs))
    except PermanentProviderError as exc:
        if exc.code != "AccessDenied" or "SourceIdentity" not in kwargs:
            raise
    plain = {k: v for k, v in kwargs.items() if k != "SourceIdentity"}
    out = call(retry, "AssumeRole", lambda: sts.assume_role(**plain))
    warnings.append(
        f"AssumeRole of {kwargs['RoleArn']} was denied with SourceIdentity (who asked), so "
        "the session does not name them; allow sts:SetSourceIdentity in that role's trust "
        "policy (and to the root credential)"
    )
    return out


def issue(
    sts: Any,
    iam: Any,
    retry: RetryPolicy,
    plan: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    seconds: int | None = None,
    ttl_field: str = "ttl",
) -> Issued:
    kind = plan["type"]
    seconds = seconds or plan["duration"]
    warnings: list[str] = []
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
        if plan.get("source_identity"):
            kwargs["SourceIdentity"] = plan["source_identity"]
        if plan.get("external_id"):
            kwargs["ExternalId"] = plan["external_id"]
        if plan.get("session_tags"):
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in plan["session_tags"].items()]
        try:
            out = _assume_role(sts, retry, kwargs, warnings)
        except PermanentProviderError as exc:
            if not _duration_refused(exc):
                raise
            raise InvalidTTL(
                ttl_field,
                f"AWS refused a {seconds}s session for {plan['role_arn']}: longer than the "
                "role's MaxSessionDuration (or 1 h when the root credential is itself an "
                "assumed role). Ask for a shorter ttl, set the role's max_sts_ttl to at most "
                "that limit, or raise MaxSessionDuration on the IAM role; allowing iam:GetRole "
                "to the root credential lets dynsecrets clamp to it by itself",
            ) from exc
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
    # Vault's shape: ttl (the seconds AWS granted) next to the keys, arn where AWS names one.
    data = {
        "access_key": creds["AccessKeyId"],
        "secret_key": creds["SecretAccessKey"],
        "security_token": creds["SessionToken"],
        "ttl": seconds,
        "expiration": expires.isoformat(),
        **extra,
    }
    return Issued(
        data=data,
        warnings=tuple(warnings),
        secret_keys=frozenset({"secret_key", "security_token"}),
        expires_at=expires.timestamp(),
        env={
            "AWS_ACCESS_KEY_ID": data["access_key"],
            "AWS_SECRET_ACCESS_KEY": data["secret_key"],
            "AWS_SESSION_TOKEN": data["security_token"],
            "AWS_REGION": plan["region"],
            # botocore (so boto3 and AWS CLI v1) reads this one, not AWS_REGION.
            "AWS_DEFAULT_REGION": plan["region"],
        },
    )
