"""AWS static roles and root rotation through the engine's path API, against moto,
checked with a separate boto3 client: import, the schedule on the injected clock, the
grace period, manual rotation, bad input, verify=true, and a crash after each call of
a rotation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock, Mount
from dynsecrets.errors import MissingPermissions, ValidationError
from dynsecrets.testing.aws import MotoServer
from dynsecrets.testing.aws_policy import PolicyFront

from .test_aws_verify import _policy, allow

M = "aws-us-west-2"


def _keys(iam: Any, user: str = "app") -> list[str]:
    return sorted(
        k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    )


def _works(moto: MotoServer, data: Any, user: str = "app") -> bool:
    """moto answers GetCallerIdentity for a key it does not know as its default user, so
    the ARN tells whether the key is the user's (and moto keeps deleted keys nowhere)."""
    sts = boto3.client(
        "sts",
        endpoint_url=moto.url,
        region_name="us-west-2",
        aws_access_key_id=data["access_key"],
        aws_secret_access_key=data["secret_key"],
    )
    return bool(sts.get_caller_identity()["Arn"].endswith(f":user/{user}"))


@pytest.fixture
def app(iam: Any) -> str:
    iam.create_user(UserName="app")
    return str(iam.create_access_key(UserName="app")["AccessKey"]["AccessKeyId"])


def test_import_schedule_grace_and_delete(
    aws_mount: Mount, iam: Any, app: str, moto_server: MotoServer, aws_clock: ManualClock
) -> None:
    engine = aws_mount.engine
    shown = engine.write(
        f"{M}/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    assert shown["username"] == "app" and shown["rotation_period"] == 3600
    first = engine.read(f"{M}/static-creds/app")
    assert first.data["ttl"] == 3600 and first.data["expiration"]
    assert first.data["secret_key"] not in repr(first)
    assert _works(moto_server, first.data)
    assert _keys(iam) == sorted([app, first.data["access_key"]])  # the user's own key stays

    worker = ExpiryWorker(engine)
    aws_clock.advance(3600)
    worker.run_once()  # at AWS's limit of two: the user's own key is retired first
    aws_clock.advance(600)
    worker.run_once()
    second = engine.read(f"{M}/static-creds/app")
    assert second.data["access_key"] != first.data["access_key"]
    assert _keys(iam) == sorted([first.data["access_key"], second.data["access_key"]])
    assert _works(moto_server, first.data) and _works(moto_server, second.data)  # grace
    aws_clock.advance(600)
    worker.run_once()
    assert _keys(iam) == [second.data["access_key"]]
    assert not _works(moto_server, first.data) and _works(moto_server, second.data)

    engine.delete(f"{M}/static-roles/app")
    assert _keys(iam) == []  # every key dynsecrets made goes with the role
    assert iam.get_user(UserName="app")["User"]["UserName"] == "app"  # the user stays


def test_manual_rotation(aws_mount: Mount, iam: Any, moto_server: MotoServer) -> None:
    iam.create_user(UserName="app")
    engine = aws_mount.engine
    engine.write(f"{M}/static-roles/app", username="app", rotation_period="24h")
    a = engine.read(f"{M}/static-creds/app")
    engine.write(f"{M}/static-roles/app/rotate")
    b = engine.read(f"{M}/static-creds/app")
    assert a.data["access_key"] != b.data["access_key"]
    assert _works(moto_server, a.data) and _works(moto_server, b.data)
    assert _keys(iam) == sorted([a.data["access_key"], b.data["access_key"]])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "nobody", "rotation_period": "1h"}, "username"),
        ({"username": "bad name", "rotation_period": "1h"}, "username"),
        ({"username": "app", "rotation_period": "10s"}, "rotation_period"),
        ({"username": "app", "rotation_period": "1h", "external_id": "abc"}, "external_id"),
    ],
)
def test_bad_input_is_typed_and_creates_nothing(
    aws_mount: Mount, iam: Any, fields: dict[str, Any], field: str
) -> None:
    iam.create_user(UserName="app")
    with pytest.raises(ValidationError) as info:
        aws_mount.engine.write(f"{M}/static-roles/app", **fields)
    assert info.value.field == field
    assert _keys(iam) == [] and aws_mount.static.names() == []


def test_verify_true(aws_mount: Mount, iam: Any, moto_server: MotoServer) -> None:
    """A missing permission refuses the write, names the permission; nothing is
    stored or created."""
    iam.create_user(UserName="app")
    iam.create_user(UserName="root")
    grants = ["iam:ListAccessKeys", "iam:CreateAccessKey", "iam:GetUser"]
    iam.put_user_policy(UserName="root", PolicyName="p", PolicyDocument=_policy(allow(grants)))
    key = iam.create_access_key(UserName="root")["AccessKey"]
    with PolicyFront(moto_server.url) as front:
        config = {
            **front.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
        }
        aws_mount.configure(**config)
        with pytest.raises(MissingPermissions) as caught:
            aws_mount.engine.write(
                f"{M}/static-roles/app", username="app", rotation_period="1h", verify=True
            )
        assert caught.value.permissions == ["iam:DeleteAccessKey"]
        assert _keys(iam) == [] and aws_mount.static.names() == []
        with pytest.raises(MissingPermissions) as caught:
            aws_mount.engine.write(f"{M}/config", **config, verify=True)
        assert "iam:ListUsers" in caught.value.permissions  # tidy's
        grants.append("iam:*")
        iam.put_user_policy(UserName="root", PolicyName="p", PolicyDocument=_policy(allow(grants)))
        aws_mount.engine.write(f"{M}/config", **config, verify=True)
        aws_mount.engine.write(
            f"{M}/static-roles/app", username="app", rotation_period="1h", verify=True
        )
    assert len(_keys(iam)) == 1


