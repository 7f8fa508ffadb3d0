"""A gRPC fake of the IAM admin API (``google.iam.admin.v1.IAM``), served over TLS.

Speaks the wire format of Google's published protos (through the message types
google-cloud-iam ships), so the real ``IAMClient`` talks to it unchanged.
Implements what a secrets engine uses: service accounts (create, get, list,
delete), keys (create with the 10-key limit, list, delete), the account's
own IAM policy and ``testIamPermissions`` on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent import futures
from typing import Any

from ._state import FakeError, GoogleState

__all__ = ["serve_iam"]

_SERVICE = "google.iam.admin.v1.IAM"


def _policy_to_pb(policy: dict[str, Any]) -> Any:
    from google.iam.v1 import policy_pb2
    from google.type import expr_pb2

    pb = policy_pb2.Policy(version=policy["version"], etag=policy["etag"].encode())
    for b in policy["bindings"]:
        binding = pb.bindings.add(role=b["role"], members=b["members"])
        if b.get("condition"):
            binding.condition.CopyFrom(expr_pb2.Expr(**b["condition"]))
    return pb


def _policy_from_pb(pb: Any) -> dict[str, Any]:
    bindings = []
    for b in pb.bindings:
        item: dict[str, Any] = {"role": b.role, "members": list(b.members)}
        if b.HasField("condition"):
            c = b.condition
            item["condition"] = {
                k: v
                for k, v in {
                    "expression": c.expression,
                    "title": c.title,
                    "description": c.description,
                    "location": c.location,
                }.items()
                if v
            }
        bindings.append(item)
    out: dict[str, Any] = {"version": pb.version, "bindings": bindings}
    if pb.etag:
        out["etag"] = pb.etag.decode()
    return out


def _pkcs12(key: dict[str, Any]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key["id"])])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key["private"].public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key["private"], hashes.SHA256())
    )
    # Google's PKCS12 key files use the password "notasecret".
    return pkcs12.serialize_key_and_certificates(
        b"privatekey", key["private"], cert, None, BestAvailableEncryption(b"notasecret")
    )


def _resource(request: Any) -> str:
    """The resource a request acts on, as the fake's permissions name it: an
    account's email for the account and its keys, else ``projects/p``."""
    name = str(getattr(request, "name", "") or getattr(request, "resource", ""))
    if "/serviceAccounts/" in name:
        return name.split("/serviceAccounts/", 1)[1].split("/", 1)[0]
    return name


