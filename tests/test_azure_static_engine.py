"""Azure static roles end to end through the engine's path API: import an existing
application, static-creds gives a working secret (a token from azure-identity's
own ClientSecretCredential), scheduled and manual rotation with the grace period on
an injected clock and the worker's run_once, verify=true, bad input, and a crash
after each cloud call of a rotation."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock, Mount
from dynsecrets.errors import (
    MissingPermissions,
    PermanentProviderError,
    TransientProviderError,
    ValidationError,
)
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    Observer,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    observer,
    roles_json,
    secret_works,
)

__all__ = [
    "azure",
    "azure_clock",
    "azure_engine",
    "azure_entry_point",
    "azure_mount",
    "observer",
]


class Crash(BaseException):
    """The process dies here."""


@pytest.fixture
def existing(azure: AzureFakes) -> dict[str, Any]:
    app = azure.directory.add_application("payments-api")
    azure.directory.add_service_principal(app, [])
    own = azure.directory.add_password(app, "made by hand", None)
    return {"app": app, "secret": own["secretText"], "key_id": own["keyId"]}


def _keys(observer: Observer, app: dict[str, Any]) -> set[str]:
    return {p["keyId"] for p in observer.passwords(app["id"])}


def _works(azure: AzureFakes, creds: Any) -> bool:
    return secret_works(azure, creds.data["client_id"], creds.data["client_secret"])


def test_import_and_scheduled_rotation_with_grace(
    azure_mount: Mount,
    azure: AzureFakes,
    azure_clock: ManualClock,
    existing: dict[str, Any],
    observer: Observer,
) -> None:
    engine, app = azure_mount.engine, existing["app"]
    shown = engine.write(
        "azure/static-roles/pay",
        application_object_id=app["id"],
        rotation_period="1h",
        rotation_grace_period="10m",
    )
    assert shown["application_object_id"] == app["id"]
    first = engine.read("azure/static-creds/pay")
    assert first.data["client_id"] == app["appId"]
    assert first.data["tenant_id"] == azure.directory.tenant_id
    assert first.data["client_secret"] not in repr(first)
    assert _works(azure, first)
    # The application's own password stays until the first rotation says otherwise.
    assert _keys(observer, app) == {existing["key_id"], shown["secret_id"]}
    assert secret_works(azure, app["appId"], existing["secret"])

    worker = ExpiryWorker(engine)
    azure_clock.advance(1800)
    assert worker.run_once() == 0
    azure_clock.advance(1800)
    assert worker.run_once() == 1
    second = engine.read("azure/static-creds/pay")
    assert second.data["client_secret"] != first.data["client_secret"]
    assert _works(azure, second) and _works(azure, first)  # grace period
    azure_clock.advance(599)
    worker.run_once()
    assert _works(azure, first)
    azure_clock.advance(1)
    assert worker.run_once() == 1
    assert not _works(azure, first)
    assert not secret_works(azure, app["appId"], existing["secret"])  # retired with it
    assert _works(azure, second)
    state = engine.read("azure/static-roles/pay")
    assert _keys(observer, app) == {state["secret_id"]}


def test_manual_rotation(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any], observer: Observer
) -> None:
    engine, app = azure_mount.engine, existing["app"]
    engine.write(
        "azure/static-roles/pay",
        application_object_id=app["id"],
        rotation_period="24h",
        rotation_grace_period="5m",
    )
    a = engine.read("azure/static-creds/pay")
    shown = engine.write("azure/static-roles/pay/rotate")
    b = engine.read("azure/static-creds/pay")
    assert _works(azure, a) and _works(azure, b)
    assert shown["secret_id"] in _keys(observer, app)
    # Deleting the role removes every password it holds: those dynsecrets made, and
    # the application's own, which the first rotation after the import retired.
    engine.delete("azure/static-roles/pay")
    assert not _works(azure, a) and not _works(azure, b)
    assert _keys(observer, app) == set()


def test_delete_before_any_rotation_keeps_the_applications_own(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any], observer: Observer
) -> None:
    engine, app = azure_mount.engine, existing["app"]
    engine.write("azure/static-roles/pay", application_object_id=app["id"], rotation_period="1h")
    ours = engine.read("azure/static-creds/pay")
    engine.delete("azure/static-roles/pay")
    assert not _works(azure, ours)
    assert _keys(observer, app) == {existing["key_id"]}
    assert secret_works(azure, app["appId"], existing["secret"])


def test_verify_true_names_what_is_missing(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any]
) -> None:
    azure.set_graph_permissions("Directory.Read.All")
    azure.faults.calls.clear()
    with pytest.raises(MissingPermissions) as info:
        azure_mount.engine.write(
            "azure/static-roles/pay",
            application_object_id=existing["app"]["id"],
            rotation_period="1h",
            verify=True,
        )
    assert "Application.ReadWrite.OwnedBy" in str(info.value)
    assert "AddPassword" not in azure.faults.calls
    azure.set_graph_permissions("Application.ReadWrite.OwnedBy")
    azure_mount.engine.write(
        "azure/static-roles/pay",
        application_object_id=existing["app"]["id"],
        rotation_period="1h",
        verify=True,
    )


def test_verify_true_on_config_and_roles(azure_mount: Mount, azure: AzureFakes) -> None:
    azure_mount.configure(verify=True, **azure.config())
    scope = f"/subscriptions/{azure.directory.subscription_id}"
    role = roles_json({"role_name": "Reader", "scope": scope})
    with pytest.raises(MissingPermissions) as info:
        azure_mount.write_role("app", verify=True, azure_roles=role)
    assert f"Microsoft.Authorization/roleAssignments/write on {scope}" in str(info.value)
    azure.grant_arm("Role Based Access Control Administrator")
    azure_mount.write_role("app", verify=True, azure_roles=role)
    azure.set_graph_permissions()
    with pytest.raises(MissingPermissions, match=r"Application\.ReadWrite\.OwnedBy"):
        azure_mount.configure(verify=True, **azure.config())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (
            {"application_object_id": "aaaaaaaa-0000-4000-8000-000000000000"},
            "application_object_id",
        ),
        ({"application_object_id": "not-a-guid"}, "application_object_id"),
        ({"rotation_period": "2m"}, "rotation_period"),
        ({"rotation_period": "30d", "secret_expiry": "7d"}, "secret_expiry"),
        ({"client_id": "x"}, "client_id"),
    ],
)
def test_bad_input_is_typed_and_creates_nothing(
    azure_mount: Mount,
    azure: AzureFakes,
    existing: dict[str, Any],
    observer: Observer,
    fields: dict[str, Any],
    field: str,
) -> None:
    azure.faults.calls.clear()
    with pytest.raises(ValidationError) as info:
        azure_mount.engine.write(
            "azure/static-roles/pay",
            **{"application_object_id": existing["app"]["id"], "rotation_period": "1h", **fields},
        )
    assert info.value.field == field
    assert "AddPassword" not in azure.faults.calls
    assert _keys(observer, existing["app"]) == {existing["key_id"]}
    assert azure_mount.engine.list("azure/static-roles") == []


def test_a_secret_that_never_works_is_removed_and_the_old_stays(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any], observer: Observer
) -> None:
    engine, app = azure_mount.engine, existing["app"]
    engine.write("azure/static-roles/pay", application_object_id=app["id"], rotation_period="1h")
    current = engine.read("azure/static-creds/pay")
    before = _keys(observer, app)
    azure.faults.error("Token", 401, "AADSTS7000215", times=100_000)
    with pytest.raises(TransientProviderError):
        engine.write("azure/static-roles/pay/rotate")
    azure.faults.clear()
    assert _keys(observer, app) == before
    assert (
        engine.read("azure/static-creds/pay").data["client_secret"] == current.data["client_secret"]
    )
    assert _works(azure, current)


def _engine(url: str, azure: AzureFakes, clock: ManualClock) -> Engine:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    engine = Engine.open(url, clock=clock, registry=registry)
    if "azure" not in [m.path for m in engine.mounts()]:
        engine.enable("azure", "azure").configure(**azure.config())
    return engine


@pytest.mark.parametrize("after", ["GetApplication", "AddPassword", "RemovePassword"])
def test_a_crash_after_each_call_of_a_rotation(
    azure: AzureFakes,
    azure_clock: ManualClock,
    tmp_path: Path,
    existing: dict[str, Any],
    observer: Observer,
    after: str,
) -> None:
    """The process dies right after a Graph call took effect (its reply never read):
    a new engine on the same store finds the current secret working, every password
    of the application known to it (or the one lost create, reconciled by the worker),
    and the rotation finishes."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    app = existing["app"]
    first = _engine(url, azure, azure_clock)
    first.write(
        "azure/static-roles/pay",
        application_object_id=app["id"],
        rotation_period="1h",
        rotation_grace_period="10m",
    )
    # One rotation with its grace period over, so that the next one removes a password.
    azure_clock.advance(3600)
    ExpiryWorker(first).run_once()
    azure_clock.advance(600)
    ExpiryWorker(first).run_once()
    mount = first.mount("azure")

    hit: list[str] = []

    def die(method: str, url: str, status: int) -> None:
        if azure.operation_of(method, url) == after and status < 400:
            hit.append(after)
            raise Crash

    mount.provider.clients.observers.append(die)  # type: ignore[attr-defined]
    # A manual rotation (lists, adds, proves), then the worker once the old password's
    # grace period is over (removes it): the crash comes at the first call named.
    azure_clock.advance(3600)
    with contextlib.suppress(Crash, TransientProviderError, PermanentProviderError):
        first.write("azure/static-roles/pay/rotate")
        azure_clock.advance(600)
        ExpiryWorker(first).run_once()
    assert hit == [after]
    mount.provider.clients.observers.remove(die)  # type: ignore[attr-defined]
    first.core.heartbeat.close()  # the process is gone: its claims stop moving

    azure_clock.advance(first.claim_ttl + 1)
    with _engine(url, azure, azure_clock) as second:
        state = second.read("azure/static-roles/pay")
        known = {state["secret_id"], *state["previous_secret_ids"]}
        assert _works(azure, second.read("azure/static-creds/pay"))
        unknown = _keys(observer, app) - known
        assert not unknown or (state["rotation_failing"] and len(unknown) == 1)
        worker = ExpiryWorker(second)
        worker.run_once()
        azure_clock.advance(3600)
        worker.run_once()
        state = second.read("azure/static-roles/pay")
        assert not state["rotation_failing"]
        assert _keys(observer, app) == {state["secret_id"], *state["previous_secret_ids"]}
        assert _works(azure, second.read("azure/static-creds/pay"))
    first.close()


