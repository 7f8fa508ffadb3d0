"""The dynsecrets command, driven through its real entry points in subprocesses,
against a moto server: the seed's commands with `vault` replaced by `dynsecrets`."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import ProviderRegistry
from dynsecrets.testing.aws import MotoServer

from .conftest import EC2_POLICY, iam_users

SCRIPT = Path(sys.executable).parent / "dynsecrets"


class CLI:
    def __init__(self, store: Path, moto: MotoServer) -> None:
        # No region of the test runner's: the CLI must set what a child process needs.
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
        self.env = {**env, "DYNSECRETS_STORE": f"sqlite:///{store}"}
        self.moto = moto

    def __call__(
        self, *args: str, stdin: str | None = None, script: bool = False
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(SCRIPT)] if script else [sys.executable, "-m", "dynsecrets"]
        return subprocess.run(
            [*cmd, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=60
        )

    def ok(self, *args: str, **kw: Any) -> str:
        proc = self(*args, **kw)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def root(self) -> list[str]:
        c = self.moto.config("us-west-2")
        return [f"{k}={v}" for k, v in c.items()]


@pytest.fixture
def cli(tmp_path: Path, moto_server: MotoServer) -> CLI:
    return CLI(tmp_path / "store.db", moto_server)


@pytest.fixture
def seeded(cli: CLI, iam: Any) -> CLI:
    iam.create_group(GroupName="ec2-admins")
    iam.create_policy(PolicyName="EC2ReadOnly", PolicyDocument=json.dumps(EC2_POLICY))
    assert (
        cli.ok("secrets", "enable", "-path=aws-us-west-2", "aws")
        == "Success! Enabled the aws secrets engine at: aws-us-west-2/\n"
    )
    assert (
        cli.ok("write", "aws-us-west-2/config/root", *cli.root())
        == "Success! Data written to: aws-us-west-2/config/root\n"
    )
    out = cli.ok(
        "write",
        "aws-us-west-2/roles/ec2",
        "credential_type=iam_user",
        "policy_document=-",
        stdin=json.dumps(EC2_POLICY, indent=2),
    )
    assert out == "Success! Data written to: aws-us-west-2/roles/ec2\n"
    cli.ok(
        "write",
        "aws-us-west-2/roles/ec2-read-only",
        "credential_type=iam_user",
        "policy_arns=arn:aws:iam::123456789012:policy/EC2ReadOnly",
    )
    cli.ok(
        "write",
        "aws-us-west-2/roles/iam-ec2",
        "credential_type=iam_user",
        "iam_groups=ec2-admins",
        script=True,
    )
    return cli


def test_seed_workflow(seeded: CLI, iam: Any) -> None:
    out = seeded.ok("read", "aws-us-west-2/creds/ec2")
    lines = out.splitlines()
    assert lines[0].split() == ["Key", "Value"] and lines[1].split() == ["---", "-----"]
    rows = dict(line.split(None, 1) for line in lines[2:])
    assert list(rows) == [
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "access_key",
        "secret_key",
        "security_token",
    ]
    assert rows["lease_id"].startswith("aws-us-west-2/creds/ec2/") and len(rows["lease_id"]) == 48
    assert (rows["lease_duration"], rows["lease_renewable"], rows["security_token"]) == (
        "768h",
        "true",
        "<nil>",
    )
    assert lines[2].index("aws-us-west-2") == len("lease_renewable") + 4  # the seed's column
    [user] = iam_users(iam)
    assert (
        iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["AccessKeyId"]
        == rows["access_key"]
    )
    assert seeded.ok("list", "aws-us-west-2/roles") == "Keys\n----\nec2\nec2-read-only\niam-ec2\n"
    for role in ("ec2-read-only", "iam-ec2"):
        seeded.ok("read", f"aws-us-west-2/creds/{role}")
    assert len(iam_users(iam)) == 3
    lookup = seeded.ok("lease", "lookup", rows["lease_id"])
    assert "state" in lookup and "active" in lookup
    renewed = seeded.ok("lease", "renew", "-increment=1h", rows["lease_id"])
    assert "1h" in renewed
    assert (
        seeded.ok("lease", "revoke", rows["lease_id"])
        == "All revocation operations queued successfully!\n"
    )
    assert len(iam_users(iam)) == 2
    listed = seeded.ok("lease", "list", "aws-us-west-2/")
    assert listed.count("aws-us-west-2/creds/") == 2
    out = seeded.ok("lease", "revoke", "-prefix", "aws-us-west-2/creds")
    assert out == "Success! Revoked 2 lease(s) under aws-us-west-2/creds\n"
    assert iam_users(iam) == []
    assert (
        seeded.ok("delete", "aws-us-west-2/roles/iam-ec2")
        == "Success! Data deleted (if it existed) at: aws-us-west-2/roles/iam-ec2\n"
    )
    assert "secret_key" not in seeded.ok("read", "aws-us-west-2/config/root")
    assert "aws-us-west-2/" in seeded.ok("secrets", "list")
    seeded.ok("secrets", "tune", "-default-lease-ttl=1h", "aws-us-west-2")
    assert "1h" in seeded.ok("read", "aws-us-west-2/creds/ec2")
    assert (
        seeded.ok("secrets", "disable", "--revoke", "aws-us-west-2")
        == "Success! Disabled the secrets engine (if it existed) at: aws-us-west-2/\n"
    )
    assert iam_users(iam) == []


def test_output_formats(seeded: CLI, iam: Any) -> None:
    data = json.loads(seeded.ok("read", "-format=json", "aws-us-west-2/creds/ec2"))
    assert list(data) == [
        "request_id",
        "lease_id",
        "lease_duration",
        "renewable",
        "data",
        "warnings",
    ]
    assert data["lease_duration"] == 768 * 3600 and data["renewable"] is True
    assert set(data["data"]) == {"access_key", "secret_key", "security_token"}
    env = seeded.ok("read", "--format", "env", "aws-us-west-2/creds/ec2")
    assert "export AWS_ACCESS_KEY_ID=AKIA" in env and "export AWS_REGION=us-west-2" in env
    assert "export AWS_DEFAULT_REGION=us-west-2" in env
    assert "\nexport DYNSECRETS_LEASE_ID=aws-us-west-2/creds/ec2/" in env
    key = seeded.ok("read", "-field=access_key", "aws-us-west-2/creds/ec2").strip()
    assert key.startswith("AKIA") and "\n" not in key
    assert seeded.ok("read", "-field=credential_type", "aws-us-west-2/roles/ec2") == "iam_user\n"
    assert json.loads(seeded.ok("list", "-format=json", "aws-us-west-2/roles")) == [
        "ec2",
        "ec2-read-only",
        "iam-ec2",
    ]
    assert len(iam_users(iam)) == 3


def test_exec(seeded: CLI, iam: Any, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    # boto3 finds its region only in AWS_DEFAULT_REGION: this call fails without it.
    child = (
        "import boto3, json, os, sys; names = ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', "
        "'AWS_REGION', 'AWS_DEFAULT_REGION', 'DYNSECRETS_LEASE_ID'); "
        "got = {k: os.environ.get(k) for k in names}; "
        "got['arn'] = boto3.client('sts', endpoint_url=sys.argv[2]).get_caller_identity()['Arn']; "
        "json.dump(got, open(sys.argv[1], 'w')); sys.exit(3)"
    )
    proc = seeded(
        "exec",
        "-ttl=15m",
        "aws-us-west-2/creds/ec2",
        "--",
        sys.executable,
        "-c",
        child,
        str(seen),
        seeded.moto.url,
    )
    assert proc.returncode == 3, proc.stderr
    got = json.loads(seen.read_text())
    assert (
        got["AWS_ACCESS_KEY_ID"].startswith("AKIA")
        and got["AWS_SECRET_ACCESS_KEY"]
        and got["AWS_REGION"] == got["AWS_DEFAULT_REGION"] == "us-west-2"
        and got["DYNSECRETS_LEASE_ID"].startswith("aws-us-west-2/creds/ec2/")
    )
    assert got["arn"].startswith("arn:aws:iam::123456789012:user/")
    assert got["AWS_SECRET_ACCESS_KEY"] not in proc.stdout + proc.stderr
    assert iam_users(iam) == [] and seeded.ok("lease", "list") == "No leases.\n"


def test_exec_revokes_on_ctrl_c(seeded: CLI, iam: Any) -> None:
    child = "import sys, time; print('started', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dynsecrets",
            "exec",
            "aws-us-west-2/creds/ec2",
            "--",
            sys.executable,
            "-c",
            child,
        ],
        env=seeded.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    assert len(iam_users(iam)) == 1
    proc.send_signal(signal.SIGINT)  # forwarded to the child, which dies of it
    assert proc.wait(timeout=30) == 130
    assert iam_users(iam) == []


def test_bulk_revoke_summary_and_progress(seeded: CLI, iam: Any) -> None:
    for _ in range(3):
        seeded.ok("read", "aws-us-west-2/creds/ec2")
    proc = seeded("lease", "revoke", "-prefix", "aws-us-west-2/creds/ec2")
    assert (
        proc.stdout == "Success! Revoked 3 lease(s) under aws-us-west-2/creds/ec2\n"
        and proc.stderr == ""
    )
    for _ in range(3):
        seeded.ok("read", "aws-us-west-2/creds/ec2")
    master, slave = pty.openpty()  # stderr on a terminal: a progress bar
    p = subprocess.Popen(
        [sys.executable, "-m", "dynsecrets", "lease", "revoke", "-prefix", "aws-us-west-2/"],
        env=seeded.env,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    out, _ = p.communicate(timeout=60)
    os.close(slave)
    bar = os.read(master, 65536).decode()
    os.close(master)
    assert p.returncode == 0 and "Revoked 3 lease(s)" in out
    assert "Revoking [" in bar and "3/3" in bar
    assert iam_users(iam) == []


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (
            ["read", "nope/roles/x"],
            None,
            1,
            "Error: no secrets engine is enabled at nope/; enable one first\n",
        ),
        (
            ["read", "aws-us-west-2/elsewhere"],
            None,
            2,
            "Error: 'aws-us-west-2/elsewhere' is not a known path; use <mount>/config/root, <mount>/config/lease, "
            "<mount>/roles/<name>, <mount>/creds/<role>, <mount>/static-roles/<name> or "
            "<mount>/static-creds/<name>\n",
        ),
        (
            ["write", "aws-us-west-2/roles/x", "credential_type"],
            None,
            2,
            "Error: argument 'credential_type' is not key=value; write fields as key=value\n",
        ),
        (
            ["write", "aws-us-west-2/config/lease", "lease=soon"],
            None,
            2,
            "Error: lease: 'soon' is not a duration; use seconds or units d/h/m/s such as '768h' or '1h30m'\n",
        ),
        (
            ["read", "aws-us-west-2/creds/ec2", "ttl=3 days"],
            None,
            2,
            "Error: ttl: '3 days' is not a duration; use seconds or units d/h/m/s such as '768h' or '1h30m'\n",
        ),
        (
            ["write", "aws-us-west-2/roles/x", "credential_type=iam_user", "colour=blue"],
            None,
            2,
            "Error: colour: unknown role field; known fields are: credential_type, default_sts_ttl, external_id, "
            "iam_groups, iam_tags, max_sts_ttl, mfa_serial_number, permissions_boundary_arn, policy_arns, "
            "policy_document, role_arns, session_tags, user_path\n",
        ),
        (
            [
                "write",
                "aws-us-west-2/roles/x",
                "credential_type=iam_user",
                "policy_document=@/no/such.json",
            ],
            None,
            2,
            "Error: cannot read '/no/such.json' for policy_document: No such file or directory\n",
        ),
        (
            ["secrets", "enable", "-path=../etc", "aws"],
            None,
            2,
            "Error: path: '../etc' is not a valid mount path: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, such as 'aws-us-west-2'\n",
        ),
        (
            ["lease", "lookup", "aws-us-west-2/creds/ec2/none"],
            None,
            1,
            "Error: no lease 'aws-us-west-2/creds/ec2/none'; it may have expired or been revoked\n",
        ),
        (
            ["secrets", "enable", "nimbus"],
            None,
            1,
            f"Error: no provider named 'nimbus' (installed: {', '.join(ProviderRegistry().names())}); "
            "install the distribution that provides it\n",
        ),
        (["frobnicate"], None, 2, None),
    ],
)
def test_bad_input(
    seeded: CLI, iam: Any, args: list[str], stdin: str | None, code: int, message: str | None
) -> None:
    proc = seeded(*args, stdin=stdin)
    assert proc.returncode == code, proc.stderr
    if message is None:
        assert (
            proc.stderr.startswith("Error: argument VERB: invalid choice: 'frobnicate'")
            and proc.stderr.count("\n") == 1
        )
    else:
        assert proc.stderr == message
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert iam_users(iam) == []


def test_debug_prints_traceback(seeded: CLI) -> None:
    proc = seeded("--debug", "read", "nope/roles/x")
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_help_has_examples(cli: CLI) -> None:
    for verb in (
        ["secrets", "enable"],
        ["write"],
        ["read"],
        ["list"],
        ["delete"],
        ["lease", "revoke"],
        ["exec"],
        ["worker"],
        ["tidy"],
        ["rotate-root"],
        ["path-help"],
    ):
        out = cli.ok(*verb, "--help")
        assert "Example:\n  dynsecrets " in out, verb


def test_worker_runs_and_stops_on_sigterm(seeded: CLI, iam: Any) -> None:
    seeded.ok("secrets", "tune", "-default-lease-ttl=1", "-max-lease-ttl=1", "aws-us-west-2")
    seeded.ok("read", "aws-us-west-2/creds/ec2")
    proc = subprocess.Popen(
        [str(SCRIPT), "worker", "-interval=0.1"],
        env=seeded.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    events = []
    for line in proc.stderr:
        entry = json.loads(line)
        events.append(entry)
        if entry.get("event") == "expire":
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert any(e["message"].startswith("worker running") for e in events)
    assert json.loads(rest.splitlines()[-1])["message"] == "worker stopped"
    assert iam_users(iam) == []


def test_tidy_and_rotate_root(seeded: CLI, iam: Any) -> None:
    assert seeded.ok("tidy", "aws-us-west-2") == (
        "Scanned 0 identities made by aws-us-west-2/; 0 without a lease.\n"
    )
    iam.create_user(UserName="dynsecrets-root")
    key = iam.create_access_key(UserName="dynsecrets-root")["AccessKey"]
    others = [kv for kv in seeded.root() if not kv.startswith(("access_key=", "secret_key="))]
    seeded.ok(
        "write",
        "aws-us-west-2/config/root",
        *others,
        f"access_key={key['AccessKeyId']}",
        f"secret_key={key['SecretAccessKey']}",
    )
    out = seeded.ok("rotate-root", "aws-us-west-2")
    assert out.startswith("Success! Rotated the root credential of aws-us-west-2/")
    assert key["SecretAccessKey"] not in out
    [new] = iam.list_access_keys(UserName="dynsecrets-root")["AccessKeyMetadata"]
    assert new["AccessKeyId"] in out and new["AccessKeyId"] != key["AccessKeyId"]
