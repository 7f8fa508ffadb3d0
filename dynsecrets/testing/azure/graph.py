"""A Microsoft Graph v1.0 fake: the application, servicePrincipal, group-member and
deleted-item calls dynsecrets makes, with the paths, status codes, bodies and error
codes of Microsoft's Graph reference.

Checked against the v1.0 reference: create application and servicePrincipal 201;
addPassword 200 with the passwordCredential (``secretText`` only in that reply);
removePassword, add and remove member ``$ref``, DELETE of objects and of deleted items
204. A second servicePrincipal for one appId is 409
``Request_MultipleObjectsWithSameKeyValue``. Adding a member that is already one, or
whose object the group's replica does not have yet, is 400 ``Request_BadRequest``.
The principal's ``appRoleAssignments`` (its Graph application permissions) are
set by tests with ``Directory.set_graph_permissions``. The reference documents no reply for removePassword of an unknown keyId; this fake
answers 400 ``Request_BadRequest`` and the provider accepts 400 or 404 there (it
looks at the application's passwords either way)."""

from __future__ import annotations

import re
from typing import Any

from ._http import HTTPError, Request, Route
from .directory import GRAPH_AUDIENCE, Directory, parse_iso

_ID = r"(?P<id>[0-9a-fA-F-]{36})"
_FILTER = re.compile(
    r"(?P<field>displayName|appId|id)\s+eq\s+'(?P<value>(?:[^']|'')*)'"
    r"|tags/any\(t:t\s+eq\s+'(?P<tag>(?:[^']|'')*)'\)"
)
#: Graph rejects an application displayName over 256 characters and a tag over 256.
DISPLAY_NAME_MAX = 256
TAG_MAX = 256


def _not_found(object_id: str) -> HTTPError:
    return HTTPError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def _public(app: dict[str, Any], select: str | None) -> dict[str, Any]:
    shown = {k: v for k, v in app.items() if k != "members"}
    if "passwordCredentials" in shown:
        shown["passwordCredentials"] = [
            {**c, "secretText": None} for c in shown["passwordCredentials"]
        ]
    if isinstance(shown.get("members"), set):
        shown.pop("members")
    if select:
        fields = set(select.split(",")) | {"id"}
        shown = {k: v for k, v in shown.items() if k in fields}
    return shown


def _matches(obj: dict[str, Any], odata: str | None) -> bool:
    if not odata:
        return True
    m = _FILTER.fullmatch(odata.strip())
    if m is None:
        raise HTTPError(400, "Request_UnsupportedQuery", f"Unsupported query: {odata}")
    if m.group("tag") is not None:
        return m.group("tag").replace("''", "'") in (obj.get("tags") or [])
    return bool(obj.get(m.group("field")) == m.group("value").replace("''", "'"))