def test_readme_lists_the_permissions_of_static_roles_and_verify(
    azure_mount: Mount, azure: AzureFakes, azure_clock: ManualClock, existing: dict[str, Any]
) -> None:
    """Every call a static role's import, rotation, retirement and delete make, and
    those of verify=true, needs a permission the README's Azure section names."""
    from dynsecrets.testing.azure.permissions import PERMISSIONS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Azure") :]
    section = section[: section.index("\n### ", 4)]
    engine = azure_mount.engine
    azure.faults.calls.clear()
    azure.grant_arm("Role Based Access Control Administrator")
    engine.write(
        "azure/static-roles/pay",
        application_object_id=existing["app"]["id"],
        rotation_period="1h",
        rotation_grace_period="5m",
        verify=True,
    )
    azure_mount.write_role(
        "app",
        verify=True,
        azure_roles=roles_json(
            {"role_name": "Reader", "scope": f"/subscriptions/{azure.directory.subscription_id}"}
        ),
    )
    engine.write("azure/static-roles/pay/rotate")
    azure_clock.advance(3600)
    ExpiryWorker(engine).run_once()
    engine.delete("azure/static-roles/pay")
    used = set(azure.faults.calls)
    assert {"ListAppRoleAssignments", "ListPermissions", "AddPassword", "RemovePassword"} <= used
    assert used - set(PERMISSIONS) == set(), "a call with no known permission"
    needed = sorted({p for op in used for p in PERMISSIONS[op]})
    assert needed and [p for p in needed if p not in section] == []


