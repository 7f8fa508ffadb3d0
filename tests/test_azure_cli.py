"""The seed's Azure sequence through the CLI, in-process, against the TLS fakes."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from dynsecrets.cli import main
from dynsecrets.testing.azure import AzureFakes

from ._azure import READER, azure, azure_clock, azure_entry_point, dynsecrets_apps, sub_scope

__all__ = ["azure", "azure_clock", "azure_entry_point"]
KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


def test_seed_sequence(
    azure: AzureFakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("DYNSECRETS_KEY", KEY)
    monkeypatch.chdir(tmp_path)

    def ok(*argv: str) -> str:
        out = io.StringIO()
        code = main(list(argv), out=out)
        err = capsys.readouterr().err
        assert (code, err) == (0, ""), (argv, code, err)
        return out.getvalue()

    assert ok("secrets", "enable", "-path=azure-prod", "azure") == (
        "Success! Enabled the azure secrets engine at: azure-prod/\n"
    )
    config = azure.config()
    assert ok("write", "azure-prod/config", *[f"{k}={v}" for k, v in config.items()]) == (
        "Success! Data written to: azure-prod/config\n"
    )
    shown = ok("read", "azure-prod/config")
    assert config["client_id"] in shown and config["client_secret"] not in shown
    Path("roles.json").write_text(json.dumps([{"role_id": READER, "scope": sub_scope(azure)}]))
    assert ok("write", "azure-prod/roles/app", "azure_roles=@roles.json") == (
        "Success! Data written to: azure-prod/roles/app\n"
    )
    lease = json.loads(ok("read", "-format=json", "azure-prod/creds/app"))
    assert lease["lease_id"].startswith("azure-prod/creds/app/") and lease["renewable"]
    data = lease["data"]
    assert set(data) >= {"client_id", "client_secret", "tenant_id", "subscription_id"}
    (app,) = dynsecrets_apps(azure)
    assert app["appId"] == data["client_id"]
    table = ok("read", "azure-prod/creds/app")
    assert "client_secret" in table and "lease_id" in table
    assert len(dynsecrets_apps(azure)) == 2
    assert ok("lease", "revoke", lease["lease_id"]).startswith("All revocation operations queued")
    assert data["client_id"] not in [a["appId"] for a in dynsecrets_apps(azure)]
    ok("lease", "revoke", "-prefix", "azure-prod/")
    assert dynsecrets_apps(azure) == [] and azure.directory.role_assignments == {}


def test_example_workflow(capsys: Any) -> None:
    import runpy

    root = Path(__file__).resolve().parent.parent
    example = runpy.run_path(str(root / "examples" / "azure_workflow.py"))
    assert example["main"]() == 0
    out = capsys.readouterr().out
    assert "the application is gone: True" in out and "client_secret      <redacted>" in out


def test_readme_lists_the_permissions_of_every_call(azure: AzureFakes, tmp_path: Path) -> None:
    """Every call the provider makes (both modes, failures and reconciliation, revoke,
    rotate-root, tidy) needs a permission the README's Azure section names."""
    from dynsecrets import Engine
    from dynsecrets.testing.azure.permissions import PERMISSIONS

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Azure") :]
    section = section[: section.find("\n## ", 4) if "\n## " in section[4:] else None]
    with Engine.open("memory://") as engine:
        mount = engine.enable("azure", "azure")
        mount.configure(**azure.config())
        azure.add_group("devs")
        existing = azure.directory.add_application("existing")
        azure.directory.add_service_principal(existing, [])
        mount.write_role(
            "app",
            azure_roles=json.dumps([{"role_name": "Reader", "scope": sub_scope(azure)}]),
            azure_groups=json.dumps([{"group_name": "devs"}]),
        )
        mount.write_role("pw", application_object_id=existing["id"])
        azure.faults.lose_reply("CreateApplication")
        azure.faults.lose_reply("CreateServicePrincipal")
        azure.faults.lose_reply("AddPassword")
        azure.faults.lose_reply("CreateRoleAssignment")
        azure.faults.error("AddGroupMember", 404, "Request_ResourceNotFound")
        azure.faults.error("AddGroupMember", 400, "Request_BadRequest")
        leases = [mount.issue("app"), mount.issue("pw"), mount.issue("app")]
        engine.revoke(leases[0].lease_id)
        engine.revoke(leases[1].lease_id)
        engine.store.delete_lease(leases[2].lease_id)  # an orphan for tidy
        mount.tidy(dry_run=False)
        mount.rotate_root()
        mount.provider.revoke(  # revoke with no revocation data: found again by listing
            mount.root_config(),
            mount.provider.plan(mount.root_config(), _Plan.request(mount, "pw")),
            None,
        )
    used = set(azure.faults.calls)
    assert used - set(PERMISSIONS) == set(), "a call with no known permission"
    needed = {p for op in used for p in PERMISSIONS[op]}
    missing = sorted(p for p in needed if p not in section)
    assert missing == [], f"README's Azure section does not name {missing}"
    assert len(needed) >= 7


class _Plan:
    @staticmethod
    def request(mount: Any, role: str) -> Any:
        from dynsecrets.providers.base import IssueRequest

        return IssueRequest(
            mount=mount.path,
            role_name=role,
            role=mount.read_role(role).fields,
            lease_id=f"{mount.path}/creds/{role}/" + "y" * 24,
            ttl=3600,
            now=mount.engine.clock.now(),
        )
