"""A key lease's two calls, CreateServiceAccountKey and DeleteServiceAccountKey,
made straight on the config's TLS channel with the IAM API's own protobuf messages.

They are the calls ``IAMClient`` makes, with the same request, the same metadata
(google-api-core's ``x-goog-api-client``, the ``x-goog-request-params`` routing
header, then the credentials' headers as ``clients._bearer_channel`` adds them) and
the same error mapping (``google.api_core.exceptions.from_grpc_error``), without
the layers between: proto-plus request and reply wrappers, the gapic retry and
timeout decorators, the transport's logging interceptor (which, at DEBUG, would log
a reply's private key) and the interceptor chain. Those were most of the Python
time of a key lease's issue and revoke (bench/gcp.py). The reply is the raw
``ServiceAccountKey`` protobuf: ``valid_after_time`` is a ``Timestamp``, read as
seconds without a datetime.

Every other IAM call goes through ``GoogleClients.iam``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clients import GoogleClients

__all__ = ["KeyCalls", "stamp_seconds"]

_SERVICE = "google.iam.admin.v1.IAM"


def stamp_seconds(key: Any) -> float | None:
    """A raw ``ServiceAccountKey``'s ``valid_after_time`` in epoch seconds (None
    when unset)."""
    if not key.HasField("valid_after_time"):
        return None
    stamp = key.valid_after_time
    return float(stamp.seconds + stamp.nanos / 1e9)


class KeyCalls:
    """``create_service_account_key`` and ``delete_service_account_key`` for one
    ``GoogleClients`` (its channel, without the bearer interceptor: the headers are
    added here, in the calling thread)."""

    def __init__(self, clients: GoogleClients, channel: Any, target: str) -> None:
        import grpc
        from google.api_core.gapic_v1 import routing_header
        from google.cloud.iam_admin_v1.services.iam.transports.base import DEFAULT_CLIENT_INFO
        from google.cloud.iam_admin_v1.types import iam
        from google.protobuf import empty_pb2

        self._clients = clients
        self._rpc_error = grpc.RpcError
        self._url = f"https://{target}/{_SERVICE}"
        self._api_client = DEFAULT_CLIENT_INFO.to_grpc_metadata()
        self._routing = routing_header.to_grpc_metadata
        self._create_request = iam.CreateServiceAccountKeyRequest.pb()
        self._delete_request = iam.DeleteServiceAccountKeyRequest.pb()
        self._create = channel.unary_unary(
            f"/{_SERVICE}/CreateServiceAccountKey",
            request_serializer=self._create_request.SerializeToString,
            response_deserializer=iam.ServiceAccountKey.pb().FromString,
        )
        self._delete = channel.unary_unary(
            f"/{_SERVICE}/DeleteServiceAccountKey",
            request_serializer=self._delete_request.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )

    def routing(self, name: str) -> tuple[str, str]:
        """google-api-core's routing header for ``name``. A key's name is its
        account's (whose header google-api-core caches) and ``/keys/<hex id>``, which
        URL-encoding leaves as it is: only the account's part is encoded."""
        account, sep, key_id = name.rpartition("/keys/")
        if sep and key_id.isascii() and key_id.isalnum():
            header, value = self._routing((("name", account),))
            return header, f"{value}/keys/{key_id}"
        return self._routing((("name", name),))  # type: ignore[no-any-return]

    def _call(self, rpc: Any, method: str, request: Any, name: str, timeout: float) -> Any:
        clients = self._clients
        headers: dict[str, str] = {}
        clients.refresh()
        # What AuthMetadataPlugin sends (token, quota project, metrics header).
        clients.credentials.before_request(clients.auth_request, method, self._url, headers)
        metadata = [self._api_client, self.routing(name)]
        metadata.extend(headers.items())
        try:
            return rpc(request, timeout=timeout, metadata=metadata)
        except self._rpc_error as exc:  # as google-api-core's error_remapped_callable
            from google.api_core import exceptions

            raise exceptions.from_grpc_error(exc) from exc

    def create_service_account_key(
        self, name: str, private_key_type: int, key_algorithm: int, *, timeout: float
    ) -> Any:
        """The new key (a raw ``ServiceAccountKey``; its private key data included)."""
        request = self._create_request(
            name=name, private_key_type=private_key_type, key_algorithm=key_algorithm
        )
        return self._call(self._create, "CreateServiceAccountKey", request, name, timeout)

    def delete_service_account_key(self, name: str, *, timeout: float) -> None:
        request = self._delete_request(name=name)
        self._call(self._delete, "DeleteServiceAccountKey", request, name, timeout)
