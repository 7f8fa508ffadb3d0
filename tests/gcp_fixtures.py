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


def fake_session(google: FakeGoogle) -> Any:
    """A requests session that trusts the fake's CA and ignores proxy variables."""
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = google.ca_path
    return session


def token_with_key(google: FakeGoogle, info: dict[str, Any]) -> str:
    """Fetch a token with a key file, as any Google client would (google-auth, its
    own session trusting the fake's CA)."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    creds.refresh(Request(fake_session(google)))
    return str(creds.token)


def auditor(google: FakeGoogle) -> Any:
    """A separate google-cloud-iam ``IAMClient`` (its own account, key and TLS
    channel), for tests to look at the cloud without going through the provider."""
    import json

    import grpc
    from google.auth.transport.grpc import secure_authorized_channel
    from google.auth.transport.requests import Request
    from google.cloud.iam_admin_v1 import IAMClient
    from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
    from google.oauth2 import service_account

    email = f"test-auditor@{google.project}.iam.gserviceaccount.com"
    if email not in google.state.accounts:
        google.service_account("test-auditor")
    info = json.loads(google.key_json(email))
    creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = google.ca_path
    with open(google.ca_path, "rb") as f:
        ssl = grpc.ssl_channel_credentials(f.read())
    channel = secure_authorized_channel(
        creds, Request(session), google.iam_endpoint, ssl_credentials=ssl
    )
    return IAMClient(transport=IAMGrpcTransport(channel=channel))


def user_key_ids(client: Any, email: str) -> set[str]:
    """The account's user-managed key ids, through ``client`` (see ``auditor``)."""
    reply = client.list_service_account_keys(
        request={"name": f"projects/-/serviceAccounts/{email}", "key_types": [1]}
    )
    return {k.name.rsplit("/", 1)[-1] for k in reply.keys}