class GraphFake:
    def __init__(self, directory: Directory) -> None:
        self.d = directory

    def _auth(self, req: Request) -> str:
        app_id = self.d.token_app(req.headers.get("Authorization"), GRAPH_AUDIENCE)
        if app_id is None:
            raise HTTPError(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        return app_id

    def _app(self, object_id: str) -> dict[str, Any]:
        app = self.d.applications.get(object_id.lower())
        if app is None:
            raise _not_found(object_id)
        return app

    def routes(self) -> list[Route]:
        v = "/v1.0"
        return [
            Route("POST", f"{v}/applications", "CreateApplication", self.create_application),
            Route("GET", f"{v}/applications", "ListApplications", self.list_applications),
            Route("GET", f"{v}/applications/{_ID}", "GetApplication", self.get_application),
            Route("DELETE", f"{v}/applications/{_ID}", "DeleteApplication", self.delete_app),
            Route("POST", f"{v}/applications/{_ID}/addPassword", "AddPassword", self.add_password),
            Route(
                "POST",
                f"{v}/applications/{_ID}/removePassword",
                "RemovePassword",
                self.remove_password,
            ),
            Route("POST", f"{v}/servicePrincipals", "CreateServicePrincipal", self.create_sp),
            Route("GET", f"{v}/servicePrincipals", "ListServicePrincipals", self.list_sps),
            Route("DELETE", f"{v}/servicePrincipals/{_ID}", "DeleteServicePrincipal", self.del_sp),
            Route("GET", f"{v}/servicePrincipals/{_ID}/memberOf", "ListMemberOf", self.member_of),
            Route(
                "GET",
                f"{v}/servicePrincipals\\(appId=(?:'|%27)(?P<app_id>[^'%/]+)(?:'|%27)\\)"
                "/appRoleAssignments",
                "ListAppRoleAssignments",
                self.app_role_assignments,
            ),
            Route(
                "GET",
                f"{v}/servicePrincipals/{_ID}/appRoleAssignments",
                "ListAppRoleAssignments",
                self.app_role_assignments,
            ),
            Route("GET", f"{v}/groups", "ListGroups", self.list_groups),
            Route("GET", f"{v}/groups/{_ID}", "GetGroup", self.get_group),
            Route("POST", f"{v}/groups/{_ID}/members/\\$ref", "AddGroupMember", self.add_member),
            Route(
                "DELETE",
                f"{v}/groups/{_ID}/members/(?P<member>[0-9a-fA-F-]{{36}})/\\$ref",
                "RemoveGroupMember",
                self.remove_member,
            ),
            Route(
                "GET",
                f"{v}/directory/deletedItems/microsoft.graph.application",
                "ListDeletedApplications",
                self.list_deleted,
            ),
            Route("DELETE", f"{v}/directory/deletedItems/{_ID}", "PurgeDeletedItem", self.purge),
        ]

    # -- applications -------------------------------------------------------------------
    def create_application(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        body = req.json()
        name = body.get("displayName")
        if not isinstance(name, str) or not name or len(name) > DISPLAY_NAME_MAX:
            raise HTTPError(
                400, "Request_BadRequest", "Invalid value specified for property 'displayName'"
            )
        tags = body.get("tags") or []
        if any(len(t) > TAG_MAX for t in tags):
            raise HTTPError(
                400, "Request_BadRequest", "Invalid value specified for property 'tags'"
            )
        extra = {k: body[k] for k in ("signInAudience", "tags", "notes") if k in body}
        app = self.d.add_application(name, **extra)
        return 201, _public(app, None)

    def list_applications(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        odata = req.query.get("$filter")
        with self.d.lock:
            found = [
                _public(a, req.query.get("$select"))
                for a in self.d.applications.values()
                if _matches(a, odata)
            ]
        return 200, {"@odata.context": "$metadata#applications", "value": found}

    def get_application(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        return 200, _public(self._app(id), req.query.get("$select"))

    def delete_app(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        if not self.d.delete_application(id.lower()):
            raise _not_found(id)
        return 204, None

    def add_password(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        app = self._app(id)
        cred = (req.json() or {}).get("passwordCredential") or {}
        end = cred.get("endDateTime")
        try:
            end_ts = parse_iso(end) if end else None
        except ValueError as exc:
            raise HTTPError(
                400, "Request_BadRequest", "Invalid value specified for property 'endDateTime'"
            ) from exc
        if end_ts is not None and end_ts <= self.d.clock.now():
            raise HTTPError(
                400, "Request_BadRequest", "Key credential end date must be after start date."
            )
        created = self.d.add_password(app, cred.get("displayName"), end_ts)
        return 200, {"@odata.context": "$metadata#microsoft.graph.passwordCredential", **created}

    def remove_password(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        app = self._app(id)
        key_id = str((req.json() or {}).get("keyId", "")).lower()
        with self.d.lock:
            before = len(app["passwordCredentials"])
            app["passwordCredentials"] = [
                c for c in app["passwordCredentials"] if c["keyId"] != key_id
            ]
            if len(app["passwordCredentials"]) == before:
                raise HTTPError(
                    400, "Request_BadRequest", f"No password credential found with keyId {key_id}."
                )
            self.d.secrets.pop(key_id, None)
        return 204, None

    # -- service principals ----------------------------------------------------------------
    def create_sp(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        body = req.json()
        app_id = str(body.get("appId", ""))
        app = self.d.app_by_app_id(app_id)
        if app is None:
            raise HTTPError(
                400,
                "Request_BadRequest",
                f"The appId '{app_id}' of the service principal does not reference a valid "
                "application object.",
            )
        if any(sp["appId"] == app_id for sp in self.d.service_principals.values()):
            raise HTTPError(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "The service principal cannot be created, updated, or restored because the "
                "service principal name is already in use.",
            )
        return 201, self.d.add_service_principal(app, body.get("tags") or [])

    def list_sps(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        odata = req.query.get("$filter")
        with self.d.lock:
            found = [dict(s) for s in self.d.service_principals.values() if _matches(s, odata)]
        return 200, {"@odata.context": "$metadata#servicePrincipals", "value": found}

    def member_of(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        sp = id.lower()
        if sp not in self.d.service_principals:
            raise _not_found(id)
        with self.d.lock:
            found = [
                {"@odata.type": "#microsoft.graph.group", **_public(g, req.query.get("$select"))}
                for g in self.d.groups.values()
                if sp in g["members"]
            ]
        return 200, {"@odata.context": "$metadata#directoryObjects", "value": found}

    def app_role_assignments(
        self, req: Request, id: str | None = None, app_id: str | None = None
    ) -> tuple[int, Any]:
        """The Graph application permissions granted to a principal, addressed by its
        object id or, as Graph allows, ``servicePrincipals(appId='...')``."""
        self._auth(req)
        with self.d.lock:
            if app_id is not None:
                sp = self.d.sp_of(app_id.lower())
            else:
                sp = self.d.service_principals.get(str(id).lower())
            if sp is None:
                raise _not_found(app_id or str(id))
            found = [dict(a) for a in self.d.app_role_grants.get(sp["id"], {}).values()]
        return 200, {
            "@odata.context": f"$metadata#servicePrincipals('{sp['id']}')/appRoleAssignments",
            "value": found,
        }

    def del_sp(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        if not self.d.delete_service_principal(id.lower()):
            raise _not_found(id)
        return 204, None

    # -- groups -----------------------------------------------------------------------------
    def list_groups(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        odata = req.query.get("$filter")
        with self.d.lock:
            found = [
                _public(g, req.query.get("$select"))
                for g in self.d.groups.values()
                if _matches(g, odata)
            ]
        return 200, {"@odata.context": "$metadata#groups", "value": found}

    def get_group(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        group = self.d.groups.get(id.lower())
        if group is None:
            raise _not_found(id)
        return 200, _public(group, req.query.get("$select"))

    def add_member(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        group = self.d.groups.get(id.lower())
        if group is None:
            raise _not_found(id)
        ref = str((req.json() or {}).get("@odata.id", ""))
        member = ref.rsplit("/", 1)[-1].lower()
        if member not in self.d.service_principals:
            # Graph's reference: a referenced object the group's replica does not know
            # yet (or at all) is a 400, not a 404; only the group in the path is a 404.
            raise HTTPError(
                400,
                "Request_BadRequest",
                "A referenced object does not exist (or has not replicated yet).",
            )
        with self.d.lock:
            if member in group["members"]:
                raise HTTPError(
                    400,
                    "Request_BadRequest",
                    "One or more added object references already exist for the following "
                    "modified properties: 'members'.",
                )
            group["members"].add(member)
        return 204, None

    def remove_member(self, req: Request, id: str, member: str) -> tuple[int, Any]:
        self._auth(req)
        group = self.d.groups.get(id.lower())
        if group is None or member.lower() not in group["members"]:
            raise _not_found(member if group else id)
        with self.d.lock:
            group["members"].discard(member.lower())
        return 204, None

    # -- deleted items ------------------------------------------------------------------------
    def list_deleted(self, req: Request) -> tuple[int, Any]:
        self._auth(req)
        with self.d.lock:
            found = [_public(a, req.query.get("$select")) for a in self.d.deleted.values()]
        return 200, {"value": found}

    def purge(self, req: Request, id: str) -> tuple[int, Any]:
        self._auth(req)
        with self.d.lock:
            if self.d.deleted.pop(id.lower(), None) is None:
                raise _not_found(id)
        return 204, None
