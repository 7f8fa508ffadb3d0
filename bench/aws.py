"""Workloads 1 and 3: dynsecrets against raw boto3 on the same moto server."""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from dynsecrets import Engine
from dynsecrets.providers.aws.clients import Clients
from dynsecrets.testing.aws import AWSFaults, MotoServer

from ._null import KEY
from ._overhead import interleaved

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
}
#: The fewest AWS calls each role shape needs: (issue, revoke).
MINIMUM = {"inline policy": (3, 3), "2 policy ARNs": (4, 4), "2 groups": (4, 4)}


def _mount(moto: MotoServer) -> tuple[Engine, Any]:
    path = tempfile.mkdtemp(prefix="dynsecrets-bench-")
    engine = Engine.open(f"sqlite:///{path}/bench.db", key=KEY)
    mount = engine.enable("aws", "aws")
    mount.configure(**moto.config())
    return engine, mount


def _raw_cycle(iam: Any, i: int) -> None:
    """What dynsecrets does for an inline-policy iam_user lease, as raw boto3 calls."""
    name = f"raw-{i}-{time.monotonic_ns()}"
    # The tags dynsecrets puts on its users (iam_user.tags_for), values of the same size.
    tags = [
        {"Key": "dynsecrets", "Value": "true"},
        {"Key": "dynsecrets:mount", "Value": "aws"},
        {"Key": "dynsecrets:role", "Value": "ec2"},
        {"Key": "dynsecrets:lease-id", "Value": f"aws/creds/ec2/{name[-24:]:0>24}"},
        {"Key": "dynsecrets:store-id", "Value": f"{i:0>32}"},
    ]
    iam.create_user(UserName=name, Path="/", Tags=tags)
    iam.put_user_policy(
        UserName=name, PolicyName="ec2", PolicyDocument=json.dumps(POLICY, separators=(",", ":"))
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    iam.delete_access_key(UserName=name, AccessKeyId=key)
    iam.delete_user_policy(UserName=name, PolicyName="ec2")
    iam.delete_user(UserName=name)


def issuance_overhead(moto: MotoServer, *, cycles: int, repeats: int) -> dict[str, Any]:
    engine, mount = _mount(moto)
    mount.write_role("ec2", credential_type="iam_user", policy_document=POLICY)
    # The baseline uses a client built exactly as dynsecrets builds its own.
    iam = Clients().get("iam", dict(moto.config()) | {"max_retries": -1})
    result = interleaved(
        lambda i: _raw_cycle(iam, i),
        lambda: engine.revoke(mount.issue("ec2").lease_id),
        cycles=cycles,
        repeats=repeats,
    )
    engine.close()
    return result


def call_counts(moto: MotoServer) -> dict[str, dict[str, int]]:
    engine, mount = _mount(moto)
    iam = moto.client("iam")
    for g in ("bench-g1", "bench-g2"):
        iam.create_group(GroupName=g)
    arns = [
        iam.create_policy(PolicyName=f"bench-p{i}", PolicyDocument=json.dumps(POLICY))["Policy"][
            "Arn"
        ]
        for i in (1, 2)
    ]
    shapes = {
        "inline policy": {"policy_document": POLICY},
        "2 policy ARNs": {"policy_arns": arns},
        "2 groups": {"iam_groups": ["bench-g1", "bench-g2"]},
    }
    faults = AWSFaults()
    mount.provider.clients.instrument(faults.attach)
    out = {}
    for shape, fields in shapes.items():
        role = shape.replace(" ", "-")
        mount.write_role(role, credential_type="iam_user", **fields)
        faults.calls.clear()
        lease = mount.issue(role)
        issue_calls = len(faults.calls)
        faults.calls.clear()
        engine.revoke(lease.lease_id)
        out[shape] = {
            "issue": issue_calls,
            "revoke": len(faults.calls),
            "min_issue": MINIMUM[shape][0],
            "min_revoke": MINIMUM[shape][1],
        }
    engine.close()
    return out


def bulk_revocation(moto: MotoServer, *, n: int) -> dict[str, Any]:
    engine, mount = _mount(moto)
    mount.write_role("ec2", credential_type="iam_user", policy_document=POLICY)
    times = {}
    for concurrency in (1, 4):
        for _ in range(n):
            mount.issue("ec2")
        t = time.perf_counter()
        summary = engine.revoke_prefix("aws/", concurrency=concurrency)
        times[concurrency] = time.perf_counter() - t
        assert summary.revoked == n and not summary.failed, summary
    engine.close()
    return {
        "n": n,
        "serial_per_s": n / times[1],
        "bounded_per_s": n / times[4],
        "speedup": times[1] / times[4],
    }


def run(*, quick: bool, repeats: int) -> dict[str, Any]:
    with MotoServer(process=True) as moto:
        return {
            "overhead": issuance_overhead(moto, cycles=20 if quick else 200, repeats=repeats),
            "calls": call_counts(moto),
            "bulk": bulk_revocation(moto, n=50 if quick else 1000),
        }
