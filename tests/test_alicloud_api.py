"""The AliCloud per-call path: SDK errors that are not Alibaba's answers, and the
random part of the names made before each issue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynsecrets.providers.alicloud import names

from ._alicloud import OSS_POLICY, pythonpath

_NO_CREDENTIALS = """
import json, time
from dynsecrets import Engine, ProviderRegistry
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.alicloud import AliCloudProvider
from dynsecrets.testing.alicloud import FakeAliCloud

registry = ProviderRegistry()
registry.register(AliCloudProvider)
with FakeAliCloud() as ali, Engine.open("memory://", registry=registry) as engine:
    config = ali.config()
    del config["access_key"], config["secret_key"]  # the SDK's default chain
    mount = engine.enable("ali", "alicloud")
    mount.configure(**config)
    mount.write_role("r", inline_policies=json.loads(POLICY))
    try:
        mount.issue("r")
    except PermanentProviderError as exc:
        print(json.dumps({"code": exc.code, "users": ali.managed_users(),
                          "leases": len(engine.leases()), "calls": ali.faults.calls}))
"""


def test_no_credentials_anywhere_fails_at_once(tmp_path: Path) -> None:
    # The SDK wraps CredentialException in an UnretryableException with no code,
    # which read as a transport failure: retried until the deadline (about 90 s with
    # the rollback), then a TransientProviderError. A process whose environment,
    # profile files and ECS metadata hold no credentials: one permanent error.
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    env |= {
        "HOME": str(home),
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "PYTHONPATH": pythonpath(tmp_path),
    }
    code = f"POLICY = {json.dumps(json.dumps(OSS_POLICY))}\n{_NO_CREDENTIALS}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result == {"code": "NoCredentials", "users": [], "leases": 0, "calls": []}


def test_random_part_uses_only_unbiased_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # 252 = 7 * 36: bytes 252-255 would favour the first four characters, so they
    # are dropped, and more bytes are drawn when too few are left.
    draws = iter([bytes([252, 253, 254, 255, 0, 36, 37, 251] * 2), bytes(range(16))])
    monkeypatch.setattr(names.os, "urandom", lambda n: next(draws))
    assert names._random() == "aab9aab9" + "abcd"


def test_random_part_alphabet_and_length() -> None:
    seen = "".join(names._random() for _ in range(2000))
    assert len(seen) == 2000 * names.RANDOM_LEN
    assert set(seen) == set(names._ALPHABET)
