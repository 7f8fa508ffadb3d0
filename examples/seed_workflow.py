"""The seed workflow ("Cloud Dynamic Secrets with HashiCorp Vault"), step for step,
on the embedded SQLite store, against a moto server this script starts itself.

    python examples/seed_workflow.py

1. enable the AWS secrets engine at aws-us-west-2/
2. connect it to the cloud with credentials allowed to create users
3. write the roles ec2 (inline policy), ec2-read-only (policy ARN), iam-ec2 (group)
4. read aws-us-west-2/creds/ec2: an IAM user and key, as a lease
Then show the IAM user through a separate boto3 client, revoke the lease, and
show the user is gone. Exits non-zero if anything does not hold.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import dynsecrets
from dynsecrets.output import format_table, lease_rows
from dynsecrets.testing.aws import MotoServer

EC2_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
}


def say(command: str) -> None:
    print(f"\n$ {command}")


def main() -> int:
    with MotoServer(aws_managed_policies=True) as moto, tempfile.TemporaryDirectory() as tmp:
        store = os.environ.get("DYNSECRETS_STORE") or f"sqlite:///{Path(tmp) / 'dynsecrets.db'}"
        iam = moto.client("iam", "us-west-2")  # our own view of "AWS", separate from dynsecrets
        iam.create_group(GroupName="ec2-admins")
        iam.attach_group_policy(
            GroupName="ec2-admins", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess"
        )
        print(f"moto (the AWS emulator) listens on {moto.url}; store: {store}")

        with dynsecrets.Engine.open(store) as engine:
            say("dynsecrets secrets enable -path=aws-us-west-2 aws")
            engine.enable("aws-us-west-2", "aws")
            print("Success! Enabled the aws secrets engine at: aws-us-west-2/")

            say(
                "dynsecrets write aws-us-west-2/config/root access_key=... secret_key=... region=us-west-2"
            )
            engine.write("aws-us-west-2/config/root", **moto.config("us-west-2"))
            print("Success! Data written to: aws-us-west-2/config/root")

            roles = {
                "ec2": {"policy_document": EC2_POLICY},
                "ec2-read-only": {
                    "policy_arns": ["arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"]
                },
                "iam-ec2": {"iam_groups": ["ec2-admins"]},
            }
            for name, fields in roles.items():
                shown = " ".join(
                    f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in fields.items()
                )
                say(f"dynsecrets write aws-us-west-2/roles/{name} credential_type=iam_user {shown}")
                engine.write(f"aws-us-west-2/roles/{name}", credential_type="iam_user", **fields)
                print(f"Success! Data written to: aws-us-west-2/roles/{name}")

            say("dynsecrets read aws-us-west-2/creds/ec2")
            lease = engine.read("aws-us-west-2/creds/ec2")
            print(format_table(lease_rows(lease, mask=True)))

            [user] = [
                u for u in iam.list_users()["Users"] if u["UserName"].startswith("dynsecrets-ec2-")
            ]
            name = user["UserName"]
            print(f"\nIn AWS (a separate boto3 client): IAM user {name}")
            tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
            print(f"  tags:     {tags}")
            print(f"  policies: {iam.list_user_policies(UserName=name)['PolicyNames']}")
            keys = [
                k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            ]
            print(f"  keys:     {keys}")
            assert keys == [lease.data["access_key"]], "the key in AWS is not the lease's"

            for role in ("ec2-read-only", "iam-ec2"):
                say(f"dynsecrets read aws-us-west-2/creds/{role}")
                other = engine.read(f"aws-us-west-2/creds/{role}")
                print(format_table(lease_rows(other, mask=True)))

            say(f"dynsecrets lease revoke {lease.lease_id}")
            engine.revoke(lease.lease_id)
            print("All revocation operations queued successfully!")
            left = [u["UserName"] for u in iam.list_users()["Users"]]
            assert name not in left, f"{name} is still in AWS"
            print(f"IAM user {name} is gone from AWS.")

            say("dynsecrets lease revoke -prefix aws-us-west-2/creds")
            summary = engine.revoke_prefix("aws-us-west-2/creds")
            print(f"Revoked {summary.revoked} lease(s).")
            left = [u["UserName"] for u in iam.list_users()["Users"]]
            assert left == [], f"users left behind: {left}"
            assert engine.leases() == [], "leases left in the store"
            print("No IAM user made by dynsecrets is left, and no lease is in the store.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
