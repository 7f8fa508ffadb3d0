"""The permission each call served by the fakes needs, from Microsoft's references
(Graph: the least privileged application permission on each API's page; ARM: the
Microsoft.Authorization action); some calls need several. A test checks the README
lists every one used."""

from __future__ import annotations

OWNED = "Application.ReadWrite.OwnedBy"
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "OpenIdConfiguration": (),
    "Token": (),
    "CreateApplication": (OWNED,),
    "ListApplications": (OWNED,),
    "GetApplication": (OWNED,),
    "DeleteApplication": (OWNED,),
    "AddPassword": (OWNED,),
    "RemovePassword": (OWNED,),
    "CreateServicePrincipal": (OWNED,),
    "ListServicePrincipals": (OWNED,),
    "DeleteServicePrincipal": (OWNED,),
    # Telling "already a member" from "not replicated yet" (both 400 on add).
    "ListMemberOf": ("Application.Read.All",),
    "ListDeletedApplications": (OWNED,),
    # verify: the root's own Graph application permissions (the reference lists
    # Application.Read.All first, and Application.ReadWrite.OwnedBy among those that do).
    "ListAppRoleAssignments": (OWNED,),
    "PurgeDeletedItem": (OWNED,),
    "ListGroups": ("GroupMember.Read.All",),
    "GetGroup": ("GroupMember.Read.All",),
    # Graph's table for a servicePrincipal member asks for both.
    "AddGroupMember": ("GroupMember.ReadWrite.All", "Application.ReadWrite.All"),
    "RemoveGroupMember": ("GroupMember.ReadWrite.All",),
    # verify: any caller may read its own permissions at a scope.
    "ListPermissions": (),
    "ListRoleDefinitions": ("Microsoft.Authorization/roleDefinitions/read",),
    "GetRoleDefinition": ("Microsoft.Authorization/roleDefinitions/read",),
    "CreateRoleAssignment": ("Microsoft.Authorization/roleAssignments/write",),
    "GetRoleAssignment": ("Microsoft.Authorization/roleAssignments/read",),
    "ListRoleAssignments": ("Microsoft.Authorization/roleAssignments/read",),
    "DeleteRoleAssignment": ("Microsoft.Authorization/roleAssignments/delete",),
}
