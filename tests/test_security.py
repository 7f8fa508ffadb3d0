"""Issue 6: root secrets encrypted at rest, an audit log that misses nothing, and no
secret in any log, repr, error, CLI output or store byte."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, RetryPolicy
from dynsecrets.crypto import DecryptionError, StaticKey
from dynsecrets.errors import DynSecretsError, ValidationError
from dynsecrets.store.sqlite import InsecureStoreWarning
from dynsecrets.testing import FakeCloud, fake_engine
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, iam_users

ROOT_SECRET = "root-secret-Zq8vW2xY7uT5sR3pN1mK"
KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


def _raw(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


# -- root secrets at rest -------------------------------------------------------------------
def test_root_config_is_encrypted_at_rest(tmp_path: Path, moto_server: MotoServer) -> None:
    db = tmp_path / "s.db"
    with Engine.open(f"sqlite:///{db}", key=KEY) as engine:
        m = engine.enable("aws", "aws")
        m.configure(**{**moto_server.config(), "secret_key": ROOT_SECRET})
        assert m.read_config()["access_key"] == moto_server.config()["access_key"]
    raw = _raw(db)
    assert ROOT_SECRET.encode() not in raw and b"moto-testing" not in raw
    assert moto_server.config()["iam_endpoint"].encode() not in raw  # the whole config is sealed
    with Engine.open(f"sqlite:///{db}", key=KEY) as engine:
        assert engine.mount("aws").read_config()["region"] == "us-east-1"


def test_generated_key_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DYNSECRETS_KEY", raising=False)
    db = tmp_path / "s.db"
    with (
        caplog.at_level(logging.WARNING, "dynsecrets"),
        fake_engine(url=f"sqlite:///{db}") as engine,
    ):
        m = engine.enable("f", "fake")
        m.configure(api_key=m.provider.cloud.root_key)  # type: ignore[attr-defined]
        m.configure(account="again")
    key_file = tmp_path / "s.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert [r.message for r in caplog.records].count(
        next(r.message for r in caplog.records if "generated" in r.message)
    ) == 1
    with fake_engine(url=f"sqlite:///{db}") as engine:  # the same key file is found again
        assert engine.mount("f").read_config()["account"] == "again"


def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with fake_engine(url=url, key=KEY) as engine:
        engine.enable("f", "fake").configure(account="a")
    other = base64.urlsafe_b64encode(b"x" * 32).decode()
    with (
        fake_engine(url=url, key=other) as engine,
        pytest.raises(DecryptionError, match="encrypted with another key"),
    ):
        engine.mount("f").read_config()
    with (
        fake_engine(url=url, key="a passphrase that is long enough") as engine,
        pytest.raises(DecryptionError),
    ):
        engine.mount("f").read_config()


def test_env_key_passphrase_and_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("DYNSECRETS_KEY", "correct horse battery staple 42")
    with fake_engine(url=url) as engine:
        engine.enable("f", "fake").configure(account="a")
    assert not (tmp_path / "s.db.key").exists()
    monkeypatch.delenv("DYNSECRETS_KEY")
    with fake_engine(url=url, key_provider=StaticKey("correct horse battery staple 42")) as engine:
        assert engine.mount("f").read_config()["account"] == "a"
    with pytest.raises(ValidationError, match="at least 16"):
        StaticKey("short")
    assert "correct" not in repr(StaticKey("correct horse battery staple 42"))


def test_sealed_config_is_bound_to_its_mount(tmp_path: Path) -> None:
    with fake_engine(url=f"sqlite:///{tmp_path / 's.db'}", key=KEY) as engine:
        engine.enable("a", "fake").configure(account="a")
        engine.enable("b", "fake")
        blob = engine.store.get_mount("a").config  # type: ignore[union-attr]
        engine.store.update_mount("b", config=blob)
        with pytest.raises(DecryptionError):
            engine.mount("b").read_config()


def test_readable_store_warns(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    fake_engine(url=f"sqlite:///{db}", key=KEY).close()
    db.chmod(0o644)
    with pytest.warns(InsecureStoreWarning, match="chmod 600"):
        fake_engine(url=f"sqlite:///{db}", key=KEY).close()
    db.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fake_engine(url=f"sqlite:///{db}", key=KEY).close()


# -- audit ------------------------------------------------------------------------------------
def test_audit_log_misses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    clock = ManualClock()
    cloud = FakeCloud(clock=clock)
    with fake_engine(clock=clock, cloud=cloud, audit=log, actor="svc-deploy", key=KEY) as engine:
        m = engine.enable("f", "fake", default_ttl="1h")
        m.configure(api_key=cloud.root_key)
        m.write_role("app", policies=["p"])
        with engine.acting_as("alice"):
            lease = m.issue("app")
        engine.renew(lease.lease_id)
        engine.revoke(lease.lease_id)
        m.issue("app", ttl="1m")
        clock.advance(61)
        assert engine.expire_due() == 1
        cloud.fail("create_key")
        with pytest.raises(DynSecretsError):
            m.issue("app")
        m.rotate_root()
        engine.tune("f", default_ttl="2h")
        m.delete_role("app")
        engine.disable("f")
        secret = lease.data["secret_key"]
        hashed = engine.audit_hash(secret)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    records = [json.loads(line) for line in log.read_text().splitlines()]
    ops = [r["operation"] for r in records]
    assert ops == [
        "mount.enable",
        "config.write",
        "role.write",
        "lease.issue",
        "lease.renew",
        "lease.revoke",
        "lease.issue",
        "lease.expire",
        "lease.failure",
        "lease.rollback",
        "config.rotate_root",
        "mount.tune",
        "role.delete",
        "mount.disable",
    ], ops
    issue = records[3]
    assert (
        issue["actor"] == "alice"
        and issue["lease_id"] == lease.lease_id
        and issue["path"] == "f/creds/app"
    )
    assert (
        issue["data"]["secret_key"] == hashed
        and issue["data"]["access_key"] == lease.data["access_key"]
    )
    assert issue["plan"]["user"] == lease.data["user"]  # maps the cloud identity back to who asked
    assert all(r["actor"] == "svc-deploy" for r in records if r is not issue)
    assert records[7]["lease_id"] and "time" in records[7]
    assert "AccessDenied" in records[8]["error"]
    text = log.read_text()
    assert secret not in text and cloud.root_key not in text
    assert records[1]["fields"]["api_key"].startswith("hmac-sha256:")


def test_audit_to_a_callable() -> None:
    seen: list[dict[str, Any]] = []
    with fake_engine(audit=seen.append) as engine:
        engine.enable("f", "fake")
    assert seen[0]["operation"] == "mount.enable"
    with fake_engine() as engine, pytest.raises(ValidationError, match="no audit log"):
        engine.audit_hash("x")


# -- no secret anywhere -------------------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.text.append(self.format(record))


def test_no_secret_in_logs_reprs_errors_or_store(
    tmp_path: Path, moto_server: MotoServer, iam: Any
) -> None:
    """A full workflow against moto with DEBUG logging everywhere (botocore included),
    failures injected, then every captured byte is searched for every secret."""
    # The operator's set-up, with their own client, before capture starts.
    iam.create_user(UserName="dynsecrets-root")
    root_key = iam.create_access_key(UserName="dynsecrets-root")["AccessKey"]
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    shown: list[str] = []
    secrets: set[str] = {ROOT_SECRET, root_key["SecretAccessKey"]}
    db, audit = tmp_path / "s.db", tmp_path / "audit.jsonl"
    try:
        # moto lacks ListServiceSpecificCredentials (HTTP 500): keep its retries short.
        with Engine.open(
            f"sqlite:///{db}", key=KEY, audit=audit, retry=RetryPolicy(budget=1)
        ) as engine:
            m = engine.enable("aws", "aws")
            with pytest.raises(ValidationError) as bad:
                m.configure(
                    **{**moto_server.config(), "access_key": "AKIA X", "secret_key": ROOT_SECRET}
                )
            shown.append(str(bad.value))
            m.configure(
                **{
                    **moto_server.config(),
                    "access_key": root_key["AccessKeyId"],
                    "secret_key": root_key["SecretAccessKey"],
                }
            )
            faults = AWSFaults()
            m.provider.clients.instrument(faults.attach)  # type: ignore[attr-defined]
            m.write_role("ec2", credential_type="iam_user", policy_document=EC2_POLICY)
            leases = [m.issue("ec2") for _ in range(2)]
            for lease in leases:
                secrets.add(lease.data["secret_key"])
                shown += [
                    repr(lease),
                    str(lease),
                    repr(lease.data),
                    repr(lease.env),
                    str(engine.lookup(lease.lease_id)),
                ]
            shown.append(repr(engine.renew(leases[0].lease_id, increment="1h")))
            faults.error("DeleteUser", "AccessDenied", status=403, times=3)
            with pytest.raises(DynSecretsError) as failed:
                engine.revoke(leases[0].lease_id)
            shown += [str(failed.value), repr(failed.value)]
            faults.error("CreateAccessKey", "AccessDenied", status=403)
            with pytest.raises(DynSecretsError) as failed:
                m.issue("ec2")
            shown += [str(failed.value), repr(failed.value)]
            shown.append(repr(m.rotate_root()))
            new_root = m.provider.clients  # type: ignore[attr-defined]
            config = engine.mount("aws").root_config()
            secrets.add(config["secret_key"])
            shown += [repr(engine), repr(m), repr(new_root), repr(engine.store.get_mount("aws"))]
            engine.revoke_prefix("aws/")
        env = {**os.environ, "DYNSECRETS_STORE": f"sqlite:///{db}", "DYNSECRETS_KEY": KEY}
        for args in (
            ["read", "aws/config/root"],
            ["read", "aws/roles/ec2"],
            ["lease", "list"],
            ["write", "aws/config/root", "access_key=AKIA X", f"secret_key={ROOT_SECRET}"],
            ["--debug", "rotate-root", "aws"],
        ):
            proc = subprocess.run(
                [sys.executable, "-m", "dynsecrets", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            shown += [proc.stdout, proc.stderr]
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
    assert any("Response body" in t for t in capture.text), "botocore debug logs were not captured"
    everything = "\n".join(capture.text + shown) + audit.read_text()
    raw = _raw(db)
    for secret in secrets:
        at = everything.find(secret)
        assert at < 0, f"a secret leaked: ...{everything[max(0, at - 300) : at][-300:]!r}"
        assert secret.encode() not in raw
    assert iam_users(iam) == ["dynsecrets-root"]


HOSTILE = [
    "../../etc/passwd",
    "a'; DROP TABLE leases; --",
    "ctrl\x07\x1b[31m",
    "x" * 10_000,
    "ünïcödé",
    "a b",
    "$(reboot)",
    "%s%n",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_through_the_api(name: str, tmp_path: Path) -> None:
    cloud = FakeCloud()
    with fake_engine(url=f"sqlite:///{tmp_path / 's.db'}", cloud=cloud, key=KEY) as engine:
        with pytest.raises(ValidationError):
            engine.enable(name, "fake")
        m = engine.enable("ok", "fake")
        with pytest.raises(ValidationError):
            m.write_role(name, policies=["p"])
        with pytest.raises(ValidationError):
            m.write_role("r", policies=[name])
        with pytest.raises(DynSecretsError):
            engine.read(f"ok/creds/{name}")
        with pytest.raises(ValidationError):
            engine.enable("ok2", "fake", description=name * 2000)
        if not name.isprintable():
            with pytest.raises(ValidationError, match="control characters"):
                engine.enable("ok3", "fake", description=name[:100])
        assert [x.path for x in engine.mounts()] == ["ok"] and m.roles() == []
        assert cloud.users == {} and engine.leases() == []


@pytest.mark.parametrize("name", HOSTILE[:4])
def test_hostile_names_through_the_cli(name: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DYNSECRETS_STORE": f"sqlite:///{tmp_path / 's.db'}",
        "DYNSECRETS_KEY": KEY,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dynsecrets", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    proc = run("secrets", "enable", f"-path={name}", "fake")
    assert (
        proc.returncode == 2
        and proc.stderr.startswith("Error: path:")
        and proc.stderr.count("\n") == 1
    )
    assert "Traceback" not in proc.stderr
    assert run("secrets", "enable", "-path=ok", "fake").returncode == 0
    proc = run("write", f"ok/roles/{name}", "policies=p")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run("write", "ok/roles/r", f"policies={name}")
    assert proc.returncode == 2
    assert run("list", "ok/roles").stdout == "Keys\n----\n"
