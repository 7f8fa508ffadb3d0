"""An Azure Resource Manager fake for Microsoft.Authorization (api-version
2022-04-01): role definitions and role assignments, with ARM's real error codes
(PrincipalNotFound, RoleAssignmentExists, RoleDefinitionDoesNotExist, ...).

Checked against azure-rest-api-specs ``authorization-RoleAssignmentsCalls.json`` and
its examples: PUT is create-or-update (201 new, 200 existing); DELETE answers 200 with
the deleted assignment or 204 when there was none; GET of a missing one is an error.
The spec leaves error codes to ``ErrorResponse``; the codes here are the service's:
409 ``RoleAssignmentExists`` (same principal, role and scope under another name), 400
``RoleAssignmentUpdateNotPermitted`` (same name, different principal or role)."""

from __future__ import annotations

import re
from typing import Any

from ._http import HTTPError, Request, Route
from .directory import ARM_AUDIENCE, Directory

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SCOPE = r"(?P<scope>(?:/[^/]+/[^/]+)*?)"
_AUTH = "/providers/Microsoft.Authorization"
_ROLE_NAME = re.compile(r"roleName eq '(?P<v>(?:[^']|'')*)'")
_PRINCIPAL = re.compile(r"principalId eq '(?P<v>[0-9a-fA-F-]{36})'")


def _permission(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "actions": list(entry.get("actions") or []),
        "notActions": list(entry.get("notActions") or []),
        "dataActions": list(entry.get("dataActions") or []),
        "notDataActions": list(entry.get("notDataActions") or []),
    }


def _applies(held: str, scope: str) -> bool:
    """An assignment at ``held`` applies at ``scope`` when ``held`` is ``scope`` or
    above it (management groups sit above every subscription here)."""
    held, scope = held.lower().rstrip("/") or "/", scope.lower().rstrip("/") or "/"
    if held == "/" or held.startswith("/providers/microsoft.management/managementgroups/"):
        return True
    return scope == held or scope.startswith(held + "/")


