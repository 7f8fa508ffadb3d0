"""Microsoft Graph v1.0 through azure-core's pipeline (not msgraph-sdk, which adds
about 450 MiB and a second to the first call): the handful of calls dynsecrets makes.

Every method is one HTTP call, mapped by :func:`.errors.azure_errors`; retrying,
and reconciling a create whose reply was lost, is the caller's business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import quote

from ... import retry as _retry
from .config import Cloud, transport_kwargs
from .errors import azure_errors, parse_error


def timeouts() -> dict[str, Any]:
    """Bound one HTTP call by what is left of the operation's deadline."""
    left = _retry.remaining(60.0) or 0.0
    return {"connection_timeout": max(0.5, min(10.0, left)), "read_timeout": max(0.5, left)}


def observer_policy(observers: list[Callable[[str, str, int], None]]) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class Observe(SansIOHTTPPolicy):  # type: ignore[type-arg]
        def on_response(self, request: Any, response: Any) -> None:
            for hook in list(observers):
                hook(
                    request.http_request.method,
                    request.http_request.url,
                    response.http_response.status_code,
                )

    return Observe()


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class Graph:
    def __init__(
        self,
        cloud: Cloud,
        credential: Any,
        config: Mapping[str, Any],
        observers: list[Callable[[str, str, int], None]],
    ) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import (
            BearerTokenCredentialPolicy,
            HeadersPolicy,
            HttpLoggingPolicy,
            UserAgentPolicy,
        )
        from azure.core.pipeline.transport import RequestsTransport

        kwargs = transport_kwargs(config)
        kwargs.pop("retry_total")  # no RetryPolicy in this pipeline at all
        self.base = f"{cloud.graph}/v1.0"
        self._client: Any = PipelineClient(
            base_url=self.base,
            policies=[
                HeadersPolicy({"Accept": "application/json"}),
                UserAgentPolicy(sdk_moniker="dynsecrets"),
                BearerTokenCredentialPolicy(credential, cloud.graph_scope),
                observer_policy(observers),
                # Headers only (Authorization redacted); never bodies, which hold secrets.
                HttpLoggingPolicy(),
            ],
            transport=RequestsTransport(**kwargs),
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        propagation: Collection[str] = (),
    ) -> Any:
        """One Graph call; the decoded JSON reply (None for 204)."""
        from azure.core.rest import HttpRequest

        with azure_errors(operation, propagation):
            request = HttpRequest(
                method,
                self.base + path,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"} if body is not None else None,
            )
            response = self._client.send_request(request, **timeouts())
            data = response.read()
            if response.status_code >= 400:
                raise parse_error(response.status_code, data)
            return json.loads(data) if data else None

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
