"""The state behind the fakes: one Entra ID tenant (applications, service principals,
groups, deleted items, issued tokens) and one subscription's Azure RBAC (role
definitions and assignments). Thread-safe; time comes from an injected clock."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from ...clock import Clock, SystemClock

#: A few built-in role definitions, with their real, documented ids.
BUILTIN_ROLES = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
#: What each built-in role allows (``permissions`` of its definition), abridged from
#: Azure's built-in roles reference: ``Microsoft.Authorization`` is what matters here.
BUILTIN_PERMISSIONS: dict[str, list[dict[str, list[str]]]] = {
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": [{"actions": ["*/read"], "notActions": []}],
    "b24988ac-6180-42a0-ab88-20f7382dd24c": [
        {
            "actions": ["*"],
            "notActions": [
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
            ],
        }
    ],
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": [{"actions": ["*"], "notActions": []}],
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": [
        {
            "actions": ["Microsoft.Storage/storageAccounts/blobServices/containers/*"],
            "notActions": [],
            "dataActions": ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*"],
        }
    ],
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": [
        {
            "actions": ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
            "notActions": [],
        }
    ],
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": [
        {
            "actions": [
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/delete",
                "*/read",
                "Microsoft.Support/*",
            ],
            "notActions": [],
        }
    ],
}
#: Microsoft Graph's application permissions (its app roles), with the ids the Graph
#: permissions reference documents (the same in every tenant).
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_APP_ROLES = {
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Application.ReadWrite.OwnedBy": "18a4783c-866b-4cc7-a460-3d5e5662c884",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
    "Group.ReadWrite.All": "62a82d76-70ea-41e2-9197-370581804d09",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
}
GRAPH_AUDIENCE = "https://graph.microsoft.com"
ARM_AUDIENCE = "https://management.azure.com"
_SECRET_CHARS = string.ascii_letters + string.digits + "~_.-"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def iso_precise(ts: float) -> str:
    """Graph's form for a password's startDateTime: seven fractional digits."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_iso(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def new_secret() -> str:
    # Entra ID's secrets are 16-64 characters; "Q~" in the 4th/5th place is their marker.
    body = "".join(secrets.choice(_SECRET_CHARS) for _ in range(37))
    return body[:3] + "8Q~" + body[3:]


