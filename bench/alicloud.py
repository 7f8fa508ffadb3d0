"""AliCloud: dynsecrets against the same V2.0 SDK calls made directly, on the same
TLS fake of RAM and STS (signatures verified), and the calls each lease costs."""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from dynsecrets import Engine, ProviderRegistry
from dynsecrets.providers.alicloud import AliCloudProvider
from dynsecrets.providers.alicloud.api import Api, Clients
from dynsecrets.retry import RetryPolicy
from dynsecrets.testing.alicloud import FakeAliCloud

from ._null import KEY
from ._overhead import interleaved

POLICY = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:*", "Resource": "*"}]}
#: The fewest RAM/STS calls each role shape needs: (issue, revoke).
MINIMUM = {"inline policy": (4, 4), "remote policy": (3, 3), "STS role": (1, 0)}


def _mount(ali: FakeAliCloud) -> tuple[Engine, Any]:
    path = tempfile.mkdtemp(prefix="dynsecrets-bench-")
    registry = ProviderRegistry()
    registry.register(AliCloudProvider)
    engine = Engine.open(f"sqlite:///{path}/bench.db", key=KEY, registry=registry)
    mount = engine.enable("ali", "alicloud")
    mount.configure(**ali.config())
    return engine, mount


def _raw_cycle(api: Api, i: int) -> None:
    """What dynsecrets does for an inline-policy lease, as direct SDK calls."""
    user = f"raw-{i}-{time.monotonic_ns()}"
    policy = f"{user}-p0"
    api.call("CreateUser", {"UserName": user, "DisplayName": "x", "Comments": "dynsecrets x"})
    api.call(
        "CreatePolicy",
        {"PolicyName": policy, "PolicyDocument": json.dumps(POLICY), "Description": "x"},
    )
    api.call("AttachPolicyToUser", {"PolicyType": "Custom", "PolicyName": policy, "UserName": user})
    key = api.call("CreateAccessKey", {"UserName": user})["AccessKey"]["AccessKeyId"]
    api.call("DeleteAccessKey", {"UserName": user, "UserAccessKeyId": key})
    api.call(
        "DetachPolicyFromUser", {"PolicyType": "Custom", "PolicyName": policy, "UserName": user}
    )
    api.call("DeletePolicy", {"PolicyName": policy})
    api.call("DeleteUser", {"UserName": user})


def overhead(ali: FakeAliCloud, *, cycles: int, repeats: int) -> dict[str, Any]:
    engine, mount = _mount(ali)
    mount.write_role("oss", inline_policies=POLICY)
    # The baseline uses SDK clients built exactly as dynsecrets builds its own.
    api = Api(Clients(), RetryPolicy(), dict(ali.config()))
    result = interleaved(
        lambda i: _raw_cycle(api, i),
        lambda: engine.revoke(mount.issue("oss").lease_id),
        cycles=cycles,
        repeats=repeats,
    )
    engine.close()
    return result


def call_counts(ali: FakeAliCloud) -> dict[str, dict[str, int]]:
    engine, mount = _mount(ali)
    role_arn = ali.account.add_role("bench", max_session=43200)
    shapes = {
        "inline policy": {"inline_policies": POLICY},
        "remote policy": {"remote_policies": "name:AliyunOSSReadOnlyAccess,type:System"},
        "STS role": {"role_arn": role_arn},
    }
    out = {}
    for shape, fields in shapes.items():
        role = shape.replace(" ", "-")
        mount.write_role(role, **fields)
        ali.faults.clear()
        lease = mount.issue(role)
        issue_calls = len(ali.faults.calls)
        ali.faults.clear()
        engine.revoke(lease.lease_id)
        out[shape] = {
            "issue": issue_calls,
            "revoke": len(ali.faults.calls),
            "min_issue": MINIMUM[shape][0],
            "min_revoke": MINIMUM[shape][1],
        }
    engine.close()
    return out


def run(*, quick: bool, repeats: int) -> dict[str, Any]:
    with FakeAliCloud() as ali:
        return {
            "overhead": overhead(ali, cycles=20 if quick else 200, repeats=repeats),
            "calls": call_counts(ali),
        }
