"""Fixtures for the GCP tests: a FakeGoogle over TLS, an engine on the manual
clock, and a configured ``gcp`` mount (imported by the GCP test modules)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.testing.gcp import FakeGoogle

PROJECT = "fake-project"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
PROJECT_RESOURCE = f"//cloudresourcemanager.googleapis.com/projects/{PROJECT}"
BINDINGS_HCL = f'''
resource "{PROJECT_RESOURCE}" {{
  roles = ["roles/viewer", "roles/storage.objectViewer"]
}}
resource "buckets/data-bucket" {{
  roles = ["roles/storage.objectAdmin"]
}}
'''
KEY_ROLESET: dict[str, Any] = {
    "project": PROJECT,
    "secret_type": "service_account_key",
    "bindings": {PROJECT_RESOURCE: ["roles/viewer"]},
}
TOKEN_ROLESET: dict[str, Any] = {
    "project": PROJECT,
    "secret_type": "access_token",
    "token_scopes": [SCOPE],
    "bindings": {PROJECT_RESOURCE: ["roles/viewer"]},
}


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle(PROJECT) as fake:
        fake.add_resource("b/data-bucket")
        yield fake


@pytest.fixture
def gcp_clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def gcp_engine(gcp_clock: ManualClock) -> Iterator[Engine]:
    with Engine.open("memory://", clock=gcp_clock) as engine:
        yield engine


@pytest.fixture
def gcp_mount(gcp_engine: Engine, google: FakeGoogle) -> Mount:
    mount = gcp_engine.enable("gcp", "gcp")
    mount.configure(**google.config())
    return mount
