"""Microsoft Graph v1.0 through azure-core's pipeline (not msgraph-sdk, which adds
about 450 MiB and a second to the first call): the handful of calls dynsecrets makes.

Every method is one HTTP call, mapped by :func:`.errors.azure_errors`; retrying,
and reconciling a create whose reply was lost, is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

from .config import Cloud
from .rest import RestClient, observer_policy, timeouts

__all__ = ["Graph", "observer_policy", "odata_quote", "timeouts"]


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class Graph(RestClient):
    def __init__(
        self,
        cloud: Cloud,
        credential: Any,
        config: Mapping[str, Any],
        observers: list[Callable[[str, str, int], None]],
    ) -> None:
        super().__init__(f"{cloud.graph}/v1.0", credential, cloud.graph_scope, config, observers)

    def pages(self, operation: str, path: str) -> list[dict[str, Any]]:
        """Every item of a listing, following ``@odata.nextLink``."""
        found: list[dict[str, Any]] = []
        next_path: str = path
        while next_path:
            page = self.call(operation, "GET", next_path)
            found.extend(page.get("value", []))
            link = page.get("@odata.nextLink")
            next_path = link[len(self.base) :] if link and link.startswith(self.base) else ""
        return found

    # -- applications ---------------------------------------------------------------
    def create_application(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.call("CreateApplication", "POST", "/applications", body))

    def find_applications(self, odata_filter: str, select: str) -> list[dict[str, Any]]:
        return self.list_applications(select, odata_filter)

    def list_applications(self, select: str, odata_filter: str = "") -> list[dict[str, Any]]:
        path = f"/applications?$select={select}"
        if odata_filter:
            path += f"&$filter={quote(odata_filter)}"
        found: list[dict[str, Any]] = []
        while path:
            page = self.call("ListApplications", "GET", path)
            found.extend(page.get("value", []))
            link = page.get("@odata.nextLink")
            path = link[len(self.base) :] if link and link.startswith(self.base) else ""
        return found

    def get_application(self, object_id: str, select: str) -> dict[str, Any]:
        return dict(
            self.call("GetApplication", "GET", f"/applications/{object_id}?$select={select}")
        )

    def delete_application(self, object_id: str) -> None:
        self.call("DeleteApplication", "DELETE", f"/applications/{object_id}")

    def purge_deleted(self, object_id: str) -> None:
        self.call("PurgeDeletedItem", "DELETE", f"/directory/deletedItems/{object_id}")

    def add_password(
        self, object_id: str, display_name: str, end: str, propagation: Collection[str] = ()
    ) -> dict[str, Any]:
        body = {"passwordCredential": {"displayName": display_name, "endDateTime": end}}
        return dict(
            self.call(
                "AddPassword",
                "POST",
                f"/applications/{object_id}/addPassword",
                body,
                propagation=propagation,
            )
        )

    def remove_password(self, object_id: str, key_id: str) -> None:
        self.call(
            "RemovePassword",
            "POST",
            f"/applications/{object_id}/removePassword",
            {"keyId": key_id},
        )

    def passwords(self, object_id: str) -> list[dict[str, Any]]:
        app = self.get_application(object_id, "id,passwordCredentials")
        return list(app.get("passwordCredentials") or [])

    # -- service principals -----------------------------------------------------------
    def create_service_principal(
        self, app_id: str, tags: list[str], propagation: Collection[str]
    ) -> dict[str, Any]:
        return dict(
            self.call(
                "CreateServicePrincipal",
                "POST",
                "/servicePrincipals",
                {"appId": app_id, "tags": tags},
                propagation=propagation,
            )
        )

    def find_service_principal(self, app_id: str) -> dict[str, Any] | None:
        odata = quote(f"appId eq {odata_quote(app_id)}")
        page = self.call("ListServicePrincipals", "GET", f"/servicePrincipals?$filter={odata}")
        found = page.get("value", [])
        return dict(found[0]) if found else None

    def group_ids_of(self, sp_object_id: str) -> set[str]:
        """The groups the service principal is a direct member of."""
        path = f"/servicePrincipals/{sp_object_id}/memberOf?$select=id"
        found: set[str] = set()
        while path:
            page = self.call("ListMemberOf", "GET", path)
            found.update(str(o.get("id", "")).lower() for o in page.get("value", []))
            link = page.get("@odata.nextLink")
            path = link[len(self.base) :] if link and link.startswith(self.base) else ""
        return found

    def delete_service_principal(self, object_id: str) -> None:
        self.call("DeleteServicePrincipal", "DELETE", f"/servicePrincipals/{object_id}")

    # -- groups --------------------------------------------------------------------------
    def find_groups(self, display_name: str) -> list[dict[str, Any]]:
        odata = quote(f"displayName eq {odata_quote(display_name)}")
        page = self.call("ListGroups", "GET", f"/groups?$filter={odata}&$select=id,displayName")
        return list(page.get("value", []))

    def get_group(self, object_id: str) -> dict[str, Any]:
        return dict(self.call("GetGroup", "GET", f"/groups/{object_id}?$select=id,displayName"))

    def add_member(self, group_id: str, member_id: str, propagation: Collection[str]) -> None:
        ref = {"@odata.id": f"{self.base}/directoryObjects/{member_id}"}
        self.call(
            "AddGroupMember",
            "POST",
            f"/groups/{group_id}/members/$ref",
            ref,
            propagation=propagation,
        )

    def remove_member(self, group_id: str, member_id: str) -> None:
        self.call("RemoveGroupMember", "DELETE", f"/groups/{group_id}/members/{member_id}/$ref")

    # -- the root's own permissions (verify) ---------------------------------------------
    def app_role_assignments(self, app_id: str) -> list[dict[str, Any]]:
        """The app roles (application permissions) granted to the service principal
        of ``app_id``, addressed by its appId as Graph allows."""
        return self.pages(
            "ListAppRoleAssignments",
            f"/servicePrincipals(appId={quote(odata_quote(app_id))})/appRoleAssignments",
        )
