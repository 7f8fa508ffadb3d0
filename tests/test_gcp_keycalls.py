"""A key lease's CreateServiceAccountKey and DeleteServiceAccountKey go straight on
the channel (providers/gcp/keycalls.py): the same request bytes and metadata as
``IAMClient``'s calls, Google's errors mapped the same way, the reply's
valid_after_time read as the SDK reads it; and the per-config caches behind plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.gcp.clients import Clients, GoogleClients, _bearer_channel
from dynsecrets.providers.gcp.errors import google_errors
from dynsecrets.providers.gcp.keycalls import KeyCalls, stamp_seconds
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import PROJECT

ROOT = f"dynsecrets-root@{PROJECT}.iam.gserviceaccount.com"
NAME = f"projects/-/serviceAccounts/{ROOT}"


def _recording(channel: Any, seen: list[tuple[str, bytes, list[tuple[str, Any]]]]) -> Any:
    import grpc

    class Recorder(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            method = details.method
            method = method.decode() if isinstance(method, bytes) else method
            raw = request._pb if hasattr(request, "_pb") else request  # proto-plus or not
            seen.append((method, raw.SerializeToString(), list(details.metadata or ())))
            return continuation(details, request)

    return grpc.intercept_channel(channel, Recorder())


@pytest.fixture
def clients(google: FakeGoogle) -> Any:
    made = GoogleClients(google.config())
    yield made
    made.close()


def test_key_calls_send_what_the_iam_client_sends(google: FakeGoogle, clients: Any) -> None:
    from google.cloud.iam_admin_v1 import IAMClient
    from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

    target = google.config()["endpoints"]["iam"]
    ours: list[tuple[str, bytes, list[tuple[str, Any]]]] = []
    sdk: list[tuple[str, bytes, list[tuple[str, Any]]]] = []
    keys = KeyCalls(clients, _recording(clients.channel, ours), target)
    iam = IAMClient(
        transport=IAMGrpcTransport(
            channel=_bearer_channel(_recording(clients.channel, sdk), clients, target)
        )
    )
    mine = keys.create_service_account_key(NAME, 2, 2, timeout=30)
    theirs = iam.create_service_account_key(
        request={"name": NAME, "private_key_type": 2, "key_algorithm": 2},
        retry=None,
        timeout=30,
    )
    # The delete names are different keys: compare the structure, not the names.
    keys.delete_service_account_key(mine.name, timeout=30)
    iam.delete_service_account_key(name=theirs.name, retry=None, timeout=30)
    assert (
        [m for m, _, _ in ours]
        == [m for m, _, _ in sdk]
        == [
            "/google.iam.admin.v1.IAM/CreateServiceAccountKey",
            "/google.iam.admin.v1.IAM/DeleteServiceAccountKey",
        ]
    )
    assert ours[0] == sdk[0]  # the create: same bytes, same metadata, same order
    theirs_delete = [
        (k, str(v).replace(theirs.name.rsplit("/", 1)[1], mine.name.rsplit("/", 1)[1]))
        for k, v in sdk[1][2]
    ]
    assert ours[1][2] == theirs_delete
    assert "authorization" in dict(ours[0][2]) and "x-goog-request-params" in dict(ours[0][2])
    assert google.state.calls["CreateServiceAccountKey"] == 2
    assert google.state.calls["DeleteServiceAccountKey"] == 2


def test_the_reply_is_read_as_the_sdk_reads_it(clients: Any) -> None:
    from google.cloud.iam_admin_v1.types import iam

    raw = clients.keys.create_service_account_key(NAME, 2, 2, timeout=30)
    try:
        wrapped = iam.ServiceAccountKey.wrap(raw)
        assert stamp_seconds(raw) == wrapped.valid_after_time.timestamp()
        assert json.loads(raw.private_key_data)["private_key_id"] == raw.name.rsplit("/", 1)[1]
        assert stamp_seconds(iam.ServiceAccountKey.pb()()) is None
    finally:
        clients.keys.delete_service_account_key(raw.name, timeout=30)


def test_errors_are_mapped_as_the_sdk_maps_them(google: FakeGoogle, clients: Any) -> None:
    with pytest.raises(PermanentProviderError) as caught:  # noqa: SIM117 (both needed)
        with google_errors("DeleteServiceAccountKey"):
            clients.keys.delete_service_account_key(f"{NAME}/keys/nosuchkey", timeout=30)
    assert caught.value.code == "NOT_FOUND"
    google.faults.fail("token", "invalid_grant")
    clients.credentials.token = None  # the next call refreshes, and is refused
    with pytest.raises(PermanentProviderError) as refused:  # noqa: SIM117
        with google_errors("CreateServiceAccountKey"):
            clients.keys.create_service_account_key(NAME, 2, 2, timeout=30)
    assert refused.value.code == "UNAUTHENTICATED"
    assert google.state.calls["CreateServiceAccountKey"] == 0  # never sent unauthenticated


def test_google_errors_leaves_other_exceptions_alone() -> None:
    class Crash(BaseException):
        pass

    for exc in (KeyError("x"), Crash()):
        with pytest.raises(type(exc)) as caught, google_errors("op"):
            raise exc
        assert caught.value is exc


def test_the_root_project_is_parsed_once_per_config(google: FakeGoogle) -> None:
    config = google.config()
    cache = Clients()
    assert cache.project(config) == PROJECT  # the key file's project_id
    assert cache.project(dict(config)) == PROJECT
    assert cache.project(dict(config, project="other-project")) == "other-project"
    other = json.loads(config["credentials"])
    other["project_id"] = "third-project"
    assert cache.project(dict(config, credentials=json.dumps(other))) == "third-project"
    cache.clear()
    assert cache.project(config) == PROJECT


def test_the_routing_header_is_google_api_cores(clients: Any) -> None:
    from google.api_core.gapic_v1 import routing_header

    for name in (
        NAME,
        f"{NAME}/keys/0123456789abcdef0123456789abcdef01234567",
        "projects/my-project/serviceAccounts/a+b c@x.iam.gserviceaccount.com/keys/Ab9",
        f"{NAME}/keys/odd id",
        f"{NAME}/keys/é",
        f"{NAME}/keys/",
        "/keys/abc",
    ):
        assert clients.keys.routing(name) == routing_header.to_grpc_metadata((("name", name),))
