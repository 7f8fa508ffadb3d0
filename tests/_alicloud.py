"""Fixtures and helpers for the AliCloud tests: a FakeAliCloud per test (TLS, real
signature checks), an engine whose registry has the ``alicloud`` provider, and the
``alicloud`` entry point for subprocesses when the installed dynsecrets predates it."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount, ProviderRegistry
from dynsecrets.providers.alicloud import AliCloudProvider
from dynsecrets.testing.alicloud import FakeAliCloud

ROOT = Path(__file__).resolve().parent.parent
OSS_POLICY = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:*"]}],
}
ECS_POLICY = {
    "Version": "1",
    "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}],
}


def registry() -> ProviderRegistry:
    reg = ProviderRegistry()
    reg.register(AliCloudProvider)
    return reg


def entry_point_path(tmp: Path) -> str | None:
    """A directory holding a dist-info with the ``alicloud`` entry point, for
    subprocesses, when the installed dynsecrets metadata lacks it (a worktree run on
    a venv installed from another checkout); None when it is installed already."""
    if metadata.entry_points(group="dynsecrets.providers", name="alicloud"):
        return None
    info = tmp / "dynsecrets_alicloud_ep-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dynsecrets-alicloud-ep\nVersion: 0\n"
    )
    (info / "entry_points.txt").write_text(
        "[dynsecrets.providers]\nalicloud = dynsecrets.providers.alicloud:AliCloudProvider\n"
    )
    return str(tmp)


def pythonpath(tmp: Path) -> str:
    extra = entry_point_path(tmp)
    return ":".join(p for p in (str(ROOT), extra) if p)


@pytest.fixture
def ali() -> Iterator[FakeAliCloud]:
    with FakeAliCloud() as fake:
        yield fake


@pytest.fixture
def ali_clock() -> ManualClock:
    # Real time at the start (STS expiries and the fake's signature dates are real).
    return ManualClock(time.time())


@pytest.fixture
def ali_engine(ali_clock: ManualClock) -> Iterator[Engine]:
    with Engine.open("memory://", clock=ali_clock, registry=registry()) as engine:
        yield engine


@pytest.fixture
def ali_mount(ali_engine: Engine, ali: FakeAliCloud) -> Mount:
    mount = ali_engine.enable("ali", "alicloud")
    mount.configure(**ali.config())
    return mount


@pytest.fixture
def role_arn(ali: FakeAliCloud) -> str:
    return ali.account.add_role("ops", max_session=7200)


def users(ali: FakeAliCloud) -> list[str]:
    return ali.managed_users()


def nothing_left(ali: FakeAliCloud) -> bool:
    """No user but root, no Custom policy, no key but root's."""
    acct = ali.account
    with acct.lock:
        return (
            not ali.managed_users()
            and not acct.policies
            and list(acct.keys) == acct.users["dynsecrets-root"].keys
        )


def dump(value: Any) -> str:
    return json.dumps(value)


def run_env(tmp: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": pythonpath(tmp)}


PY = sys.executable


def sdk_call(
    ali: FakeAliCloud,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    security_token: str | None = None,
) -> dict[str, Any]:
    """One call through a client of the real V2.0 SDK made here, not the provider's
    (the root key unless another is given): how a test checks the state of RAM or
    that a key works."""
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_ram20150501.client import Client as RamClient
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi.utils_models import Config

    sts = action in ("GetCallerIdentity", "AssumeRole")
    config = Config(
        access_key_id=access_key or ali.root_key.key_id,
        access_key_secret=secret_key or ali.root_key.secret,
        security_token=security_token,
        endpoint=ali.endpoint,
        protocol="https",
        region_id="cn-hangzhou",
        ca=ali.ca_bundle,
    )
    client = (StsClient if sts else RamClient)(config)
    snake = "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")
    if params is None:
        response = getattr(client, snake)()
    else:
        models = sts_models if sts else ram_models
        response = getattr(client, snake)(getattr(models, f"{action}Request")(**params))
    return dict(response.body.to_map())


def rotate_forever(url: str) -> None:
    """Rotate the static role ``ali/app`` in a loop until killed: the victim of the
    AliCloud SIGKILL rotation test (the fake in the parent counts its calls)."""
    from dynsecrets.errors import ProviderError

    engine = Engine.open(url, recover=False, registry=registry())
    mount = engine.mount("ali")
    print("ready", flush=True)
    while True:
        try:
            mount.static.rotate("app")
        except ProviderError as exc:  # reported, and the next rotation tries again
            print("failed", exc, flush=True)
