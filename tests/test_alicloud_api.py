"""The AliCloud per-call path: each call sends what the SDK's typed methods send, Alibaba's refusals and SDK errors become typed errors, and the random part of
the names made before each issue."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from dynsecrets.clock import ManualClock
from dynsecrets.errors import PermanentProviderError, TransientProviderError
from dynsecrets.providers.alicloud import api, names
from dynsecrets.retry import RetryPolicy
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ali, pythonpath  # noqa: F401

#: Every action the provider calls, with parameters of each kind it sends (text,
#: numbers, JSON), and None for the actions that take none.
_CALLS: dict[str, dict[str, Any] | None] = {
    "CreateUser": {"UserName": "u", "DisplayName": "creds@r@x", "Comments": "dynsecrets a=b"},
    "GetUser": {"UserName": "u"},
    "DeleteUser": {"UserName": "u"},
    "ListUsers": {"MaxItems": 1000, "Marker": "m"},
    "CreatePolicy": {"PolicyName": "p", "PolicyDocument": '{"Version":"1"}', "Description": "d"},
    "GetPolicy": {"PolicyType": "Custom", "PolicyName": "p"},
    "DeletePolicy": {"PolicyName": "p"},
    "AttachPolicyToUser": {"PolicyType": "System", "PolicyName": "p", "UserName": "u"},
    "DetachPolicyFromUser": {"PolicyType": "Custom", "PolicyName": "p", "UserName": "u"},
    "ListPoliciesForUser": {"UserName": "u"},
    "ListPoliciesForGroup": {"GroupName": "g"},
    "ListGroupsForUser": {"UserName": "u"},
    "RemoveUserFromGroup": {"UserName": "u", "GroupName": "g"},
    "DeleteLoginProfile": {"UserName": "u"},
    "UnbindMFADevice": {"UserName": "u"},
    "CreateAccessKey": {"UserName": "u"},
    "DeleteAccessKey": {"UserName": "u", "UserAccessKeyId": "LTAI1"},
    "ListAccessKeys": {"UserName": "u"},
    "AssumeRole": {"RoleArn": "acs:ram::1:role/r", "RoleSessionName": "s", "DurationSeconds": 900},
    "GetCallerIdentity": None,
}
_CONFIG = {"access_key": "AK", "secret_key": "SK", "ram_endpoint": "127.0.0.1:9"}

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


#: What differs between any two requests (time, nonce, signature) or names the client.
_VOLATILE = {"x-acs-date", "x-acs-signature-nonce", "authorization", "user-agent"}


def _signed(request: tuple[Any, ...]) -> tuple[Any, ...]:
    """A request the fake served, as what the signature covers, without what differs
    between any two requests: method, path, query, the signed headers, body."""
    method, path, query, headers, body = request
    names = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    signed = {h: headers[h] for h in names if h not in _VOLATILE}
    return method, path, sorted(parse_qsl(query, keep_blank_values=True)), signed, body


@pytest.mark.parametrize("action", sorted(_CALLS))
def test_each_call_sends_what_the_sdks_typed_method_sends(action: str, ali: FakeAliCloud) -> None:
    # The provider signs with the SDK's signer and sends with urllib3, not through the
    # SDK's client: on the wire, each action must be what the typed method sends.
    from alibabacloud_ram20150501 import models as ram_models
    from alibabacloud_ram20150501.client import Client as RamClient
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient
    from alibabacloud_tea_openapi.utils_models import Config

    params = _CALLS[action]
    sts = action in ("AssumeRole", "GetCallerIdentity")
    client = (StsClient if sts else RamClient)(
        Config(
            access_key_id=ali.root_key.key_id,
            access_key_secret=ali.root_key.secret,
            endpoint=ali.endpoint,
            protocol="https",
            ca=ali.ca_bundle,
        )
    )
    typed = getattr(client, api._snake(action))
    with contextlib.suppress(Exception):  # a refusal is fine: the request was served
        if params is None:
            typed()
        else:
            request = getattr(sts_models if sts else ram_models, f"{action}Request")()
            request.from_map(params)
            # As the SDK's users write it (keyword arguments): from_map also sets an
            # empty Tag list, which CreatePolicy would send as Tag=[].
            for name, value in list(vars(request).items()):
                if value == []:
                    setattr(request, name, None)
            typed(request)
    theirs = ali.last_request
    with contextlib.suppress(PermanentProviderError):
        api.Api(api.Clients(), RetryPolicy(clock=ManualClock(0.0)), ali.config()).attempt(
            action, params
        )
    ours = ali.last_request
    assert theirs is not None and ours is not None and ours is not theirs
    assert _signed(ours) == _signed(theirs)
    if params is not None:
        assert dict(parse_qsl(ours[2])) == {k: str(v) for k, v in params.items()}


def test_an_action_the_sdk_lacks_is_refused() -> None:
    with pytest.raises(AttributeError, match="NoSuchAction"):
        api.Api(api.Clients(), RetryPolicy(), _CONFIG).attempt("NoSuchAction", {})


def test_refusals_on_the_generic_call_keep_their_typed_errors(ali: FakeAliCloud) -> None:
    retry = RetryPolicy(clock=ManualClock(0.0))
    wrong = api.Api(api.Clients(), retry, {**ali.config(), "secret_key": "not-the-secret"})
    with pytest.raises(PermanentProviderError) as refused:
        wrong.attempt("GetCallerIdentity")
    assert refused.value.code == "SignatureDoesNotMatch"
    assert refused.value.operation == "GetCallerIdentity"

    ours = api.Api(api.Clients(), retry, ali.config())
    with pytest.raises(PermanentProviderError) as missing:
        ours.attempt("GetUser", {"UserName": "nobody"})
    assert missing.value.code == "EntityNotExist.User"

    ali.faults.error("CreateUser", "Throttling.User")
    with pytest.raises(TransientProviderError) as throttled:
        ours.attempt("CreateUser", {"UserName": "u1"})
    assert throttled.value.code == "Throttling.User"
    ali.faults.error("CreateUser", "ServiceUnavailable", status=503)
    # Retried within the budget (on the manual clock: no wall time), then answered.
    created = ours.call("CreateUser", {"UserName": "u1", "DisplayName": "d"})
    assert created["User"]["UserName"] == "u1" and created["User"]["DisplayName"] == "d"
    assert ali.faults.calls[-2:] == ["CreateUser", "CreateUser"]
