"""Access tokens through iamcredentials ``generateAccessToken``: no key is made.

Google cannot revoke an access token; it simply expires (at most 1 hour, or 12
hours where the organization allows it). So tokens are issued without a lease.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ...providers.base import Issued
from ...retry import RetryPolicy
from .clients import GoogleClients, call_timeout
from .errors import check_response, google_errors

__all__ = ["MAX_TOKEN_TTL", "issue_token"]

#: generateAccessToken's longest lifetime without the org policy
#: constraints/iam.allowServiceAccountCredentialLifetimeExtension.
MAX_TOKEN_TTL = 3600


def _parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def issue_token(clients: GoogleClients, retry: RetryPolicy, plan: Mapping[str, Any]) -> Issued:
    email = plan["account"]
    url = clients.url(
        "iamcredentials", f"v1/projects/-/serviceAccounts/{email}:generateAccessToken"
    )
    body = {"scope": list(plan["scopes"]), "lifetime": f"{int(plan['lifetime'])}s"}

    def once() -> dict[str, Any]:
        with google_errors("generateAccessToken"):
            reply = clients.rest.post(url, json=body, timeout=call_timeout())
        return dict(check_response(reply, "generateAccessToken"))

    got = retry.call(once)
    expires = _parse_time(got["expireTime"])
    token = got["accessToken"]
    return Issued(
        data={
            "token": token,
            "expires_at_seconds": int(expires),
            "token_ttl": int(plan["lifetime"]),
            "service_account_email": email,
        },
        secret_keys=frozenset({"token"}),
        expires_at=expires,
        # gcloud reads the first, Terraform's google provider the second.
        env={"CLOUDSDK_AUTH_ACCESS_TOKEN": token, "GOOGLE_OAUTH_ACCESS_TOKEN": token},
    )