def test_root_rotation_on_schedule(
    aws_mount: Mount, iam: Any, moto_server: MotoServer, aws_clock: ManualClock
) -> None:
    iam.create_user(UserName="root")
    key = iam.create_access_key(UserName="root")["AccessKey"]
    aws_mount.configure(
        **{
            **moto_server.config("us-west-2"),
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
            "rotation_period": "24h",
        }
    )
    worker = ExpiryWorker(aws_mount.engine)
    aws_clock.advance(24 * 3600 - 1)
    worker.run_once()
    assert _keys(iam, "root") == [key["AccessKeyId"]]
    aws_clock.advance(1)
    assert worker.run_once() == 1
    [new] = _keys(iam, "root")
    assert new != key["AccessKeyId"] and aws_mount.read_config()["access_key"] == new


@pytest.mark.parametrize(
    "extra", [{}, {"role_arn": "arn:aws:iam::111111111111:role/dynsecrets-root"}]
)
def test_root_rotation_schedule_needs_keys(
    aws_mount: Mount, moto_server: MotoServer, extra: dict[str, Any]
) -> None:
    config = {**moto_server.config("us-west-2"), **extra}
    del config["access_key"], config["secret_key"]
    with pytest.raises(ValidationError):
        aws_mount.configure(**config, rotation_period="24h")


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even rollback."""


@pytest.mark.parametrize("after", [1, 2, 3, 4])
def test_crash_after_each_call_of_a_rotation(
    moto_server: MotoServer, iam: Any, tmp_path: Path, after: int
) -> None:
    """Killed after the n-th AWS call of a scheduled rotation (1 DeleteAccessKey of the
    previous key, 2 ListAccessKeys, 3 CreateAccessKey, 4 GetCallerIdentity with the new
    key); a new engine on the same store serves a working key, knows every key the
    user has but at most one lost one, and the next run leaves none unknown."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # Keys carry moto's (wall clock) CreateDate: start back so that the crash happens
    # near the wall clock, as the engine compares the two to find a lost create.
    clock = ManualClock(time.time() - 7200)
    iam.create_user(UserName="app")
    engine = Engine.open(url, clock=clock)
    mount = engine.enable(M, "aws")
    mount.configure(**moto_server.config("us-west-2"))
    engine.write(
        f"{M}/static-roles/app", username="app", rotation_period="1h", rotation_grace_period="10m"
    )
    clock.advance(3600)
    ExpiryWorker(engine).run_once()  # the first key is now the previous one
    clock.advance(3600)  # its grace is over and the next rotation is due
    seen: list[str] = []

    def tick(model: Any, **_: Any) -> None:
        seen.append(model.name)
        if len(seen) == after:
            raise Crash(model.name)

    mount.provider.clients.instrument(  # type: ignore[attr-defined]
        lambda client: client.meta.events.register("after-call.*.*", tick)
    )
    with pytest.raises(Crash):
        ExpiryWorker(engine).run_once()
    assert len(seen) == after
    engine.core.heartbeat.close()  # the process is gone: its claims stop moving

    clock.advance(engine.claim_ttl + 1)
    with Engine.open(url, clock=clock) as second:
        state = second.read(f"{M}/static-roles/app")
        known = {state["secret_id"], *state["previous_secret_ids"]}
        unknown = set(_keys(iam)) - known
        # A key created before the crash (calls 3 and 4) is the one lost: its secret died
        # with the process; the engine knows a rotation was under way.
        assert len(unknown) == (1 if after >= 3 else 0)
        assert not unknown or state["rotation_failing"]
        assert _works(moto_server, second.read(f"{M}/static-creds/app").data)
        ExpiryWorker(second).run_once()  # finishes what the crash interrupted
        state = second.read(f"{M}/static-roles/app")
        assert set(_keys(iam)) == {state["secret_id"], *state["previous_secret_ids"]}
        assert not state["rotation_failing"]
        assert _works(moto_server, second.read(f"{M}/static-creds/app").data)
    engine.close()


def test_user_in_another_account(aws_mount: Mount, moto_server: MotoServer) -> None:
    cross = "arn:aws:iam::111111111111:role/dynsecrets-cross"
    c = moto_server.client("sts").assume_role(RoleArn=cross, RoleSessionName="test-view")
    creds = c["Credentials"]
    other = boto3.client(
        "iam",
        endpoint_url=moto_server.url,
        region_name="us-west-2",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    other.create_user(UserName="app")
    engine = aws_mount.engine
    engine.write(
        f"{M}/static-roles/app",
        username="app",
        rotation_period="1h",
        assume_role_arn=cross,
        external_id="ext-42",
    )
    first = engine.read(f"{M}/static-creds/app")
    assert _keys(other) == [first.data["access_key"]]
    engine.write(f"{M}/static-roles/app/rotate")
    second = engine.read(f"{M}/static-creds/app")
    assert _keys(other) == sorted([first.data["access_key"], second.data["access_key"]])
    assert engine.read(f"{M}/static-roles/app")["assume_role_arn"] == cross
