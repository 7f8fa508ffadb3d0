"""The seed workflow for AliCloud ("similar for AliCloud"), step for step, on the
embedded SQLite store, against a local fake of RAM and STS that this script starts
itself (TLS with a throwaway CA; every request's ACS3-HMAC-SHA256 signature checked).

    python examples/alicloud_workflow.py

1. enable the alicloud secrets engine at ali/
2. configure it: the root RAM user's key, the endpoints and the CA of the fake
3. write the roles policy-based (inline + remote policies) and ops (STS role_arn)
4. read ali/creds/policy-based: a RAM user and key, as a lease; prove the key works
5. read ali/creds/ops: an STS token (not renewable, not revocable, says so)
6. rotate the root key, revoke the lease, show the RAM user is gone
Exits non-zero if anything does not hold. Needs ``dynsecrets[alicloud,test]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import dynsecrets
from dynsecrets.output import format_table, lease_rows
from dynsecrets.testing.alicloud import FakeAliCloud

OSS_POLICY = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:*"]}],
}


def say(command: str) -> None:
    print(f"\n$ {command}")


def whoami(lease: dynsecrets.Lease, ali: FakeAliCloud) -> str:
    """GetCallerIdentity with the issued key, through the SDK, as an application would."""
    from alibabacloud_sts20150401.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    config = Config(
        access_key_id=lease.data["access_key"],
        access_key_secret=lease.data["secret_key"],
        endpoint=ali.endpoint,
        protocol="https",
        ca=ali.ca_bundle,
    )
    return str(Client(config).get_caller_identity().body.arn)


def main() -> int:
    with FakeAliCloud() as ali, tempfile.TemporaryDirectory() as tmp:
        store = os.environ.get("DYNSECRETS_STORE") or f"sqlite:///{Path(tmp) / 'dynsecrets.db'}"
        ops = ali.account.add_role("ops", max_session=7200)
        print(f"the fake RAM/STS listens on https://{ali.endpoint}; store: {store}")
        with dynsecrets.Engine.open(store) as engine:
            say("dynsecrets secrets enable -path=ali alicloud")
            engine.enable("ali", "alicloud")
            say(
                "dynsecrets write ali/config access_key=... secret_key=... ram_endpoint=... ca_bundle=..."
            )
            engine.write("ali/config", **ali.config())
            say(
                "dynsecrets write ali/role/policy-based inline_policies=@p.json "
                "remote_policies=name:AliyunOSSReadOnlyAccess,type:System"
            )
            engine.write(
                "ali/role/policy-based",
                inline_policies=OSS_POLICY,
                remote_policies="name:AliyunOSSReadOnlyAccess,type:System",
            )
            say(f"dynsecrets write ali/role/ops role_arn={ops}")
            engine.write("ali/role/ops", role_arn=ops)

            say("dynsecrets read ali/creds/policy-based")
            lease = engine.read("ali/creds/policy-based")
            print(format_table(lease_rows(lease)))
            [user] = ali.managed_users()
            arn = whoami(lease, ali)
            print(f"the key works: GetCallerIdentity says {arn}")
            assert arn.endswith(f":user/{user}"), arn

            say("dynsecrets read ali/creds/ops")
            token = engine.read("ali/creds/ops")
            print(format_table(lease_rows(token)))
            assert not token.renewable and token.data["security_token"]

            say("dynsecrets write -f ali/config/rotate-root")
            rotated = engine.write("ali/config/rotate-root")
            print(f"new root key: {rotated['access_key']}")

            say(f"dynsecrets lease revoke {lease.lease_id}")
            engine.revoke(lease.lease_id)
            left = ali.managed_users()
            print(f"RAM users made by dynsecrets left: {left or 'none'}")
            if left or ali.account.policies:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