def test_an_update_past_secret_expiry_is_refused_and_changes_nothing(
    azure_mount: Mount, azure: AzureFakes, existing: dict[str, Any], observer: Observer
) -> None:
    engine, app = azure_mount.engine, existing["app"]
    engine.write(
        "azure/static-roles/pay",
        application_object_id=app["id"],
        rotation_period="1h",
        secret_expiry="7d",
    )
    before = engine.read("azure/static-roles/pay")
    keys = _keys(observer, app)
    azure.faults.calls.clear()
    with pytest.raises(ValidationError) as info:
        engine.write("azure/static-roles/pay", rotation_period="30d")
    assert info.value.field == "secret_expiry"
    assert engine.read("azure/static-roles/pay") == before
    assert _keys(observer, app) == keys
    assert "AddPassword" not in azure.faults.calls


def test_the_mounts_own_root_application_is_refused(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    root = azure.root["app"]
    keys = _keys(observer, root)
    azure.faults.calls.clear()
    with pytest.raises(ValidationError, match="config/rotate-root") as info:
        azure_mount.engine.write(
            "azure/static-roles/root", application_object_id=root["id"], rotation_period="1h"
        )
    assert info.value.field == "application_object_id"
    assert "AddPassword" not in azure.faults.calls
    assert _keys(observer, root) == keys
    assert azure_mount.engine.list("azure/static-roles") == []
