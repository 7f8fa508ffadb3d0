"""The Azure provider passes the contract plugin authors run, in all three modes
(dynamic, existing application, persisted application: also the role-level checks), with the
real azure-identity, azure-core and azure-mgmt-authorization over TLS to the fakes."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from dynsecrets import Lease, Mount
from dynsecrets.testing import CloudCheck, ProviderContract
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    roles_json,
    sub_scope,
)

__all__ = ["azure", "azure_clock", "azure_engine", "azure_entry_point", "azure_mount"]


class DirectoryCheck(CloudCheck):
    """Looks at the fake directory itself, not through the provider."""

    def __init__(self, azure: AzureFakes) -> None:
        self.azure = azure

    def _app(self, lease: Lease) -> dict[str, Any] | None:
        return self.azure.directory.app_by_app_id(lease.data["client_id"])

    def _kept(self, app: dict[str, Any]) -> bool:
        """An application that outlives its leases (existing, or a role's persisted one):
        a lease is a password on it."""
        return app is self.azure.existing or any(
            t.startswith("dynsecrets:role=") for t in app["tags"]
        )

    def exists(self, mount: Mount, lease: Lease) -> bool:
        app = self._app(lease)
        if app is None:
            return False
        if self._kept(app):
            return self.secret_count(mount, lease) > 0
        return True

    def secret_count(self, mount: Mount, lease: Lease) -> int:
        app = self._app(lease)
        if app is None:
            return 0
        if self._kept(app):
            return sum(
                c["displayName"].startswith(f"dynsecrets {lease.lease_id} ")
                for c in app["passwordCredentials"]
            )
        return len(app["passwordCredentials"])

    def role_objects(self, mount: Mount, plan: Mapping[str, Any]) -> int:
        """The persisted application a role plan names (by display name and role tag,
        or by id), its service principal, its role assignments, its memberships and
        its deleted item."""
        d = self.azure.directory
        if plan.get("app"):
            ids = {plan["app"]["object_id"]}
        else:
            tag = f"dynsecrets:role={plan['role']}"
            ids = {
                a["id"]
                for a in [*d.applications.values(), *d.deleted.values()]
                if a["displayName"] == plan["display_name"] and tag in a["tags"]
            }
        apps = [d.applications.get(i) or d.deleted.get(i) for i in ids]
        app_ids = {a["appId"] for a in apps if a is not None}
        sps = {s["id"] for s in d.service_principals.values() if s["appId"] in app_ids}
        named = {a["assignment"] for a in [*plan.get("assign", []), *plan.get("assignments", [])]}
        assignments = [
            a for a in d.role_assignments.values() if a["principalId"] in sps or a["name"] in named
        ]
        members = sum(len(g["members"] & sps) for g in d.groups.values())
        return len([a for a in apps if a is not None]) + len(sps) + len(assignments) + members


def _dead_https() -> str:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{s.getsockname()[1]}"


class _Common(ProviderContract):
    @pytest.fixture
    def mount(self, azure_mount: Mount) -> Mount:
        return azure_mount

    @pytest.fixture
    def broken_config(self, azure: AzureFakes) -> dict[str, Any]:
        return {**azure.config(), "graph_endpoint": _dead_https(), "arm_endpoint": _dead_https()}

    @pytest.fixture
    def bad_credentials(self, azure: AzureFakes) -> dict[str, Any]:
        # An unknown client id (AADSTS700016). A wrong secret is not "bad credentials"
        # here: Entra ID answers a new, not yet replicated secret the same way
        # (AADSTS7000215), so that one is retried inside the deadline (test_azure_auth).
        return {**azure.config(), "client_id": str(uuid.uuid4())}

    @pytest.fixture
    def cloud(self, azure: AzureFakes) -> CloudCheck:
        return DirectoryCheck(azure)

    @pytest.fixture
    def lose_reply(self, azure: AzureFakes) -> Callable[[Mount], AbstractContextManager[None]]:
        @contextmanager
        def lose(mount: Mount) -> Iterator[None]:
            azure.faults.lose_reply("AddPassword")
            yield
            assert azure.faults.calls.count("AddPassword") == 2

        return lose


class TestAzureDynamic(_Common):
    @pytest.fixture
    def role_fields(self, azure: AzureFakes) -> dict[str, Any]:
        azure.existing = None
        group = azure.add_group("contract-group")
        return {
            "azure_roles": roles_json({"role_id": READER, "scope": sub_scope(azure)}),
            "azure_groups": roles_json({"object_id": group}),
        }


class TestAzureExistingApp(_Common):
    @pytest.fixture
    def role_fields(self, azure: AzureFakes) -> dict[str, Any]:
        app = azure.directory.add_application("existing")
        azure.directory.add_service_principal(app, [])
        azure.existing = app
        return {"application_object_id": app["id"]}


class TestAzurePersistedApp(_Common):
    @pytest.fixture
    def role_fields(self, azure: AzureFakes) -> dict[str, Any]:
        azure.existing = None
        group = azure.add_group("contract-group")
        return {
            "persist_app": True,
            "azure_roles": roles_json({"role_id": READER, "scope": sub_scope(azure)}),
            "azure_groups": roles_json({"object_id": group}),
        }