class _Servicer:
    def __init__(self, state: GoogleState) -> None:
        self.state = state

    def _run(
        self, method: str, fn: Callable[..., Any], *, who: bool = False
    ) -> Callable[[Any, Any], Any]:
        import grpc

        def handler(request: Any, context: Any) -> Any:
            try:
                meta = dict(context.invocation_metadata())
                auth = str(meta.get("authorization", ""))
                principal = self.state.principal(auth.removeprefix("Bearer ").strip())
                after = self.state.enter(method, principal, _resource(request))
                result = fn(request, principal) if who else fn(request)
                after()
                return result
            except FakeError as exc:
                context.abort(getattr(grpc.StatusCode, exc.status), exc.message)

        return handler

    def handlers(self) -> Any:
        import grpc
        from google.cloud.iam_admin_v1.types import iam
        from google.iam.v1 import iam_policy_pb2, policy_pb2
        from google.protobuf import empty_pb2, timestamp_pb2

        st = self.state

        def account(a: dict[str, Any]) -> Any:
            return iam.ServiceAccount(**{k: v for k, v in a.items()})

        def create(req: Any) -> Any:
            project = req.name.removeprefix("projects/")
            sa = req.service_account
            return account(
                st.create_account(project, req.account_id, sa.display_name, sa.description)
            )

        def list_accounts(req: Any) -> Any:
            project = req.name.removeprefix("projects/")
            with st.lock:
                found = sorted(
                    (a for a in st.accounts.values() if a["project_id"] == project),
                    key=lambda a: a["email"],
                )
            start = int(req.page_token or 0)
            size = req.page_size or 100
            page = found[start : start + size]
            token = str(start + size) if start + size < len(found) else ""
            return iam.ListServiceAccountsResponse(
                accounts=[account(a) for a in page], next_page_token=token
            )

        def key_pb(key: dict[str, Any], data: bytes = b"", key_type: int = 2) -> Any:
            ts = timestamp_pb2.Timestamp()
            ts.FromSeconds(int(key["created"]))
            far = timestamp_pb2.Timestamp()
            far.FromSeconds(253402300799)  # 9999-12-31: Google's "no expiry"
            return iam.ServiceAccountKey(
                name=key["name"],
                private_key_type=key_type,
                key_algorithm=getattr(iam.ServiceAccountKeyAlgorithm, key["algorithm"]),
                private_key_data=data,
                valid_after_time=ts,
                valid_before_time=far,
                key_origin=iam.ServiceAccountKeyOrigin.GOOGLE_PROVIDED,
                key_type=iam.ListServiceAccountKeysRequest.KeyType.USER_MANAGED,
            )

        def create_key(req: Any) -> Any:
            algorithm = iam.ServiceAccountKeyAlgorithm(req.key_algorithm).name
            if algorithm == "KEY_ALG_UNSPECIFIED":
                algorithm = "KEY_ALG_RSA_2048"
            key, data = st.create_key(req.name, algorithm)
            key_type = int(req.private_key_type) or 2
            if key_type == 1:
                data = _pkcs12(key)
            return key_pb(key, data, key_type)

        def list_keys(req: Any) -> Any:
            types = set(req.key_types)
            keys = st.list_keys(req.name)
            if types and 1 not in types:  # only system-managed asked: the fake has none
                keys = []
            return iam.ListServiceAccountKeysResponse(keys=[key_pb(k) for k in keys])

        def delete_key(req: Any) -> Any:
            st.delete_key(req.name)
            return empty_pb2.Empty()

        def delete_account(req: Any) -> Any:
            st.delete_account(req.name)
            return empty_pb2.Empty()

        def get_policy(req: Any) -> Any:
            name = st.account(req.resource)["name"]
            version = req.options.requested_policy_version
            return _policy_to_pb(st.get_policy(name, version))

        def set_policy(req: Any) -> Any:
            name = st.account(req.resource)["name"]
            return _policy_to_pb(st.set_policy(name, _policy_from_pb(req.policy)))

        def test_permissions(req: Any, principal: str) -> Any:
            email = st.account(req.resource)["email"]
            try:
                held = st.access.test(principal, email, list(req.permissions))
            except ValueError as exc:
                raise FakeError("INVALID_ARGUMENT", str(exc)) from exc
            return iam_policy_pb2.TestIamPermissionsResponse(permissions=held)

        table: dict[str, tuple[Callable[[Any], Any], Any, Any]] = {
            "CreateServiceAccount": (create, iam.CreateServiceAccountRequest, iam.ServiceAccount),
            "GetServiceAccount": (
                lambda r: account(st.account(r.name)),
                iam.GetServiceAccountRequest,
                iam.ServiceAccount,
            ),
            "ListServiceAccounts": (
                list_accounts,
                iam.ListServiceAccountsRequest,
                iam.ListServiceAccountsResponse,
            ),
            "DeleteServiceAccount": (delete_account, iam.DeleteServiceAccountRequest, None),
            "CreateServiceAccountKey": (
                create_key,
                iam.CreateServiceAccountKeyRequest,
                iam.ServiceAccountKey,
            ),
            "ListServiceAccountKeys": (
                list_keys,
                iam.ListServiceAccountKeysRequest,
                iam.ListServiceAccountKeysResponse,
            ),
            "DeleteServiceAccountKey": (delete_key, iam.DeleteServiceAccountKeyRequest, None),
        }
        methods: dict[str, Any] = {}
        for name, (fn, req_type, resp_type) in table.items():
            methods[name] = grpc.unary_unary_rpc_method_handler(
                self._run(name, fn),
                request_deserializer=req_type.deserialize,
                response_serializer=(
                    resp_type.serialize
                    if resp_type is not None
                    else empty_pb2.Empty.SerializeToString
                ),
            )
        methods["GetIamPolicy"] = grpc.unary_unary_rpc_method_handler(
            self._run("GetIamPolicy", get_policy),
            request_deserializer=iam_policy_pb2.GetIamPolicyRequest.FromString,
            response_serializer=policy_pb2.Policy.SerializeToString,
        )
        methods["TestIamPermissions"] = grpc.unary_unary_rpc_method_handler(
            self._run("TestIamPermissions", test_permissions, who=True),
            request_deserializer=iam_policy_pb2.TestIamPermissionsRequest.FromString,
            response_serializer=iam_policy_pb2.TestIamPermissionsResponse.SerializeToString,
        )
        methods["SetIamPolicy"] = grpc.unary_unary_rpc_method_handler(
            self._run("SetIamPolicy", set_policy),
            request_deserializer=iam_policy_pb2.SetIamPolicyRequest.FromString,
            response_serializer=policy_pb2.Policy.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(_SERVICE, methods)


def serve_iam(state: GoogleState, cert_pem: bytes, key_pem: bytes) -> tuple[Any, int]:
    """Start the fake on a free loopback port with TLS; returns (server, port)."""
    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((_Servicer(state).handlers(),))
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port
