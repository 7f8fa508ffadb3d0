"""verify on Azure: tokens for Graph and ARM, the root's Graph application
permissions (its appRoleAssignments), and ARM's Microsoft.Authorization/permissions
at each scope a role assigns at; a missing permission is reported by name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.errors import PermanentProviderError, ValidationError
from dynsecrets.providers.azure.verify import allowed
from dynsecrets.testing.azure import AzureFakes
from dynsecrets.testing.azure._http import HTTPError
from dynsecrets.testing.azure.directory import ARM_AUDIENCE

from ._azure import (
    READER,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point", "azure_mount"]
WRITE = "Microsoft.Authorization/roleAssignments/write"
DELETE = "Microsoft.Authorization/roleAssignments/delete"
READ = "Microsoft.Authorization/roleAssignments/read"
DEFINITIONS = "Microsoft.Authorization/roleDefinitions/read"


def _verify(mount: Mount, role: dict[str, Any] | None) -> list[str]:
    return mount.provider.verify(mount.root_config(), role)


def _role(mount: Mount, **fields: Any) -> dict[str, Any]:
    return mount.provider.validate_role("r", fields)


def test_config_level(azure_mount: Mount, azure: AzureFakes) -> None:
    assert _verify(azure_mount, None) == []
    azure.set_graph_permissions("Application.ReadWrite.OwnedBy")
    assert _verify(azure_mount, None) == []
    azure.set_graph_permissions("GroupMember.ReadWrite.All", "Directory.Read.All")
    assert _verify(azure_mount, None) == ["Application.ReadWrite.OwnedBy"]
    azure.set_graph_permissions()
    assert _verify(azure_mount, None) == ["Application.ReadWrite.OwnedBy"]
    assert "ListAppRoleAssignments" in azure.faults.calls


def test_role_scopes_are_checked_in_arm(azure_mount: Mount, azure: AzureFakes) -> None:
    scope = sub_scope(azure)
    rg = f"{scope}/resourceGroups/app-rg"
    role = _role(
        azure_mount,
        azure_roles=roles_json(
            {"role_id": READER, "scope": rg}, {"role_name": "Reader", "scope": scope}
        ),
    )
    missing = _verify(azure_mount, role)
    assert f"{WRITE} on {rg}" in missing and f"{DELETE} on {scope}" in missing
    assert f"{DEFINITIONS} on {scope}" in missing
    assert f"{DEFINITIONS} on {rg}" not in missing  # role_id: no name to resolve there
    # Contributor may read everything but not write or delete role assignments.
    azure.grant_arm("Contributor", scope)
    assert _verify(azure_mount, role) == [
        f"{WRITE} on {rg}",
        f"{DELETE} on {rg}",
        f"{WRITE} on {scope}",
        f"{DELETE} on {scope}",
    ]
    # Granted at the resource group only: the subscription scope still lacks them.
    azure.grant_arm("Role Based Access Control Administrator", rg)
    assert _verify(azure_mount, role) == [f"{WRITE} on {scope}", f"{DELETE} on {scope}"]
    # From a management group above: inherited everywhere below it.
    azure.grant_arm(
        "User Access Administrator",
        f"/providers/Microsoft.Management/managementGroups/{azure.directory.tenant_id}",
    )
    assert _verify(azure_mount, role) == []
    assert "ListPermissions" in azure.faults.calls


def test_groups_need_more_graph_permissions(azure_mount: Mount, azure: AzureFakes) -> None:
    azure.add_group("devs")
    role = _role(azure_mount, azure_groups=json.dumps([{"group_name": "devs"}]))
    assert _verify(azure_mount, role) == []
    azure.set_graph_permissions("Application.ReadWrite.OwnedBy")
    assert _verify(azure_mount, role) == ["GroupMember.ReadWrite.All", "Application.ReadWrite.All"]
    azure.set_graph_permissions("Application.ReadWrite.All", "Group.ReadWrite.All")
    assert _verify(azure_mount, role) == []


def test_existing_application(azure_mount: Mount, azure: AzureFakes) -> None:
    app = azure.directory.add_application("existing")
    assert _verify(azure_mount, _role(azure_mount, application_object_id=app["id"])) == []
    gone = _role(azure_mount, application_object_id="aaaaaaaa-0000-4000-8000-000000000000")
    with pytest.raises(ValidationError) as info:
        _verify(azure_mount, gone)
    assert info.value.field == "application_object_id"
    azure.faults.error("GetApplication", 403, "Authorization_RequestDenied")
    (missing,) = _verify(azure_mount, _role(azure_mount, application_object_id=app["id"]))
    assert missing.startswith("Application.ReadWrite.OwnedBy as an owner of application")


@pytest.mark.parametrize(
    ("fault", "code"),
    [("AADSTS700016", "ClientNotFound"), ("AADSTS7000222", "ClientSecretExpired")],
)
def test_a_credential_that_gets_no_token_is_an_error(
    azure_mount: Mount, azure: AzureFakes, fault: str, code: str
) -> None:
    azure.faults.error("Token", 401, fault)
    with pytest.raises(PermanentProviderError) as info:
        _verify(azure_mount, None)
    assert info.value.code == code and "Microsoft Graph token" in str(info.value)


def test_a_refused_secret_is_an_error(azure_mount: Mount, azure: AzureFakes) -> None:
    azure_mount.configure(**{**azure.config(), "client_secret": "not-the-secret"})
    with pytest.raises(PermanentProviderError) as info:
        _verify(azure_mount, None)
    assert info.value.code == "InvalidClientSecret"


def test_an_arm_token_is_needed_too(
    azure_mount: Mount, azure: AzureFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = azure.directory.issue_token

    def issue(app_id: str, audience: str) -> tuple[str, int]:
        if audience == ARM_AUDIENCE:
            # What Entra ID answers for a resource the tenant does not know.
            raise HTTPError(
                400,
                "invalid_resource",
                body={
                    "error": "invalid_resource",
                    "error_description": "AADSTS500011: The resource principal was not found.",
                    "error_codes": [500011],
                },
            )
        return real(app_id, audience)

    monkeypatch.setattr(azure.directory, "issue_token", issue)
    with pytest.raises(PermanentProviderError) as info:
        _verify(azure_mount, None)
    assert "no ARM token" in str(info.value) and info.value.code == "invalid_resource"


@pytest.mark.parametrize(
    ("action", "entries", "expected"),
    [
        (WRITE, [{"actions": ["*"]}], True),
        (WRITE, [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}], False),
        (READ, [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}], True),
        (WRITE, [{"actions": ["microsoft.authorization/*"]}], True),
        (WRITE, [{"actions": ["*/read"]}], False),
        (READ, [{"actions": ["*/read"]}], True),
        # A notAction takes away only from its own entry, not from another role's.
        (
            WRITE,
            [
                {"actions": ["*"], "notActions": ["Microsoft.Authorization/*"]},
                {"actions": [WRITE]},
            ],
            True,
        ),
        (WRITE, [], False),
    ],
)
def test_arm_wildcards(action: str, entries: list[dict[str, Any]], expected: bool) -> None:
    assert allowed(action, entries) is expected


def test_the_default_chain_is_verified_as_the_app_its_token_names(
    azure_mount: Mount, azure: AzureFakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = azure.config()
    monkeypatch.setenv("AZURE_CLIENT_ID", config.pop("client_id"))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", config.pop("client_secret"))
    monkeypatch.setenv("AZURE_TENANT_ID", config["tenant_id"])
    azure_mount.configure(**config)
    assert _verify(azure_mount, None) == []
    azure.set_graph_permissions("Directory.Read.All")
    assert _verify(azure_mount, None) == ["Application.ReadWrite.OwnedBy"]
