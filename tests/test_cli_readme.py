"""The README's command-line examples, run as printed against moto in server mode
(started as the README says, with AWS-managed policies loaded)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynsecrets.testing.aws import MotoServer

from .conftest import iam_users

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = "<!-- test: cli-moto -->"
README_ENDPOINT = "http://127.0.0.1:5000"
_FENCE = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def _lines(block: str) -> list[str]:
    """Shell lines of a block, with backslash continuations joined."""
    return block.replace("\\\n", " ").splitlines()


def readme_commands() -> list[str]:
    text = README.read_text()
    commands: list[str] = []
    for part in text.split(MARK)[1:]:
        fence = _FENCE.match(part.lstrip("\n"))
        assert fence, f"{MARK} must come right before a ```sh block"
        commands += [line for line in _lines(fence.group(1)) if line.strip()]
    return commands


def test_every_cli_example_in_the_readme_is_tested() -> None:
    tested = set(readme_commands())
    everywhere = [
        line
        for block in _FENCE.findall(README.read_text())
        for line in _lines(block)
        if line.startswith("dynsecrets ")
    ]
    assert everywhere, "the README has no dynsecrets examples"
    assert [line for line in everywhere if line not in tested] == []
    assert any(line.startswith("dynsecrets exec ") for line in tested)


@pytest.fixture(scope="module")
def managed_moto() -> Iterator[MotoServer]:
    pytest.importorskip("moto.server", reason="needs moto[server]")
    # Its own process, so MOTO_IAM_LOAD_MANAGED_POLICIES does not leak into other tests.
    with MotoServer(process=True, aws_managed_policies=True) as server:
        yield server


@pytest.mark.moto
@pytest.mark.slow
def test_readme_cli_examples_run_against_moto(managed_moto: MotoServer, tmp_path: Path) -> None:
    managed_moto.reset()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "DYNSECRETS_"))  # only what the README sets
    }
    # "python3" in the exec example is this interpreter, which has boto3.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    outputs: dict[str, str] = {}
    for line in readme_commands():
        argv = shlex.split(line.replace(README_ENDPOINT, managed_moto.url), comments=True)
        if not argv:
            continue
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            env[name] = value
            continue
        assert argv[0] == "dynsecrets", f"the tested block runs only dynsecrets: {line}"
        proc = subprocess.run(
            [sys.executable, "-m", "dynsecrets", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        outputs[" ".join(argv[1:3])] = proc.stdout

    table = outputs["read aws-us-west-2/creds/ec2"].splitlines()
    assert [row.split()[0] for row in table] == [
        "Key",
        "---",
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "access_key",
        "secret_key",
        "security_token",
    ]
    issued = json.loads(outputs["read -format=json"])
    assert issued["lease_duration"] == 768 * 3600 and issued["data"]["access_key"]
    assert outputs["exec -ttl=15m"].startswith("arn:aws:iam::123456789012:user/")
    assert outputs["lease revoke"] == "Success! Revoked 2 lease(s) under aws-us-west-2/creds\n"
    assert json.loads(outputs["worker -once"])["revoked"] == 0
    assert "0 without a lease" in outputs["tidy aws-us-west-2"]
    assert iam_users(managed_moto.client("iam", "us-west-2")) == []
