"""Fixtures for the Azure tests: the TLS fakes, an engine whose ``azure`` provider is
found even where the installed metadata predates its entry point, a mount on the fakes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.providers.registry import ENTRY_POINT_GROUP, ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

AZURE_EP = EntryPoint("azure", "dynsecrets.providers.azure:AzureProvider", ENTRY_POINT_GROUP)
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


@pytest.fixture(autouse=True)
def azure_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """The entry point pyproject declares (tests/test_azure_provider.py checks it), for a
    venv whose installed metadata was built before it existed."""
    real = ProviderRegistry._entry_points

    def eps(self: ProviderRegistry) -> dict[str, EntryPoint]:
        found = real(self)
        found.setdefault("azure", AZURE_EP)
        return found

    monkeypatch.setattr(ProviderRegistry, "_entry_points", eps)


@pytest.fixture
def azure_clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def azure(azure_clock: ManualClock) -> Iterator[AzureFakes]:
    with AzureFakes(clock=azure_clock) as fakes:
        yield fakes


@pytest.fixture
def azure_engine(azure_clock: ManualClock) -> Iterator[Engine]:
    with Engine.open("memory://", clock=azure_clock) as engine:
        yield engine


@pytest.fixture
def azure_mount(azure_engine: Engine, azure: AzureFakes) -> Mount:
    mount = azure_engine.enable("azure", "azure")
    mount.configure(**azure.config())
    return mount


def sub_scope(azure: AzureFakes) -> str:
    return f"/subscriptions/{azure.directory.subscription_id}"


def roles_json(*entries: dict[str, str]) -> str:
    return json.dumps(list(entries))


def dynsecrets_apps(azure: AzureFakes) -> list[dict[str, Any]]:
    return [a for a in azure.directory.applications.values() if "dynsecrets" in a["tags"]]


def assert_nothing_left(azure: AzureFakes) -> None:
    """No app, principal, assignment, membership or deleted item of ours remains."""
    d = azure.directory
    assert dynsecrets_apps(azure) == []
    root = azure.root["app"]["appId"]
    observers = {a["appId"] for a in d.applications.values() if "test-observer" in a["tags"]}
    mine = {s["id"] for s in d.service_principals.values() if s["appId"] == root}
    assert [s for s in d.service_principals.values() if s["appId"] not in {root, *observers}] == []
    # Roles granted to the root itself (AzureFakes.grant_arm) are the administrator's.
    assert [a for a in d.role_assignments.values() if a["principalId"] not in mine] == []
    assert all(not g["members"] for g in d.groups.values())
    assert d.deleted == {}


GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def secret_works(azure: AzureFakes, client_id: str, secret: str) -> bool:
    """Whether a secret obtains a Graph token, asked with azure-identity's own
    ClientSecretCredential (not the provider's) over TLS."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        azure.directory.tenant_id,
        client_id,
        secret,
        authority=azure.url("authority"),
        disable_instance_discovery=True,
        connection_verify=azure.ca_bundle,
        retry_total=0,
    )
    try:
        credential.get_token(GRAPH_SCOPE)
        return True
    except ClientAuthenticationError:
        return False
    finally:
        credential.close()


class Observer:
    """A second application, with its own secret and its own azure-core pipeline,
    that reads Graph the way an administrator would: what the provider did is checked
    through it, not through the provider's clients or the fake's internals."""

    def __init__(self, azure: AzureFakes) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy
        from azure.core.pipeline.transport import RequestsTransport
        from azure.identity import ClientSecretCredential

        app = azure.directory.add_application("test-observer", tags=["test-observer"])
        azure.directory.add_service_principal(app, [])
        self.app_id = app["appId"]
        secret = azure.directory.add_password(app, "observer", None)["secretText"]
        self.credential = ClientSecretCredential(
            azure.directory.tenant_id,
            self.app_id,
            secret,
            authority=azure.url("authority"),
            disable_instance_discovery=True,
            connection_verify=azure.ca_bundle,
        )
        self.base = azure.url("graph") + "/v1.0"
        self.client: Any = PipelineClient(
            base_url=self.base,
            policies=[BearerTokenCredentialPolicy(self.credential, GRAPH_SCOPE)],
            transport=RequestsTransport(connection_verify=azure.ca_bundle),
        )

    def get(self, path: str) -> tuple[int, Any]:
        from azure.core.rest import HttpRequest

        response = self.client.send_request(HttpRequest("GET", self.base + path))
        body = response.read()
        return response.status_code, json.loads(body) if body else None

    def application(self, object_id: str) -> dict[str, Any]:
        status, body = self.get(f"/applications/{object_id}")
        assert status == 200, body
        return dict(body)

    def passwords(self, object_id: str) -> list[dict[str, Any]]:
        return list(self.application(object_id)["passwordCredentials"])

    def close(self) -> None:
        self.client.close()
        self.credential.close()


@pytest.fixture
def observer(azure: AzureFakes) -> Iterator[Observer]:
    found = Observer(azure)
    yield found
    found.close()