class Directory:
    def __init__(self, tenant_id: str, subscription_id: str, clock: Clock | None = None) -> None:
        self.tenant_id = tenant_id
        self.subscription_id = subscription_id
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.applications: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}  # keyId -> secret text (never served back)
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[str, str, float]] = {}  # token -> (appId, audience, exp)
        self.role_definitions: dict[str, dict[str, Any]] = {
            guid: {
                "roleName": name,
                "type": "BuiltInRole",
                "permissions": BUILTIN_PERMISSIONS[guid],
            }
            for guid, name in BUILTIN_ROLES.items()
        }
        #: Microsoft Graph's own service principal in this tenant (the resource of
        #: every Graph application permission).
        self.graph_sp_id = str(uuid.uuid4())
        #: Graph application permissions granted (admin consent): service principal
        #: object id -> permission name -> its appRoleAssignment.
        self.app_role_grants: dict[str, dict[str, dict[str, Any]]] = {}
        self.role_assignments: dict[str, dict[str, Any]] = {}  # lower(full id) -> assignment

    # -- applications -----------------------------------------------------------------
    def add_application(self, display_name: str, **extra: Any) -> dict[str, Any]:
        with self.lock:
            app = {
                "id": str(uuid.uuid4()),
                "appId": str(uuid.uuid4()),
                "displayName": display_name,
                "signInAudience": "AzureADMyOrg",
                "tags": [],
                "notes": None,
                "createdDateTime": iso(self.clock.now()),
                "passwordCredentials": [],
                **extra,
            }
            self.applications[app["id"]] = app
            return app

    def add_password(
        self, app: dict[str, Any], display_name: str | None, end: float | None
    ) -> dict[str, Any]:
        now = self.clock.now()
        secret = new_secret()
        cred: dict[str, Any] = {
            "customKeyIdentifier": None,
            "displayName": display_name,
            "endDateTime": iso(end if end is not None else now + 2 * 365 * 86400),
            "hint": secret[:3],
            "keyId": str(uuid.uuid4()),
            "secretText": None,
            "startDateTime": iso_precise(now),
        }
        with self.lock:
            app["passwordCredentials"].append(cred)
            self.secrets[cred["keyId"]] = secret
        return {**cred, "secretText": secret}

    def add_service_principal(self, app: dict[str, Any], tags: list[str]) -> dict[str, Any]:
        with self.lock:
            sp = {
                "id": str(uuid.uuid4()),
                "appId": app["appId"],
                "displayName": app["displayName"],
                "servicePrincipalType": "Application",
                "accountEnabled": True,
                "tags": list(tags),
            }
            self.service_principals[sp["id"]] = sp
            return sp

    def add_group(self, display_name: str) -> dict[str, Any]:
        with self.lock:
            group: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "displayName": display_name,
                "members": set(),
            }
            self.groups[group["id"]] = group
            return group

    def app_by_app_id(self, app_id: str) -> dict[str, Any] | None:
        return next((a for a in self.applications.values() if a["appId"] == app_id), None)

    def delete_application(self, object_id: str) -> bool:
        """Soft delete, as Entra ID does: the app goes to deleted items for 30 days,
        and its service principal is deleted with it."""
        with self.lock:
            app = self.applications.pop(object_id, None)
            if app is None:
                return False
            app["deletedDateTime"] = iso(self.clock.now())
            self.deleted[object_id] = app
            for sp_id in [
                s for s, sp in self.service_principals.items() if sp["appId"] == app["appId"]
            ]:
                self.delete_service_principal(sp_id)
            return True

    def delete_service_principal(self, object_id: str) -> bool:
        with self.lock:
            if self.service_principals.pop(object_id, None) is None:
                return False
            for group in self.groups.values():
                group["members"].discard(object_id)
            return True

    # -- Graph application permissions ---------------------------------------------------
    def sp_of(self, app_id: str) -> dict[str, Any] | None:
        return next((s for s in self.service_principals.values() if s["appId"] == app_id), None)

    def set_graph_permissions(self, app_id: str, names: Iterable[str]) -> None:
        """Grant exactly these Graph application permissions to the app's principal
        (as admin consent would), replacing what it had."""
        sp = self.sp_of(app_id)
        if sp is None:
            raise KeyError(f"no service principal for {app_id}")
        with self.lock:
            self.app_role_grants[sp["id"]] = {
                name: {
                    "id": secrets.token_urlsafe(32),
                    "deletedDateTime": None,
                    "appRoleId": GRAPH_APP_ROLES[name],
                    "createdDateTime": iso(self.clock.now()),
                    "principalDisplayName": sp["displayName"],
                    "principalId": sp["id"],
                    "principalType": "ServicePrincipal",
                    "resourceDisplayName": "Microsoft Graph",
                    "resourceId": self.graph_sp_id,
                }
                for name in names
            }

    # -- identity platform --------------------------------------------------------------
    def check_secret(self, app_id: str, secret: str) -> str | None:
        """None when the secret is a current password of the app; else the AADSTS error."""
        app = self.app_by_app_id(app_id)
        if app is None or not any(sp["appId"] == app_id for sp in self.service_principals.values()):
            return "AADSTS700016"
        now = self.clock.now()
        for cred in app["passwordCredentials"]:
            if secrets.compare_digest(self.secrets.get(cred["keyId"], ""), secret):
                if parse_iso(cred["endDateTime"]) <= now:
                    return "AADSTS7000222"
                return None
        return "AADSTS7000215"

    def issue_token(self, app_id: str, audience: str) -> tuple[str, int]:
        """A JWT-shaped access token with Entra ID's v1 claims (``aud``, ``iss``,
        ``tid``, ``appid``, ``oid``, ``iat``, ``exp``); its signature is random, so
        only this fake accepts it."""
        # Real time, not the injected clock: azure-identity times its cache by real
        # time too, and a test that moves its clock a day must not void tokens.
        now = int(time.time())
        sp = self.sp_of(app_id)
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "tid": self.tenant_id,
            "appid": app_id,
            "oid": sp["id"] if sp else None,
            "iat": now,
            "exp": now + 3599,
            "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "RS256"}
        token = f"{_b64(header)}.{_b64(claims)}.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[token] = (app_id, audience, now + 3599.0)
        return token, 3599

    def token_app(self, header: str | None, audience: str) -> str | None:
        if not header or not header.startswith("Bearer "):
            return None
        found = self.tokens.get(header[7:])
        if found is None or found[1] != audience or found[2] <= time.time():
            return None
        return found[0]
