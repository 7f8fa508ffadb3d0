"""Azure provider behaviour against the TLS fakes: both modes, role and group names,
propagation faults by code, explicit_max_ttl, permanently_delete, wait_until_usable,
rotate-root, validation, logging, lazy imports."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import LeaseState, ManualClock, Mount
from dynsecrets.errors import PermanentProviderError, ValidationError
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
from ._project import entry_points
from ._project import extra as extra_of

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point", "azure_mount"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def full_role(azure_mount: Mount, azure: AzureFakes) -> str:
    azure.add_group("devs")
    by_id = azure.add_group("ops")
    azure_mount.write_role(
        "full",
        azure_roles=roles_json(
            {"role_name": "Reader", "scope": sub_scope(azure)},
            {
                "role_id": "b24988ac-6180-42a0-ab88-20f7382dd24c",
                "scope": sub_scope(azure) + "/resourceGroups/rg-1",
            },
        ),
        azure_groups=roles_json({"group_name": "devs"}, {"object_id": by_id}),
        tags=["team:payments"],
        metadata={"purpose": "ci"},
        explicit_max_ttl="48h",
        ttl="1h",
        max_ttl="24h",
    )
    return "full"


def test_dynamic_issue_and_revoke(azure_mount: Mount, azure: AzureFakes, full_role: str) -> None:
    lease = azure_mount.issue(full_role)
    d = azure.directory
    (app,) = dynsecrets_apps(azure)
    assert app["appId"] == lease.data["client_id"]
    assert f"dynsecrets:lease={lease.lease_id}" in app["tags"]
    assert f"dynsecrets:store={azure_mount.engine.store_id}" in app["tags"]
    assert "team:payments" in app["tags"]
    (sp,) = [s for s in d.service_principals.values() if s["appId"] == app["appId"]]
    assignments = list(d.role_assignments.values())
    assert {a["principalId"] for a in assignments} == {sp["id"]}
    assert {a["principalType"] for a in assignments} == {"ServicePrincipal"}
    assert {a["roleDefinitionId"].rsplit("/", 1)[1] for a in assignments} == {
        READER,
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
    }
    assert all(sp["id"] in g["members"] for g in d.groups.values())
    # The password ends at explicit_max_ttl from issue, even if revocation never runs.
    (cred,) = app["passwordCredentials"]
    end = dt.datetime.fromisoformat(cred["endDateTime"].replace("Z", "+00:00")).timestamp()
    assert abs(end - (lease.issued_at + 48 * 3600)) < 1
    assert lease.data["purpose"] == "ci" and lease.data["tenant_id"] == d.tenant_id
    assert set(lease.environ()) >= {"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"}
    # The lease's max TTL is the password's lifetime; renew never passes it.
    info = azure_mount.engine.renew(lease.lease_id, increment="100000h")
    assert info.expires_at <= lease.issued_at + 24 * 3600
    # The new secret obtains a token through the real azure-identity.
    credential = lease.azure_credential(connection_verify=azure.ca_bundle)
    assert credential.get_token("https://graph.microsoft.com/.default").token
    azure_mount.engine.revoke(lease.lease_id)
    assert_nothing_left(azure)


def test_password_expires_with_explicit_max_ttl(
    azure_mount: Mount, azure: AzureFakes, azure_clock: ManualClock, full_role: str
) -> None:
    lease = azure_mount.issue(full_role)
    azure_clock.advance(48 * 3600 + 1)
    credential = lease.azure_credential(connection_verify=azure.ca_bundle)
    from azure.core.exceptions import ClientAuthenticationError

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000222"):
        credential.get_token("https://graph.microsoft.com/.default")


def test_permanently_delete_false_keeps_the_deleted_item(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    azure_mount.write_role(
        "keep",
        azure_roles=roles_json({"role_id": READER, "scope": sub_scope(azure)}),
        permanently_delete=False,
    )
    lease = azure_mount.issue("keep")
    azure_mount.engine.revoke(lease.lease_id)
    assert dynsecrets_apps(azure) == []
    assert [a["appId"] for a in azure.directory.deleted.values()] == [lease.data["client_id"]]


def test_existing_app_adds_and_removes_only_its_password(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    app = azure.directory.add_application("payments")
    azure.directory.add_service_principal(app, [])
    azure.directory.add_password(app, "human", None)
    azure_mount.write_role("pay", application_object_id=app["id"], metadata={"env": "prod"})
    lease = azure_mount.issue("pay")
    assert lease.data["client_id"] == app["appId"] and lease.data["env"] == "prod"
    assert len(app["passwordCredentials"]) == 2
    credential = lease.azure_credential(connection_verify=azure.ca_bundle)
    assert credential.get_token("https://management.azure.com/.default").token
    # Someone removed it by hand: revoke still succeeds ("not found" is success).
    key = next(c["keyId"] for c in app["passwordCredentials"] if c["displayName"] != "human")
    app["passwordCredentials"] = [c for c in app["passwordCredentials"] if c["keyId"] != key]
    azure_mount.engine.revoke(lease.lease_id)
    assert [c["displayName"] for c in app["passwordCredentials"]] == ["human"]
    assert azure.directory.app_by_app_id(app["appId"]) is app


def test_role_name_must_name_exactly_one_definition(azure_mount: Mount, azure: AzureFakes) -> None:
    first = azure.add_role_definition("Deployer")
    second = azure.add_role_definition("deployer")  # ARM matches names case-insensitively
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role(
            "dup", azure_roles=roles_json({"role_name": "Deployer", "scope": sub_scope(azure)})
        )
    assert info.value.field == "azure_roles"
    assert first in str(info.value) and second in str(info.value)
    with pytest.raises(ValidationError, match="matches 0 role definitions"):
        azure_mount.write_role(
            "none", azure_roles=roles_json({"role_name": "No Such", "scope": sub_scope(azure)})
        )
    assert azure_mount.roles() == [] and dynsecrets_apps(azure) == []


def test_group_name_must_name_exactly_one_group(azure_mount: Mount, azure: AzureFakes) -> None:
    azure.add_group("twins")
    azure.add_group("twins")
    azure_mount.write_role("g", azure_groups=roles_json({"group_name": "twins"}))
    with pytest.raises(PermanentProviderError, match="matches 2 groups"):
        azure_mount.issue("g")
    # Resolved before the first create: nothing made, no lease left.
    assert dynsecrets_apps(azure) == [] and azure_mount.engine.leases() == []


def _j(*items: dict[str, Any]) -> str:
    return json.dumps(list(items))


ZERO = "00000000-0000-0000-0000-000000000000"
BAD_ROLES: list[tuple[dict[str, Any], str]] = [
    ({}, "azure_roles"),
    ({"azure_roles": _j({"role_id": "not-a-guid", "scope": "/"})}, "azure_roles"),
    ({"azure_roles": _j({"role_id": READER, "scope": "subscriptions/x"})}, "azure_roles"),
    ({"azure_roles": _j({"role_id": READER})}, "azure_roles"),
    ({"azure_roles": _j({"role_id": READER, "role_name": "Reader", "scope": "/"})}, "azure_roles"),
    ({"azure_roles": _j({"role_id": READER, "scope": "/", "extra": 1})}, "azure_roles"),
    (
        {
            "azure_roles": _j(
                {"role_id": READER, "scope": f"/subscriptions/{ZERO}/resourceGroups/{'r' * 91}"}
            )
        },
        "azure_roles",
    ),
    ({"azure_groups": _j({"object_id": "nope"})}, "azure_groups"),
    ({"azure_groups": _j({"group_name": "a", "object_id": READER})}, "azure_groups"),
    ({"application_object_id": "not-a-guid"}, "application_object_id"),
    ({"application_object_id": READER, "permanently_delete": True}, "permanently_delete"),
    (
        {"application_object_id": READER, "azure_roles": _j({"role_id": READER, "scope": "/"})},
        "azure_roles",
    ),
    ({"application_object_id": READER, "persist_app": True}, "persist_app"),
    ({"application_object_id": READER, "explicit_max_ttl": "30s"}, "explicit_max_ttl"),
    ({"application_object_id": READER, "explicit_max_ttl": "1h", "ttl": "2h"}, "ttl"),
    ({"application_object_id": READER, "explicit_max_ttl": "1h", "max_ttl": "2h"}, "max_ttl"),
    ({"application_object_id": READER, "metadata": {"client_secret": "x"}}, "metadata"),
    ({"azure_groups": _j({"object_id": READER}), "tags": ["t" * 257]}, "tags"),
    ({"azure_groups": _j({"object_id": READER}), "tags": ["dynsecrets:lease=x"]}, "tags"),
    (
        {"azure_groups": _j({"object_id": READER}), "sign_in_audience": "Everyone"},
        "sign_in_audience",
    ),
]


@pytest.mark.parametrize(("fields", "field"), BAD_ROLES)
def test_bad_roles_are_refused_at_write(
    azure_mount: Mount, azure: AzureFakes, fields: dict[str, Any], field: str
) -> None:
    azure.faults.calls.clear()
    with pytest.raises(ValidationError) as info:
        azure_mount.write_role("bad", **fields)
    assert info.value.field == field, info.value
    assert azure_mount.roles() == []
    assert not {"CreateApplication", "AddPassword"} & set(azure.faults.calls)


BAD_CONFIG: list[tuple[dict[str, Any], str]] = [
    ({"graph_endpoint": "http://127.0.0.1:1"}, "graph_endpoint"),
    ({"arm_endpoint": "https://x/v1.0"}, "arm_endpoint"),
    ({"authority": "https://user:pw@host"}, "authority"),
    ({"subscription_id": "sub"}, "subscription_id"),
    ({"tenant_id": "not a tenant"}, "tenant_id"),
    ({"client_id": "~secret-looking~", "client_secret": "x"}, "client_id"),
    ({"client_secret": None}, "client_secret"),
    ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
    ({"ca_bundle": __file__}, "ca_bundle"),
    ({"environment": "AzureMoon"}, "environment"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CONFIG)
def test_bad_config_is_refused(
    azure_engine: Any, azure: AzureFakes, change: dict[str, Any], field: str
) -> None:
    mount = azure_engine.enable("az", "azure")
    with pytest.raises(ValidationError) as info:
        mount.configure(**{**azure.config(), **change})
    assert info.value.field == field
    assert "~secret-looking~" not in str(info.value)


PROPAGATION = [
    ("CreateServicePrincipal", 400, "Request_BadRequest"),
    ("AddPassword", 404, "Request_ResourceNotFound"),
    ("CreateRoleAssignment", 400, "PrincipalNotFound"),
    ("AddGroupMember", 404, "Request_ResourceNotFound"),
    ("AddGroupMember", 400, "Request_BadRequest"),  # Graph's answer for a new member
    ("CreateApplication", 429, "TooManyRequests"),
    ("CreateRoleAssignment", 503, "ServiceUnavailable"),
]


@pytest.mark.parametrize(("op", "status", "code"), PROPAGATION)
def test_propagation_and_throttling_are_retried_by_code(
    azure_mount: Mount, azure: AzureFakes, full_role: str, op: str, status: int, code: str
) -> None:
    # A wording no list of strings would know: the code decides.
    azure.faults.error(op, status, code, message="Brand new wording, seen first today.", times=3)
    azure.faults.calls.clear()
    lease = azure_mount.issue(full_role)
    once = {"CreateRoleAssignment": 2, "AddGroupMember": 2}.get(op, 1)  # two of each
    assert azure.faults.calls.count(op) == 3 + once
    assert azure_mount.engine.lookup(lease.lease_id).state == LeaseState.ACTIVE
    azure_mount.engine.revoke(lease.lease_id)
    assert_nothing_left(azure)


@pytest.mark.parametrize(
    ("op", "status", "code"),
    [
        ("CreateApplication", 403, "Authorization_RequestDenied"),
        ("CreateServicePrincipal", 403, "Authorization_RequestDenied"),
        ("CreateRoleAssignment", 403, "AuthorizationFailed"),
        ("AddGroupMember", 403, "Authorization_RequestDenied"),
        ("AddPassword", 400, "Request_BadRequest"),
    ],
)
def test_permanent_errors_fail_at_once_and_roll_back(
    azure_mount: Mount, azure: AzureFakes, full_role: str, op: str, status: int, code: str
) -> None:
    azure.faults.error(op, status, code)
    azure.faults.calls.clear()
    with pytest.raises(PermanentProviderError, match=code):
        azure_mount.issue(full_role)
    assert azure.faults.calls.count(op) == 1
    assert azure_mount.engine.leases() == []
    assert_nothing_left(azure)


def test_new_group_that_is_gone_is_permanent(azure_mount: Mount, azure: AzureFakes) -> None:
    gone = azure.add_group("gone")
    azure_mount.write_role("g", azure_groups=roles_json({"object_id": gone}))
    del azure.directory.groups[gone]
    with pytest.raises(PermanentProviderError, match="does not exist"):
        azure_mount.issue("g")
    assert_nothing_left(azure)


@pytest.mark.parametrize(
    "op", ["CreateApplication", "CreateServicePrincipal", "CreateRoleAssignment", "AddGroupMember"]
)
def test_lost_create_replies_are_reconciled(
    azure_mount: Mount, azure: AzureFakes, full_role: str, op: str
) -> None:
    azure.faults.lose_reply(op)
    lease = azure_mount.issue(full_role)
    assert len(dynsecrets_apps(azure)) == 1
    assert len(azure.directory.service_principals) == 2  # root's and the lease's
    assert len(azure.directory.role_assignments) == 2
    azure_mount.engine.revoke(lease.lease_id)
    assert_nothing_left(azure)


def test_wait_until_usable(azure_mount: Mount, azure: AzureFakes, full_role: str) -> None:
    azure_mount.engine.revoke(azure_mount.issue(full_role).lease_id)  # root tokens cached
    azure.faults.error("Token", 401, "AADSTS7000215", times=2)
    azure.faults.calls.clear()
    lease = azure_mount.issue(full_role, wait_until_usable=True)
    assert azure.faults.calls.count("Token") == 3 and lease.warnings == ()
    azure.faults.error("Token", 401, "AADSTS7000215", times=10_000)
    late = azure_mount.issue(full_role, wait_until_usable=True)
    assert any("obtained no token" in w for w in late.warnings)
    assert azure_mount.engine.lookup(late.lease_id).state == LeaseState.ACTIVE


def test_rotate_root(azure_mount: Mount, azure: AzureFakes, full_role: str) -> None:
    old = azure_mount.root_config()["client_secret"]
    azure_mount.rotate_root()
    new = azure_mount.root_config()["client_secret"]
    assert new != old
    (cred,) = azure.root["app"]["passwordCredentials"]
    assert cred["hint"] == new[:3]
    assert azure.directory.check_secret(azure.root["app"]["appId"], old) == "AADSTS7000215"
    azure_mount.provider.close()  # no cached token: the new secret must work on its own
    azure_mount.engine.revoke(azure_mount.issue(full_role).lease_id)


def test_rotate_root_keeps_the_old_secret_when_the_new_never_works(
    azure_mount: Mount, azure: AzureFakes, full_role: str
) -> None:
    azure_mount.engine.revoke(azure_mount.issue(full_role).lease_id)  # root tokens cached
    old = azure_mount.root_config()["client_secret"]
    azure.faults.error("Token", 401, "AADSTS7000215", times=10_000)
    with pytest.raises(PermanentProviderError, match="it was removed and the old secret stays"):
        azure_mount.rotate_root()
    azure.faults.clear()
    assert azure_mount.root_config()["client_secret"] == old
    assert [c["displayName"] for c in azure.root["app"]["passwordCredentials"]] == ["initial"]
    azure_mount.provider.close()
    azure_mount.engine.revoke(azure_mount.issue(full_role).lease_id)


def test_logs_never_show_secrets(
    azure_mount: Mount, azure: AzureFakes, full_role: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("azure", "msal", "urllib3", "dynsecrets"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    lease = azure_mount.issue(full_role, wait_until_usable=True)
    lease.azure_credential(connection_verify=azure.ca_bundle).get_token(
        "https://graph.microsoft.com/.default"
    )
    azure_mount.engine.revoke(lease.lease_id)
    assert caplog.records, "nothing was logged: the check would be empty"
    for secret in (lease.data["client_secret"], azure.root["client_secret"]):
        assert secret not in caplog.text
    assert lease.data["client_secret"] not in repr(lease) + str(lease.env)


def test_import_dynsecrets_loads_no_azure_module() -> None:
    code = (
        "import sys, dynsecrets, dynsecrets.providers.azure; dynsecrets.Engine; "
        "print([m for m in sys.modules if m.split('.')[0] in ('azure', 'msal')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"


def test_pyproject_declares_the_provider_and_extra() -> None:
    assert entry_points("dynsecrets.providers")["azure"] == (
        "dynsecrets.providers.azure:AzureProvider"
    )
    extra = " ".join(extra_of("azure"))
    for dist in ("azure-identity", "azure-mgmt-authorization", "azure-core"):
        assert dist in extra
    assert not any("msgraph" in d for d in extra_of("azure"))
    assert any("azure" in d for d in extra_of("test"))
