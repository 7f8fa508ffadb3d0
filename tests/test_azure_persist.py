"""``persist_app``: the role's own application, made when the role is written (written
ahead with the engine's role-level hooks) and kept across leases; a lease is a
password on it. Real azure-identity, azure-core and azure-mgmt-authorization over TLS
to the fakes, through the public API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.errors import Conflict, PermanentProviderError, ValidationError
from dynsecrets.lifecycle import role_resources
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    assert_nothing_left,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    dynsecrets_apps,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point", "azure_mount"]
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
WRITE_CALLS = [
    "CreateApplication",
    "CreateServicePrincipal",
    "CreateRoleAssignment",
    "AddGroupMember",
]
DELETE_CALLS = [
    "DeleteRoleAssignment",
    "RemoveGroupMember",
    "DeleteServicePrincipal",
    "DeleteApplication",
    "PurgeDeletedItem",
]


class Crash(BaseException):
    """The process dies here."""


def _fields(azure: AzureFakes, group: str, **extra: Any) -> dict[str, Any]:
    return {
        "persist_app": True,
        "azure_roles": roles_json({"role_id": READER, "scope": sub_scope(azure)}),
        "azure_groups": roles_json({"object_id": group}),
        **extra,
    }


def _principal(azure: AzureFakes, app: dict[str, Any]) -> dict[str, Any]:
    (sp,) = [s for s in azure.directory.service_principals.values() if s["appId"] == app["appId"]]
    return sp


def _works(azure: AzureFakes, data: dict[str, Any]) -> bool:
    return azure.directory.check_secret(data["client_id"], data["client_secret"]) is None


def test_write_issue_revoke_edit_delete(azure_mount: Mount, azure: AzureFakes) -> None:
    group = azure.add_group("devs")
    role = azure_mount.write_role("app", **_fields(azure, group, tags=["team:a"])).fields
    d = azure.directory
    (app,) = dynsecrets_apps(azure)
    store = azure_mount.engine.store_id
    assert {"dynsecrets:mount=azure", f"dynsecrets:store={store}", "dynsecrets:role=app"} <= set(
        app["tags"]
    )
    assert "team:a" in app["tags"] and not any(
        t.startswith("dynsecrets:lease=") for t in app["tags"]
    )
    sp = _principal(azure, app)
    assert role["persisted_app_object_id"] == app["id"]
    assert role["persisted_app_id"] == app["appId"]
    assert role["persisted_sp_object_id"] == sp["id"]
    assert [a["principalId"] for a in d.role_assignments.values()] == [sp["id"]]
    assert d.groups[group]["members"] == {sp["id"]}
    assert app["passwordCredentials"] == []
    assert azure_mount.engine.leases(f"{azure_mount.path}/role-ops/") == []

    # Each lease is one addPassword and nothing else, on the same application.
    azure.faults.calls.clear()
    first, second = azure_mount.issue("app"), azure_mount.issue("app")
    assert azure.faults.calls.count("AddPassword") == 2
    assert set(azure.faults.calls) <= {"AddPassword", "Token"}
    assert first.data["client_id"] == second.data["client_id"] == app["appId"]
    assert len(app["passwordCredentials"]) == 2
    assert _works(azure, dict(first.data)) and _works(azure, dict(second.data))
    token = first.azure_credential(connection_verify=azure.ca_bundle).get_token(
        "https://management.azure.com/.default"
    )
    assert token.token

    azure_mount.engine.revoke(first.lease_id)
    assert not _works(azure, dict(first.data)) and _works(azure, dict(second.data))
    assert [c["displayName"] for c in app["passwordCredentials"]] == [
        f"dynsecrets {second.lease_id} store={store}"
    ]
    assert dynsecrets_apps(azure) == [app]

    # Edit: same application; Reader swapped for Contributor, group swapped.
    other = azure.add_group("ops")
    edited = azure_mount.write_role(
        "app",
        persist_app=True,
        tags=["team:a"],
        azure_roles=roles_json({"role_id": CONTRIBUTOR, "scope": sub_scope(azure)}),
        azure_groups=roles_json({"object_id": other}),
    ).fields
    assert dynsecrets_apps(azure) == [app]
    assert edited["persisted_app_object_id"] == app["id"]
    (held,) = d.role_assignments.values()
    assert held["principalId"] == sp["id"] and held["roleDefinitionId"].endswith(CONTRIBUTOR)
    assert d.groups[group]["members"] == set() and d.groups[other]["members"] == {sp["id"]}
    assert _works(azure, dict(second.data))  # live leases keep working across the edit
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role("app", **_fields(azure, other, tags=["team:b"]))
    assert info.value.field == "tags"
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role("app", azure_roles=edited["azure_roles"])
    assert info.value.field == "persist_app"

    # Delete: refused while a lease lives, then everything goes, purged.
    with pytest.raises(Conflict):
        azure_mount.delete_role("app")
    assert dynsecrets_apps(azure) == [app]
    azure_mount.delete_role("app", revoke_leases=True)
    assert azure_mount.engine.leases() == []
    assert_nothing_left(azure)


def test_permanently_delete_false_keeps_the_deleted_item(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    group = azure.add_group("devs")
    azure_mount.write_role("app", **_fields(azure, group, permanently_delete=False))
    (app,) = dynsecrets_apps(azure)
    azure_mount.delete_role("app")
    assert list(azure.directory.deleted) == [app["id"]]


def test_persist_app_validation(azure_mount: Mount, azure: AzureFakes) -> None:
    existing = azure.directory.add_application("existing")
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role("bad", persist_app=True, application_object_id=existing["id"])
    assert info.value.field == "persist_app"
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role("bad", persist_app=True, persisted_app_object_id=existing["id"])
    assert info.value.field == "persisted_app_object_id"  # state is never written by hand
    assert azure_mount.roles() == [] and dynsecrets_apps(azure) == []


def test_unknown_role_name_fails_the_write_with_nothing_made(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    azure.directory.role_definitions.pop(READER)
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role(
            "app",
            persist_app=True,
            azure_roles=roles_json({"role_name": "Reader", "scope": sub_scope(azure)}),
        )
    assert info.value.field == "azure_roles"
    assert "CreateApplication" not in azure.faults.calls
    assert azure_mount.roles() == [] and azure_mount.engine.leases() == []


def test_failed_edit_restores_the_previous_assignments_and_groups(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    group = azure.add_group("devs")
    azure_mount.write_role("app", **_fields(azure, group))
    d = azure.directory
    (app,) = dynsecrets_apps(azure)
    sp = _principal(azure, app)
    before = {k: dict(v) for k, v in d.role_assignments.items()}
    other = azure.add_group("ops")
    azure.faults.error("AddGroupMember", 403, "Authorization_RequestDenied")
    with pytest.raises(PermanentProviderError) as info:
        azure_mount.write_role(
            "app",
            persist_app=True,
            azure_roles=roles_json({"role_id": CONTRIBUTOR, "scope": sub_scope(azure)}),
            azure_groups=roles_json({"object_id": other}),
        )
    assert info.value.code == "Authorization_RequestDenied"
    # The role still names what the cloud holds: Reader and devs, on the same app.
    assert {k: dict(v) for k, v in d.role_assignments.items()} == before
    assert d.groups[group]["members"] == {sp["id"]} and d.groups[other]["members"] == set()
    assert azure_mount.read_role("app").fields["persisted_group_ids"] == [group]
    assert dynsecrets_apps(azure) == [app]
    assert azure_mount.engine.leases() == []


def test_lost_reply_on_app_create_is_reconciled(azure_mount: Mount, azure: AzureFakes) -> None:
    group = azure.add_group("devs")
    azure.faults.lose_reply("CreateApplication")
    role = azure_mount.write_role("app", **_fields(azure, group)).fields
    assert azure.faults.calls.count("CreateApplication") == 1  # found, not made again
    (app,) = dynsecrets_apps(azure)
    assert role["persisted_app_object_id"] == app["id"]
    assert role["persisted_sp_object_id"] == _principal(azure, app)["id"]


def test_lost_reply_on_add_password_leaves_one_working_secret(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    group = azure.add_group("devs")
    azure_mount.write_role("app", **_fields(azure, group))
    (app,) = dynsecrets_apps(azure)
    azure.faults.lose_reply("AddPassword")
    lease = azure_mount.issue("app")
    assert azure.faults.calls.count("AddPassword") == 2
    # The password whose secret nobody saw was found by its name and removed.
    (cred,) = app["passwordCredentials"]
    assert cred["keyId"] == azure_mount.engine.store.get_lease(lease.lease_id).revocation["key_id"]
    assert _works(azure, dict(lease.data))
    azure_mount.engine.revoke(lease.lease_id)
    assert app["passwordCredentials"] == []


def test_tidy_removes_passwords_whose_lease_is_gone_never_the_app(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    group = azure.add_group("devs")
    azure_mount.write_role("app", **_fields(azure, group))
    (app,) = dynsecrets_apps(azure)
    kept, lost = azure_mount.issue("app"), azure_mount.issue("app")
    assert azure_mount.engine.store.delete_lease(lost.lease_id)
    report = azure_mount.tidy(dry_run=False)
    assert [i.lease_id for i in report.orphans] == [lost.lease_id]
    assert report.deleted and not report.errors
    assert not _works(azure, dict(lost.data)) and _works(azure, dict(kept.data))
    assert dynsecrets_apps(azure) == [app]


# -- crashes: the process dies after a cloud call; a restart's recovery cleans up --------
def _engine(url: str, azure: AzureFakes, clock: ManualClock) -> Engine:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    engine = Engine.open(url, clock=clock, registry=registry)
    if "azure" not in [m.path for m in engine.mounts()]:
        engine.enable("azure", "azure").configure(**azure.config())
    return engine


def _die_after(engine: Engine, azure: AzureFakes, operation: str) -> None:
    def die(method: str, url: str, status: int) -> None:
        if azure.operation_of(method, url) == operation and status < 400:
            raise Crash

    engine.mount("azure").provider.clients.observers.append(die)  # type: ignore[attr-defined]


@pytest.mark.parametrize("after", WRITE_CALLS)
def test_crash_during_role_write_is_undone(
    azure: AzureFakes,
    azure_clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _engine(url, azure, azure_clock)
    group = azure.add_group("devs")
    _die_after(first, azure, after)
    # A dead process runs no rollback either.
    monkeypatch.setattr(role_resources, "rollback", lambda *a, **k: None)
    with pytest.raises(Crash):
        first.mount("azure").write_role("app", **_fields(azure, group))
    monkeypatch.undo()
    assert len(dynsecrets_apps(azure)) == 1
    (op,) = first.leases(state=LeaseState.PENDING)
    assert "/role-ops/app/" in op.lease_id

    azure_clock.advance(first.claim_ttl + 1)
    with _engine(url, azure, azure_clock) as second:  # a restart recovers it
        assert second.leases() == []
        assert second.mount("azure").roles() == []
    assert_nothing_left(azure)
    first.close()


@pytest.mark.parametrize("after", DELETE_CALLS)
def test_crash_during_role_delete_is_finished(
    azure: AzureFakes,
    azure_clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = _engine(url, azure, azure_clock)
    group = azure.add_group("devs")
    mount = first.mount("azure")
    mount.write_role("app", **_fields(azure, group))
    _die_after(first, azure, after)
    monkeypatch.setattr(role_resources, "rollback", lambda *a, **k: None)
    with pytest.raises(Crash):
        mount.delete_role("app")
    monkeypatch.undo()
    # The store forgot the role first; the pending delete names what is left.
    assert mount.roles() == []
    assert len(first.leases(state=LeaseState.PENDING)) == 1

    azure_clock.advance(first.claim_ttl + 1)
    with _engine(url, azure, azure_clock) as second:
        assert second.leases() == []
    assert_nothing_left(azure)
    first.close()


def test_cli_persisted_app(
    azure: AzureFakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import base64
    import io

    from dynsecrets.cli import main

    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("DYNSECRETS_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    monkeypatch.chdir(tmp_path)

    def ok(*argv: str) -> str:
        out = io.StringIO()
        code = main(list(argv), out=out)
        err = capsys.readouterr().err
        assert (code, err) == (0, ""), (argv, code, err)
        return out.getvalue()

    ok("secrets", "enable", "-path=azure-prod", "azure")
    ok("write", "azure-prod/config", *[f"{k}={v}" for k, v in azure.config().items()])
    Path("roles.json").write_text(json.dumps([{"role_id": READER, "scope": sub_scope(azure)}]))
    assert ok("write", "azure-prod/roles/app", "persist_app=true", "azure_roles=@roles.json") == (
        "Success! Data written to: azure-prod/roles/app\n"
    )
    (app,) = dynsecrets_apps(azure)
    assert app["id"] in ok("read", "azure-prod/roles/app")
    lease = json.loads(ok("read", "-format=json", "azure-prod/creds/app"))
    assert lease["data"]["client_id"] == app["appId"]
    assert len(app["passwordCredentials"]) == 1
    assert ok("lease", "revoke", lease["lease_id"]).startswith("All revocation operations queued")
    assert app["passwordCredentials"] == [] and dynsecrets_apps(azure) == [app]
    ok("delete", "azure-prod/roles/app")
    assert_nothing_left(azure)
