"""The seed's AliCloud sequence through the real `dynsecrets` command in subprocesses,
the example script, and the packaging (entry point, extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import OSS_POLICY, ROOT, ali, nothing_left, run_env, users  # noqa: F401
from ._project import entry_points, extra


class CLI:
    def __init__(self, tmp: Path) -> None:
        self.env = {**run_env(tmp), "DYNSECRETS_STORE": f"sqlite:///{tmp / 'store.db'}"}

    def ok(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "dynsecrets", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


def test_seed_sequence(ali: FakeAliCloud, tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps([OSS_POLICY], indent=2))
    assert cli.ok("secrets", "enable", "-path=ali", "alicloud") == (
        "Success! Enabled the alicloud secrets engine at: ali/\n"
    )
    config = [f"{k}={v}" for k, v in ali.config().items()]
    assert cli.ok("write", "ali/config", *config) == "Success! Data written to: ali/config\n"
    assert cli.ok(
        "write",
        "ali/role/policy-based",
        f"inline_policies=@{policy}",
        "remote_policies=name:AliyunOSSReadOnlyAccess,type:System",
    ) == ("Success! Data written to: ali/role/policy-based\n")
    shown = cli.ok("read", "ali/config")
    assert "secret_key" not in shown and ali.config()["secret_key"] not in shown
    out = cli.ok("read", "ali/creds/policy-based")
    rows = dict(line.split(None, 1) for line in out.splitlines()[2:])
    assert list(rows) == [
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "access_key",
        "secret_key",
        "security_token",
    ]
    assert rows["lease_id"].startswith("ali/creds/policy-based/")
    assert (rows["lease_renewable"], rows["security_token"]) == ("true", "<nil>")
    [user] = users(ali)
    assert ali.account.users[user].keys == [rows["access_key"]]
    assert ("System", "AliyunOSSReadOnlyAccess") in ali.account.users[user].policies
    assert cli.ok("list", "ali/role") == "Keys\n----\npolicy-based\n"
    assert cli.ok("lease", "revoke", rows["lease_id"]) == (
        "All revocation operations queued successfully!\n"
    )
    assert nothing_left(ali)


def test_example_runs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "alicloud_workflow.py")],
        capture_output=True,
        text=True,
        env={**run_env(tmp_path), "DYNSECRETS_STORE": f"sqlite:///{tmp_path / 'ex.db'}"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RAM users made by dynsecrets left: none" in proc.stdout


def test_packaging() -> None:
    assert entry_points("dynsecrets.providers")["alicloud"] == (
        "dynsecrets.providers.alicloud:AliCloudProvider"
    )
    assert {e.split(">")[0] for e in extra("alicloud")} == {
        "alibabacloud-ram20150501",
        "alibabacloud-sts20150401",
        "alibabacloud-tea-openapi",
        "urllib3",
        "certifi",
    }
    requires = metadata.distribution("dynsecrets").requires or []
    assert requires
    assert not [r for r in requires if "aliyun-python-sdk" in r]


def test_static_role_verify_and_actor_through_the_cli(ali: FakeAliCloud, tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    ali.account.add_user("app")
    cli.ok("secrets", "enable", "-path=ali", "alicloud")
    config = [f"{k}={v}" for k, v in ali.config().items()]
    cli.ok("write", "ali/config", *config, "verify=true")
    written = cli.ok(
        "write", "ali/static-roles/app", "username=app", "rotation_period=24h", "verify=true"
    )
    assert "app" in written
    creds = cli.ok("read", "-format=json", "ali/static-creds/app")
    first = json.loads(creds)["data"]
    assert ali.account.users["app"].keys == [first["access_key"]]
    cli.ok("rotate", "ali/static-roles/app")
    second = json.loads(cli.ok("read", "-format=json", "ali/static-creds/app"))["data"]
    assert second["access_key"] != first["access_key"]
    assert sorted(ali.account.users["app"].keys) == sorted(
        [first["access_key"], second["access_key"]]
    )
    # Who asked: the CLI's -actor lands in the RAM user's Comments.
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps(OSS_POLICY))
    cli.ok("write", "ali/role/inline", f"inline_policies=@{policy}")
    cli.ok("-actor=carol@example.com", "read", "ali/creds/inline")
    [user] = [u for u in users(ali) if u != "app"]
    assert ali.account.users[user].comments.endswith(" actor=carol@example.com")
