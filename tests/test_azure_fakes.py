"""The fakes answer as Microsoft's references say (azure-rest-api-specs authorization
2022-04-01, Graph v1.0), driven through the provider's own real-SDK clients, and the
provider copes with each answer."""

from __future__ import annotations

import uuid

import pytest

from dynsecrets import Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.azure import passwords
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    assert_nothing_left,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point", "azure_mount"]
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


def _principal(azure: AzureFakes, name: str) -> str:
    app = azure.directory.add_application(name)
    return str(azure.directory.add_service_principal(app, [])["id"])


def test_role_assignment_put_is_create_or_update(azure_mount: Mount, azure: AzureFakes) -> None:
    arm = azure_mount.provider._arm(azure_mount.root_config())
    scope, name = sub_scope(azure), str(uuid.uuid4())
    sp, other = _principal(azure, "a"), _principal(azure, "b")
    reader = arm.role_definition_id(READER)
    first = arm.create_assignment(scope, name, reader, sp, ())
    # The same PUT again (a retry after a lost reply) is the same assignment: 200.
    assert arm.create_assignment(scope, name, reader, sp, ()) == first
    assert len(azure.directory.role_assignments) == 1
    # The same name for another principal or role: refused, nothing changes.
    for principal, role in ((other, reader), (sp, arm.role_definition_id(CONTRIBUTOR))):
        with pytest.raises(PermanentProviderError) as info:
            arm.create_assignment(scope, name, role, principal, ())
        assert info.value.code == "RoleAssignmentUpdateNotPermitted"
    # The same principal, role and scope under another name: 409.
    with pytest.raises(PermanentProviderError) as info:
        arm.create_assignment(scope, str(uuid.uuid4()), reader, sp, ())
    assert info.value.code == "RoleAssignmentExists"
    # DELETE answers 200 with the assignment, then 204: both success.
    arm.delete_assignment(scope, name)
    arm.delete_assignment(scope, name)
    assert azure.directory.role_assignments == {}


def test_second_service_principal_for_an_app_is_409(azure_mount: Mount, azure: AzureFakes) -> None:
    graph = azure_mount.provider._graph(azure_mount.root_config())
    app = azure.directory.add_application("one")
    graph.create_service_principal(app["appId"], [], ())
    with pytest.raises(PermanentProviderError) as info:
        graph.create_service_principal(app["appId"], [], ())
    assert info.value.code == "Request_MultipleObjectsWithSameKeyValue"
    assert "409" in str(info.value)


@pytest.mark.parametrize(("status", "code"), [(None, None), (404, "Request_ResourceNotFound")])
def test_remove_of_an_unknown_password_is_success(
    azure_mount: Mount, azure: AzureFakes, status: int | None, code: str | None
) -> None:
    """Graph's reference documents no reply for an unknown keyId: the fake's own 400
    and a 404 both end as success once the app's passwords lack the key."""
    graph = azure_mount.provider._graph(azure_mount.root_config())
    app = azure.directory.add_application("existing")
    kept = azure.directory.add_password(app, "human", None)
    if status is not None and code is not None:
        azure.faults.error("RemovePassword", status, code)
    azure.faults.calls.clear()
    passwords.remove(graph, azure_mount.provider._retry, app["id"], str(uuid.uuid4()))
    graph_calls = [c for c in azure.faults.calls if c not in ("OpenIdConfiguration", "Token")]
    # One removePassword (not retried); a 400 is checked against the app's passwords,
    # a 404 ("not found") is success as it stands.
    assert graph_calls == ["RemovePassword"] + (["GetApplication"] if status is None else [])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [kept["keyId"]]


def test_member_add_400_is_told_apart_by_the_principals_groups(
    azure_mount: Mount, azure: AzureFakes
) -> None:
    group = azure.add_group("devs")
    azure_mount.write_role("g", azure_groups=roles_json({"object_id": group}))
    # Not replicated yet (400) twice, then a lost reply on the add that got through:
    # the retry's 400 "already a member" is success because memberOf lists the group.
    azure.faults.error("AddGroupMember", 400, "Request_BadRequest", times=2)
    azure.faults.lose_reply("AddGroupMember")
    azure.faults.calls.clear()
    lease = azure_mount.issue("g")
    assert azure.faults.calls.count("AddGroupMember") == 4
    assert azure.faults.calls.count("ListMemberOf") == 3
    (sp,) = azure.directory.groups[group]["members"]
    assert azure.directory.service_principals[sp]["appId"] == lease.data["client_id"]
    azure_mount.engine.revoke(lease.lease_id)
    assert_nothing_left(azure)