class ArmFake:
    def __init__(self, directory: Directory) -> None:
        self.d = directory

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                f"{_SCOPE}{_AUTH}/roleDefinitions",
                "ListRoleDefinitions",
                self.list_definitions,
            ),
            Route(
                "GET",
                f"{_SCOPE}{_AUTH}/roleDefinitions/(?P<guid>{_GUID})",
                "GetRoleDefinition",
                self.get_definition,
            ),
            Route("GET", f"{_SCOPE}{_AUTH}/permissions", "ListPermissions", self.permissions),
            Route(
                "GET",
                f"{_SCOPE}{_AUTH}/roleAssignments",
                "ListRoleAssignments",
                self.list_assignments,
            ),
            Route(
                "PUT",
                f"{_SCOPE}{_AUTH}/roleAssignments/(?P<name>[^/]+)",
                "CreateRoleAssignment",
                self.create_assignment,
            ),
            Route(
                "GET",
                f"{_SCOPE}{_AUTH}/roleAssignments/(?P<name>[^/]+)",
                "GetRoleAssignment",
                self.get_assignment,
            ),
            Route(
                "DELETE",
                f"{_SCOPE}{_AUTH}/roleAssignments/(?P<name>[^/]+)",
                "DeleteRoleAssignment",
                self.delete_assignment,
            ),
        ]

    def _auth(self, req: Request) -> str:
        if req.query.get("api-version") is None:
            raise HTTPError(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
        app_id = self.d.token_app(req.headers.get("Authorization"), ARM_AUDIENCE)
        if app_id is None:
            raise HTTPError(401, "InvalidAuthenticationToken", "The access token is invalid.")
        return app_id

    def _scope(self, scope: str) -> str:
        s = scope or "/"
        sub = re.match(r"/subscriptions/([^/]+)", s, re.IGNORECASE)
        if sub and sub.group(1).lower() != self.d.subscription_id:
            raise HTTPError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{sub.group(1)}' could not be found.",
            )
        return s

    def _definition(self, guid: str) -> dict[str, Any]:
        found = self.d.role_definitions.get(guid.lower())
        if found is None:
            raise HTTPError(
                404, "RoleDefinitionDoesNotExist", "The specified role definition does not exist."
            )
        return {
            "id": f"/subscriptions/{self.d.subscription_id}{_AUTH}/roleDefinitions/{guid.lower()}",
            "name": guid.lower(),
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": found["roleName"],
                "type": found["type"],
                "description": "",
                "assignableScopes": ["/"],
                "permissions": [
                    _permission(p) for p in found.get("permissions") or [{"actions": ["*"]}]
                ],
            },
        }

    def list_definitions(self, req: Request, scope: str) -> tuple[int, Any]:
        self._auth(req)
        self._scope(scope)
        odata = req.query.get("$filter")
        m = _ROLE_NAME.fullmatch(odata.strip()) if odata else None
        if odata and m is None:
            raise HTTPError(400, "InvalidFilter", f"Unsupported filter: {odata}")
        wanted = m.group("v").replace("''", "'").lower() if m else None
        value = [
            self._definition(g)
            for g, d in self.d.role_definitions.items()
            if wanted is None or d["roleName"].lower() == wanted
        ]
        return 200, {"value": value}

    def get_definition(self, req: Request, scope: str, guid: str) -> tuple[int, Any]:
        self._auth(req)
        self._scope(scope)
        return 200, self._definition(guid)

    def permissions(self, req: Request, scope: str) -> tuple[int, Any]:
        """``Microsoft.Authorization/permissions``: what the caller may do at the scope,
        one entry per role definition it holds there or above (any caller may ask)."""
        app_id = self._auth(req)
        s = self._scope(scope)
        with self.d.lock:
            principals = {
                sp_id for sp_id, sp in self.d.service_principals.items() if sp["appId"] == app_id
            }
            value = [
                _permission(entry)
                for a in self.d.role_assignments.values()
                if a["principalId"] in principals and _applies(a["scope"], s)
                for entry in (
                    self.d.role_definitions.get(
                        a["roleDefinitionId"].rsplit("/", 1)[-1].lower(), {}
                    ).get("permissions")
                    or [{"actions": ["*"]}]
                )
            ]
        return 200, {"value": value}

    def _assignment_body(self, a: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": a["id"],
            "name": a["name"],
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": a["roleDefinitionId"],
                "principalId": a["principalId"],
                "principalType": a["principalType"],
                "scope": a["scope"],
                "description": a.get("description"),
            },
        }

    def list_assignments(self, req: Request, scope: str) -> tuple[int, Any]:
        self._auth(req)
        s = self._scope(scope).lower()
        odata = req.query.get("$filter")
        m = _PRINCIPAL.fullmatch(odata.strip()) if odata else None
        with self.d.lock:
            value = [
                self._assignment_body(a)
                for a in self.d.role_assignments.values()
                if a["scope"].lower().startswith(s.rstrip("/"))
                and (m is None or a["principalId"] == m.group("v").lower())
            ]
        return 200, {"value": value}

    def create_assignment(self, req: Request, scope: str, name: str) -> tuple[int, Any]:
        self._auth(req)
        s = self._scope(scope)
        if not re.fullmatch(_GUID, name):
            raise HTTPError(
                400, "InvalidRoleAssignmentId", f"The role assignment ID '{name}' is not valid."
            )
        props = (req.json() or {}).get("properties") or {}
        principal = str(props.get("principalId", "")).lower()
        definition = str(props.get("roleDefinitionId", ""))
        guid = definition.rsplit("/", 1)[-1].lower()
        if guid not in self.d.role_definitions:
            raise HTTPError(
                400, "RoleDefinitionDoesNotExist", "The specified role definition does not exist."
            )
        if principal not in self.d.service_principals:
            raise HTTPError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the directory "
                f"{self.d.tenant_id}.",
            )
        full = f"{s.rstrip('/')}{_AUTH}/roleAssignments/{name.lower()}"
        with self.d.lock:
            held = self.d.role_assignments.get(full.lower())
            if held is not None:
                # The spec's PUT is "create or update" (201 or 200): the same body again
                # under the same name answers 200; changing who or what is refused.
                if (
                    held["principalId"] == principal
                    and held["roleDefinitionId"].rsplit("/", 1)[-1].lower() == guid
                ):
                    return 200, self._assignment_body(held)
                raise HTTPError(
                    400,
                    "RoleAssignmentUpdateNotPermitted",
                    "An existing role assignment's principal, role and scope cannot change.",
                )
            for a in self.d.role_assignments.values():
                # Another name for the same principal, role and scope: 409.
                if (
                    a["principalId"] == principal
                    and a["roleDefinitionId"].rsplit("/", 1)[-1].lower() == guid
                    and a["scope"].lower() == s.lower()
                ):
                    raise HTTPError(
                        409, "RoleAssignmentExists", "The role assignment already exists."
                    )
            a = {
                "id": full,
                "name": name.lower(),
                "scope": s,
                "roleDefinitionId": definition,
                "principalId": principal,
                "principalType": props.get("principalType") or "User",
                "description": props.get("description"),
            }
            self.d.role_assignments[full.lower()] = a
        return 201, self._assignment_body(a)

    def get_assignment(self, req: Request, scope: str, name: str) -> tuple[int, Any]:
        self._auth(req)
        s = self._scope(scope)
        a = self.d.role_assignments.get(f"{s.rstrip('/')}{_AUTH}/roleAssignments/{name}".lower())
        if a is None:
            raise HTTPError(
                404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found."
            )
        return 200, self._assignment_body(a)

    def delete_assignment(self, req: Request, scope: str, name: str) -> tuple[int, Any]:
        self._auth(req)
        s = self._scope(scope)
        with self.d.lock:
            a = self.d.role_assignments.pop(
                f"{s.rstrip('/')}{_AUTH}/roleAssignments/{name}".lower(), None
            )
        # ARM answers 204 when there was nothing to delete.
        return (200, self._assignment_body(a)) if a else (204, None)
