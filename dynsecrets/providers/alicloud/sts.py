"""STS credentials: AssumeRole on the role's RAM role.

Alibaba cannot revoke one STS token, so these leases are neither renewable nor
revocable: the lease lives exactly as long as the token, and revoking it only
removes the lease."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidTTL, PermanentProviderError
from ...providers.base import Issued
from .api import Api
from .roles import STS_MAX_TTL, STS_MIN_TTL


def duration(ttl: int, max_ttl: int | None) -> tuple[int, list[str]]:
    """DurationSeconds from the engine's TTL, within STS's 900-43200 s and the lease's
    max_ttl, with a warning for each change made here."""
    cap = min(STS_MAX_TTL, max_ttl or STS_MAX_TTL)
    want, warnings = ttl, []
    if want > cap:
        warnings.append(f"TTL {want}s was lowered to {cap}s, the longest this role allows")
        want = cap
    if want < STS_MIN_TTL:
        warnings.append(
            f"TTL {want}s was raised to {STS_MIN_TTL}s, the shortest token Alibaba STS issues"
        )
        want = STS_MIN_TTL
    return want, warnings


def issue(api: Api, plan: Mapping[str, Any]) -> Issued:
    seconds = int(plan["duration"])
    try:
        out = api.call(
            "AssumeRole",
            {
                "RoleArn": plan["role_arn"],
                "RoleSessionName": plan["session_name"],
                "DurationSeconds": seconds,
            },
        )
    except PermanentProviderError as exc:
        exc.nothing_created = True  # an STS token is the only thing made; none was
        if exc.code == "InvalidParameter.DurationSeconds":
            raise InvalidTTL(
                "ttl",
                f"Alibaba STS refused a {seconds}s token for {plan['role_arn']}: longer than "
                "the RAM role's MaxSessionDuration. Ask for a shorter ttl, lower the role's "
                "max_ttl, or raise MaxSessionDuration on the RAM role",
            ) from exc
        raise
    creds = out["Credentials"]
    expires = dt.datetime.strptime(creds["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc
    )
    data = {
        "access_key": creds["AccessKeyId"],
        "secret_key": creds["AccessKeySecret"],
        "security_token": creds["SecurityToken"],
        "expiration": creds["Expiration"],
        "ttl": seconds,
        "arn": out.get("AssumedRoleUser", {}).get("Arn"),
    }
    return Issued(
        data=data,
        secret_keys=frozenset({"secret_key", "security_token"}),
        expires_at=expires.timestamp(),
        env={
            "ALIBABA_CLOUD_ACCESS_KEY_ID": data["access_key"],
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": data["secret_key"],
            "ALIBABA_CLOUD_SECURITY_TOKEN": data["security_token"],
        },
        warnings=tuple(plan.get("warnings", ())),
    )
