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
    assert [s for s in d.service_principals.values() if s["appId"] != root] == []
    assert d.role_assignments == {}
    assert all(not g["members"] for g in d.groups.values())
    assert d.deleted == {}
