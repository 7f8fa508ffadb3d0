"""The seed's sequence for GCP through the dynsecrets command (in-process ``main``),
against FakeGoogle over TLS."""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from dynsecrets.cli import main
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import BINDINGS_HCL, PROJECT, SCOPE

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue(), capsys.readouterr().err


def test_seed_sequence_for_gcp(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("DYNSECRETS_KEY", KEY)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    config = google.config()
    (tmp_path / "sa.json").write_text(config["credentials"])
    (tmp_path / "bindings.hcl").write_text(BINDINGS_HCL)
    (tmp_path / "endpoints.json").write_text(json.dumps(config["endpoints"]))
    google.add_resource("b/data-bucket")

    def ok(*argv: str) -> str:
        code, out, err = _run(capsys, *argv)
        assert (code, err) == (0, ""), (argv, code, out, err)
        return out

    ok("secrets", "enable", "-path=gcp-proj", "gcp")
    ok(
        "write",
        "gcp-proj/config",
        f"credentials=@{tmp_path / 'sa.json'}",
        f"endpoints=@{tmp_path / 'endpoints.json'}",
        f"ca_bundle={config['ca_bundle']}",
    )
    shown = ok("read", "-format=json", "gcp-proj/config")
    assert "PRIVATE KEY" not in shown and "credentials" not in json.loads(shown)["data"]
    ok(
        "write",
        "gcp-proj/roleset/my-set",
        f"project={PROJECT}",
        "secret_type=service_account_key",
        f"bindings=@{tmp_path / 'bindings.hcl'}",
    )
    key = json.loads(ok("read", "-format=json", "gcp-proj/roleset/my-set/key"))
    assert key["lease_id"].startswith("gcp-proj/roleset/my-set/key/")
    assert key["lease_duration"] > 0 and key["renewable"] is True
    info = json.loads(base64.b64decode(key["data"]["private_key_data"]))
    assert info["private_key_id"] in google.state.keys
    table = ok("read", "gcp-proj/roleset/my-set/key")
    assert "private_key_data" in table and "lease_id" in table
    ok(
        "write",
        "gcp-proj/roleset/my-token-set",
        f"project={PROJECT}",
        "secret_type=access_token",
        f"token_scopes={SCOPE}",
        f"bindings=@{tmp_path / 'bindings.hcl'}",
    )
    token = json.loads(ok("read", "-format=json", "gcp-proj/roleset/my-token-set/token"))
    # As Vault: a token has no lease.
    assert token["lease_id"] == "" and token["lease_duration"] == 0
    assert token["data"]["token"] and token["data"]["token_ttl"] == 3600
    ok("lease", "revoke", key["lease_id"])
    assert info["private_key_id"] not in google.state.keys
    ok("lease", "revoke", "-prefix", "gcp-proj/roleset/my-set/")  # the table read's key

    # exec: the key reaches the child as a 0600 file that is gone afterwards.
    report = tmp_path / "child.json"
    child = (
        "import json, os, stat, sys; p = os.environ['GOOGLE_APPLICATION_CREDENTIALS']; "
        "json.dump({'path': p, 'mode': stat.S_IMODE(os.stat(p).st_mode), "
        "'email': json.load(open(p))['client_email']}, open(sys.argv[1], 'w'))"
    )
    ok("exec", "gcp-proj/roleset/my-set/key", "--", sys.executable, "-c", child, str(report))
    seen = json.loads(report.read_text())
    assert seen["mode"] == 0o600 and seen["email"].startswith("ds-my-set-")
    assert not Path(seen["path"]).exists()
    assert [k for k, v in google.state.keys.items() if v["email"] == seen["email"]] == []


def test_readme_permissions_cover_every_call(google: FakeGoogle, tmp_path: Path) -> None:
    """Drive every provider operation against the fake, which records the permission
    each call needs; the README's list must hold them all."""
    import re
    import subprocess

    from dynsecrets import Engine

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"<!-- gcp-permissions -->\s*```text\n(.*?)```", readme, re.S)
    assert block is not None
    listed = set(block.group(1).split())
    google.add_resource("b/data-bucket")
    google.add_resource("projects/fake-project/topics/t")
    with Engine.open(f"sqlite:///{tmp_path / 's.db'}") as engine:
        mount = engine.enable("gcp", "gcp")
        mount.configure(**google.config())
        engine.write(
            "gcp/roleset/k",
            project=PROJECT,
            secret_type="service_account_key",
            bindings=BINDINGS_HCL + 'resource "projects/fake-project/topics/t" '
            '{ roles = ["roles/pubsub.publisher"] }',
        )
        engine.write(
            "gcp/roleset/t",
            project=PROJECT,
            secret_type="access_token",
            token_scopes=[SCOPE],
            bindings={"projects/fake-project": ["roles/viewer"]},
        )
        sa = google.service_account("static-one")
        engine.write(
            "gcp/static-account/s",
            service_account_email=sa,
            secret_type="service_account_key",
            bindings={
                f"projects/fake-project/serviceAccounts/{sa}": ["roles/iam.serviceAccountUser"]
            },
        )
        google.faults.lose_reply("CreateServiceAccountKey")  # reconcile lists keys
        engine.revoke(engine.read("gcp/roleset/k/key").lease_id)
        engine.read("gcp/roleset/t/token")
        engine.revoke(engine.read("gcp/static-account/s/key").lease_id)
        mount.rotate_root()
        # A static role: import, rotate, verify, delete.
        app = google.service_account("static-two")
        engine.write(
            "gcp/static-roles/app", service_account_email=app, rotation_period="1h", verify=True
        )
        engine.write("gcp/static-roles/app/rotate")
        engine.delete("gcp/static-roles/app")
        mount.configure(**mount.root_config(), verify=True)
        engine.read("gcp/roleset/k/key")  # revoked by the rotation
        engine.write("gcp/roleset/k/rotate")
        engine.write("gcp/roleset/t/rotate")
        mount.tidy(dry_run=False)
        for name in ("k", "t", "s"):
            mount.delete_role(name)
    used = google.state.permissions_used
    assert "iam.serviceAccountKeys.list" in used and "iam.serviceAccounts.setIamPolicy" in used
    assert used <= listed, sorted(used - listed)
    # The example runs the same sequence and exits 0.
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "gcp_workflow.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_format_env_leaves_the_key_file_for_the_shell(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`eval "$(dynsecrets read -format=env .../key)"`: the shell reads the file after
    the command has exited, so the file must outlive it (and the user is told)."""
    import shlex
    import subprocess

    from dynsecrets import Engine

    store = f"sqlite:///{tmp_path / 'store.db'}"
    with Engine.open(store, key=KEY) as engine:
        engine.enable("gcp-proj", "gcp").configure(**google.config())
        engine.write(
            "gcp-proj/roleset/my-set",
            project=PROJECT,
            secret_type="service_account_key",
            bindings=BINDINGS_HCL,
        )
    google.add_resource("b/data-bucket")
    env = {**os.environ, "DYNSECRETS_STORE": store, "DYNSECRETS_KEY": KEY}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-m", "dynsecrets", "read", "-format=env", "gcp-proj/roleset/my-set/key"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    path = Path(shlex.split(exports["GOOGLE_APPLICATION_CREDENTIALS"])[0])
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert json.loads(path.read_text())["private_key_id"] in google.state.keys
    assert f"the key file {path} stays" in done.stderr
    path.unlink()
