"""AliCloud: dynsecrets against the same V2.0 SDK calls made directly, on the same
TLS fake of RAM and STS (signatures verified), and the calls each lease costs."""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

from dynsecrets import Engine, ProviderRegistry
from dynsecrets.providers.alicloud import AliCloudProvider, ram_user
from dynsecrets.providers.alicloud.api import CONNECT_TIMEOUT, READ_TIMEOUT
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


def _raw_cycle(ram: Any, m: Any, i: int) -> None:
    """What dynsecrets does for an inline-policy lease, as a user of the SDK writes it:
    its request models ``m`` and client methods, nothing of dynsecrets in between."""
    user = f"raw-{i}-{time.monotonic_ns()}"
    policy = f"{user}-p0"
    # The same texts dynsecrets sends (ram_user.display_name, comments; the policy's
    # description names the lease and store), with a lease id and store id of their size.
    lease_id = f"ali/creds/oss/{user[-24:]:0>24}"
    store_id = f"{i:0>32}"
    ram.create_user(
        m.CreateUserRequest(
            user_name=user,
            display_name=ram_user.display_name("ali", lease_id),
            comments=ram_user.comments(store_id, "ali"),
        )
    )
    ram.create_policy(
        m.CreatePolicyRequest(
            policy_name=policy,
            policy_document=json.dumps(POLICY),
            description=f"{ram_user.MARK} lease={lease_id} store={store_id}",
        )
    )
    ram.attach_policy_to_user(
        m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user)
    )
    key = ram.create_access_key(m.CreateAccessKeyRequest(user_name=user))
    key_id = key.body.access_key.access_key_id
    ram.delete_access_key(m.DeleteAccessKeyRequest(user_name=user, user_access_key_id=key_id))
    ram.detach_policy_from_user(
        m.DetachPolicyFromUserRequest(policy_type="Custom", policy_name=policy, user_name=user)
    )
    ram.delete_policy(m.DeletePolicyRequest(policy_name=policy))
    ram.delete_user(m.DeleteUserRequest(user_name=user))


def sdk_client(config: dict[str, Any]) -> Any:
    """A RAM client of the V2.0 SDK for ``config`` (a mount's), as its users make one."""
    from alibabacloud_ram20150501.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    return Client(
        Config(
            access_key_id=config["access_key"],
            access_key_secret=config["secret_key"],
            endpoint=config["ram_endpoint"],
            protocol="https",
            region_id=config.get("region") or "cn-hangzhou",
            ca=config["ca_bundle"],
            connect_timeout=int(CONNECT_TIMEOUT * 1000),
            read_timeout=int(READ_TIMEOUT * 1000),
        )
    )


def overhead(ali: FakeAliCloud, *, cycles: int, repeats: int) -> dict[str, Any]:
    engine, mount = _mount(ali)
    mount.write_role("oss", inline_policies=POLICY)
    # The baseline is the SDK's client, as its users make it (same endpoint, CA bundle
    # and timeouts), called with its typed methods: the calls dynsecrets makes, made
    # directly. It used to be a client from dynsecrets' own ``Clients``, and before
    # that dynsecrets' own ``Api.call``, which put dynsecrets' per-call work into the
    # baseline too. Interleaving is not what costs dynsecrets: timed after itself or
    # after the baseline (3,000 random pairs, process CPU time), each path differed
    # by under 2 %, alike for both; a block-by-block run (1.05x once) only follows
    # the machine's load, which drifts between blocks (0.6x-2.9x seen).
    from alibabacloud_ram20150501 import models

    ram = sdk_client(ali.config())
    result = interleaved(
        lambda i: _raw_cycle(ram, models, i),
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
