"""The README's IAM policy for the root credential covers every call the AWS
provider makes: every IAM/STS operation named in its source, and every call a
full workflow makes against moto."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3

from dynsecrets import Mount
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, READ_ONLY

ROOT = Path(__file__).resolve().parent.parent


def _policy_actions() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("#### IAM permissions the root credential needs", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert block, "the README's IAM policy block is missing"
    doc = json.loads(block.group(1))
    return {a for st in doc["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}


def _operations(service: str) -> set[str]:
    client = boto3.client(service, region_name="us-east-1")
    return set(client.meta.service_model.operation_names)


def test_every_operation_in_the_source_is_allowed() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "dynsecrets/providers/aws").glob("*.py"))
    named = set(re.findall(r'"([A-Z][A-Za-z]+)"', source))
    used = {f"iam:{op}" for op in named & _operations("iam")}
    used |= {f"sts:{op}" for op in named & _operations("sts")}
    assert len(used) >= 30, used  # the scan found the provider's calls
    missing = used - _policy_actions()
    assert not missing, f"add to the README policy: {sorted(missing)}"


def test_a_full_workflow_calls_only_allowed_operations(
    aws_mount: Mount, aws_faults: AWSFaults, iam: Any, moto_server: MotoServer
) -> None:
    role = iam.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=json.dumps(EC2_POLICY),
    )["Role"]["Arn"]
    iam.create_group(GroupName="devs")
    m = aws_mount
    m.write_role(
        "u",
        credential_type="iam_user",
        policy_document=EC2_POLICY,
        policy_arns=[READ_ONLY],
        iam_groups=["devs"],
    )
    m.write_role("a", credential_type="assumed_role", role_arns=[role])
    m.write_role("f", credential_type="federation_token", policy_arns=[READ_ONLY])
    m.write_role("s", credential_type="session_token")
    for name in ("u", "a", "f", "s"):
        lease = m.issue(name)
        m.engine.revoke(lease.lease_id)
    m.tidy()
    allowed = _policy_actions()
    called = {f"{'sts' if op in _operations('sts') else 'iam'}:{op}" for op in aws_faults.calls}
    assert {"iam:CreateUser", "iam:CreateAccessKey", "sts:AssumeRole"} <= called
    assert not called - allowed, f"add to the README policy: {sorted(called - allowed)}"
