"""Local fakes of the Azure services the ``azure`` provider calls, over TLS:

- the Microsoft identity platform (OpenID discovery, client credentials grant),
- Microsoft Graph v1.0 (applications, service principals, groups, deleted items),
- Azure Resource Manager's Microsoft.Authorization (role definitions, assignments).

They follow Microsoft's published references (paths, bodies, status codes, error
codes), so the real azure-identity, azure-core and azure-mgmt-authorization run
against them unchanged::

    with AzureFakes() as azure:
        mount.configure(**azure.config())   # authority, endpoints and ca_bundle point here
        azure.faults.error("CreateRoleAssignment", 400, "PrincipalNotFound")

Certificates come from a throwaway CA made at start (``trustme``, in the ``test``
extra); ``config()["ca_bundle"]`` is its PEM file.
"""

from __future__ import annotations

import re
import shutil
import ssl
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...clock import Clock
from ._http import AzureFaults, Service
from .arm import ArmFake
from .directory import BUILTIN_ROLES, GRAPH_APP_ROLES, Directory
from .graph import GraphFake
from .identity import IdentityFake
from .identity import fault_body as identity_fault_body

__all__ = ["BUILTIN_ROLES", "GRAPH_APP_ROLES", "AzureFakes", "AzureFaults", "Directory"]

#: The root's Graph application permissions at start (``set_graph_permissions`` changes them).
ROOT_GRAPH_PERMISSIONS = ("Application.ReadWrite.All", "GroupMember.ReadWrite.All")


class AzureFakes:
    """The three fakes on loopback ports, sharing one directory and one set of faults."""

    def __init__(self, *, clock: Clock | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.directory = Directory(str(uuid.uuid4()), str(uuid.uuid4()), clock)
        self.faults = AzureFaults()
        self._tmp: str | None = None
        self.ca_bundle = ""
        self.identity = IdentityFake(self.directory, "")
        self.services = {
            "authority": Service(
                "authority", self.identity.routes(), self.faults, identity_fault_body
            ),
            "graph": Service("graph", GraphFake(self.directory).routes(), self.faults),
            "arm": Service("arm", ArmFake(self.directory).routes(), self.faults),
        }
        self.root: dict[str, Any] = {}
        #: Tests may note an application here (the contract tells the modes apart).
        self.existing: dict[str, Any] | None = None

    def start(self) -> AzureFakes:
        try:
            import trustme
        except ImportError as exc:
            from ...errors import MissingDependency

            raise MissingDependency(
                "AzureFakes needs trustme; pip install 'dynsecrets[test]'"
            ) from exc
        ca = trustme.CA()
        cert = ca.issue_cert(self.host, "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        self._tmp = tempfile.mkdtemp(prefix="dynsecrets-azure-")
        self.ca_bundle = str(Path(self._tmp) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        for service in self.services.values():
            service.start(context, self.host)
        self.identity.base_url = self.url("authority")
        app = self.directory.add_application("dynsecrets-root")
        self.directory.add_service_principal(app, [])
        # What the README asks for, short of ARM roles (grant_arm adds those).
        self.directory.set_graph_permissions(app["appId"], ROOT_GRAPH_PERMISSIONS)
        password = self.directory.add_password(app, "initial", None)
        self.root = {"app": app, "client_secret": password["secretText"]}
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> AzureFakes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, service: str) -> str:
        return f"https://{self.host}:{self.services[service].port}"

    def config(self) -> dict[str, Any]:
        """Root config for an ``azure`` mount that talks to these fakes."""
        return {
            "tenant_id": self.directory.tenant_id,
            "subscription_id": self.directory.subscription_id,
            "client_id": self.root["app"]["appId"],
            "client_secret": self.root["client_secret"],
            "authority": self.url("authority"),
            "graph_endpoint": self.url("graph"),
            "arm_endpoint": self.url("arm"),
            "ca_bundle": self.ca_bundle,
        }

    def operation_of(self, method: str, url: str) -> str | None:
        """The operation name a request to one of the fakes is served as."""
        parts = urlsplit(url)
        for service in self.services.values():
            if parts.port == service.port:
                found = service.operation_of(method, re.sub(r"/+$", "", parts.path) or "/")
                return found[0].operation if found else None
        return None

    # -- test helpers ------------------------------------------------------------------------
    def add_group(self, name: str) -> str:
        return str(self.directory.add_group(name)["id"])

    def add_role_definition(
        self,
        name: str,
        guid: str | None = None,
        *,
        actions: list[str] | None = None,
        not_actions: list[str] | None = None,
    ) -> str:
        guid = guid or str(uuid.uuid4())
        self.directory.role_definitions[guid] = {
            "roleName": name,
            "type": "CustomRole",
            "permissions": [{"actions": actions or ["*"], "notActions": not_actions or []}],
        }
        return guid

    def set_graph_permissions(self, *names: str) -> None:
        """The root's Graph application permissions, replacing what it had."""
        self.directory.set_graph_permissions(self.root["app"]["appId"], list(names))

    def grant_arm(self, role: str, scope: str | None = None) -> str:
        """Assign the root a role (a built-in's name or a definition GUID) at ``scope``
        (default: the subscription), as an administrator would; returns the
        assignment's id. ARM's permissions reply follows from it."""
        guid = next(
            (g for g, d in self.directory.role_definitions.items() if d["roleName"] == role),
            role.lower(),
        )
        scope = scope or f"/subscriptions/{self.directory.subscription_id}"
        sp = self.directory.sp_of(self.root["app"]["appId"])
        assert sp is not None
        name = str(uuid.uuid4())
        full = f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}"
        with self.directory.lock:
            self.directory.role_assignments[full.lower()] = {
                "id": full,
                "name": name,
                "scope": scope,
                "roleDefinitionId": f"/subscriptions/{self.directory.subscription_id}"
                f"/providers/Microsoft.Authorization/roleDefinitions/{guid}",
                "principalId": sp["id"],
                "principalType": "ServicePrincipal",
                "description": "granted by the test",
            }
        return full
