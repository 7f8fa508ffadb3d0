"""Azure RBAC through azure-mgmt-authorization (api-version 2022-04-01): role
definitions by name, role assignments created under names chosen in the plan."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .config import Cloud, transport_kwargs
from .errors import azure_errors
from .graph import observer_policy, odata_quote, timeouts
from .rest import RestClient

API_VERSION = "2022-04-01"
ROLE_DEFINITION = re.compile(
    r"(?:/subscriptions/[0-9a-fA-F-]{36})?/providers/Microsoft\.Authorization/"
    r"roleDefinitions/([0-9a-fA-F-]{36})",
    re.IGNORECASE,
)


class Arm:
    def __init__(
        self,
        cloud: Cloud,
        credential: Any,
        config: Mapping[str, Any],
        observers: list[Callable[[str, str, int], None]],
    ) -> None:
        from azure.mgmt.authorization import AuthorizationManagementClient

        self.subscription_id = str(config["subscription_id"])
        self._client: Any = AuthorizationManagementClient(
            credential,
            self.subscription_id,
            api_version=API_VERSION,
            base_url=cloud.arm,
            credential_scopes=[cloud.arm_scope],
            per_call_policies=[observer_policy(observers)],
            **transport_kwargs(config),
        )
        self._credential, self._cloud, self._config = credential, cloud, config
        self._observers = observers
        self._rest: RestClient | None = None

    def close(self) -> None:
        self._client.close()
        if self._rest is not None:
            self._rest.close()

    def permissions(self, scope: str) -> list[dict[str, Any]]:
        """What the caller may do at ``scope``: one ``{actions, notActions, dataActions,
        notDataActions}`` per role it holds there (inherited ones included). The SDK
        has this only for resource groups and resources; ARM serves it at any scope."""
        if self._rest is None:
            self._rest = RestClient(
                self._cloud.arm,
                self._credential,
                self._cloud.arm_scope,
                self._config,
                self._observers,
            )
        path: str = (
            f"{scope.rstrip('/')}/providers/Microsoft.Authorization/permissions"
            f"?api-version={API_VERSION}"
        )
        found: list[dict[str, Any]] = []
        while path:
            page = self._rest.call("ListPermissions", "GET", path)
            found.extend(page.get("value", []))
            link = str(page.get("nextLink") or "")
            # Our token goes only to the configured ARM endpoint.
            path = link if link.startswith(self._cloud.arm + "/") else ""
        return found

    def role_definition_id(self, guid: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{guid.lower()}"
        )

    def find_role_definitions(self, scope: str, role_name: str) -> list[dict[str, str]]:
        """Definitions named ``role_name`` assignable at ``scope`` (ARM matches the name
        case-insensitively, so several may come back)."""
        with azure_errors("ListRoleDefinitions"):
            found = self._client.role_definitions.list(
                scope, filter=f"roleName eq {odata_quote(role_name)}", **timeouts()
            )
            return [
                {"id": str(d.id), "role_name": str(d.role_name), "name": str(d.name)} for d in found
            ]

    def get_role_definition(self, role_id: str) -> dict[str, str]:
        with azure_errors("GetRoleDefinition"):
            d = self._client.role_definitions.get_by_id(role_id, **timeouts())
            return {"id": str(d.id), "role_name": str(d.role_name), "name": str(d.name)}

    def create_assignment(
        self,
        scope: str,
        name: str,
        role_definition_id: str,
        principal_id: str,
        propagation: Collection[str],
    ) -> dict[str, str]:
        body = {
            "properties": {
                "roleDefinitionId": role_definition_id,
                "principalId": principal_id,
                # Tells ARM not to look the principal up in a directory replica that may
                # not have it yet (Microsoft's advice for new service principals).
                "principalType": "ServicePrincipal",
                "description": "dynsecrets",
            }
        }
        with azure_errors("CreateRoleAssignment", propagation):
            a = self._client.role_assignments.create(scope, name, body, **timeouts())
            return {"id": str(a.id), "principal_id": str(a.principal_id)}

    def get_assignment(self, scope: str, name: str) -> dict[str, str]:
        with azure_errors("GetRoleAssignment"):
            a = self._client.role_assignments.get(scope, name, **timeouts())
            return {"id": str(a.id), "principal_id": str(a.principal_id)}

    def delete_assignment(self, scope: str, name: str) -> None:
        # ARM answers 204 for an assignment that does not exist: success.
        with azure_errors("DeleteRoleAssignment"):
            self._client.role_assignments.delete(scope, name, **timeouts())

    def assignments_of(self, principal_id: str) -> list[dict[str, str]]:
        """The principal's role assignments in the subscription (tidy of an orphan)."""
        with azure_errors("ListRoleAssignments"):
            found = self._client.role_assignments.list_for_subscription(
                filter=f"principalId eq {odata_quote(principal_id)}", **timeouts()
            )
            return [{"scope": str(a.scope), "name": str(a.name)} for a in found]
