"""Turn an AWS lease into what AWS tools take."""

from __future__ import annotations

import json
from typing import Any

from ...models import Lease


def boto3_kwargs(lease: Lease) -> dict[str, Any]:
    """Keyword arguments for ``boto3.Session(...)`` or ``boto3.client(...)``."""
    return lease.boto3_kwargs()


def environ(lease: Lease) -> dict[str, str]:
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN`` (STS) and ``AWS_REGION``."""
    return lease.environ()


def credential_process(lease: Lease) -> str:
    """The JSON the AWS CLI and SDKs expect from a ``credential_process`` command."""
    out: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": lease.data["access_key"],
        "SecretAccessKey": lease.data["secret_key"],
    }
    if lease.data.get("security_token"):
        out["SessionToken"] = lease.data["security_token"]
    # SDKs refresh before Expiration; IAM user keys end with the lease.
    out["Expiration"] = lease.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(out)
