"""REST fakes over TLS: the OAuth 2.0 token endpoint (JWT-bearer grant),
iamcredentials v1 ``generateAccessToken``, and the ``getIamPolicy`` /
``setIamPolicy`` / ``testIamPermissions`` methods of resourcemanager v3 (projects, folders,
organizations), Cloud Storage buckets and the ``:getIamPolicy`` style of the
other v1 APIs (Pub/Sub, Secret Manager, ...). Paths, bodies and error bodies
follow Google's references; errors use the ``{"error": {code, message,
status}}`` shape."""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ._state import FakeError, GoogleState

__all__ = ["serve_rest"]

_HTTP = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jwt(state: GoogleState, assertion: str) -> str:
    """The service account a JWT-bearer assertion authenticates, or invalid_grant."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head_b64, body_b64, sig_b64 = assertion.split(".")
        header = json.loads(_b64d(head_b64))
        claims = json.loads(_b64d(body_b64))
    except ValueError as exc:
        raise FakeError("invalid_grant", "Invalid JWT.") from exc
    with state.lock:
        key = state.keys.get(str(header.get("kid")))
    if header.get("alg") != "RS256" or key is None:
        raise FakeError("invalid_grant", "Invalid JWT Signature.")
    try:
        key["private"].public_key().verify(
            _b64d(sig_b64),
            f"{head_b64}.{body_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature as exc:
        raise FakeError("invalid_grant", "Invalid JWT Signature.") from exc
    # google-auth always names Google's token endpoint as the audience, whatever
    # token_uri it posts to; Google accepts that and its own token_uri.
    audiences = {state.token_uri, "https://oauth2.googleapis.com/token"}
    if claims.get("iss") != key["email"] or claims.get("aud") not in audiences:
        raise FakeError("invalid_grant", "Invalid JWT: wrong issuer or audience.")
    if float(claims.get("exp", 0)) < time.time():
        raise FakeError("invalid_grant", "Invalid JWT: Token must be a short-lived token.")
    return str(key["email"])


def _kind(resource: str) -> str:
    parts = resource.split("/")
    if parts[0] == "b":
        return "buckets"
    return parts[-2] if len(parts) >= 2 else parts[0]


class _Handler(BaseHTTPRequestHandler):
    state: GoogleState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        loaded: dict[str, Any] = json.loads(raw or b"{}")
        return loaded

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, verb: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        try:
            body = self._body() if verb != "GET" else {}
            if path == "/token":
                self._token(body)
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            principal = self.state.principal(token)
            self._send(200, self._api(verb, path, query, body, principal))
        except FakeError as exc:
            if path == "/token":
                self._send(
                    500 if exc.status == "UNAVAILABLE" else 400,
                    {"error": exc.status, "error_description": exc.message},
                )
                return
            code = _HTTP.get(exc.status, 500)
            self._send(
                code, {"error": {"code": code, "message": exc.message, "status": exc.status}}
            )
        except (ValueError, KeyError) as exc:
            self._send(
                400,
                {
                    "error": {
                        "code": 400,
                        "message": f"bad request: {exc}",
                        "status": "INVALID_ARGUMENT",
                    }
                },
            )

    def _token(self, body: dict[str, Any]) -> None:
        after = self.state.enter("token")
        if body.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise FakeError("unsupported_grant_type", "Invalid grant_type.")
        email = _verify_jwt(self.state, body.get("assertion", ""))
        token, expiry = self.state.issue_token(email)
        after()
        self._send(
            200,
            {
                "access_token": token,
                "expires_in": int(expiry - time.time()),
                "token_type": "Bearer",
            },
        )

    def _api(
        self, verb: str, path: str, query: dict[str, list[str]], body: dict[str, Any], who: str
    ) -> dict[str, Any]:
        st = self.state
        if path.endswith(":generateAccessToken"):
            email = path.removesuffix(":generateAccessToken").rsplit("/", 1)[-1]
            after = st.enter("generateAccessToken", who, email)
            st.account(email)
            scopes = body.get("scope") or []
            if not scopes:
                raise FakeError("INVALID_ARGUMENT", "Scope required.")
            lifetime = int(str(body.get("lifetime") or "3600s").removesuffix("s"))
            if not 1 <= lifetime <= 3600:
                raise FakeError("INVALID_ARGUMENT", "The lifetime must be at most 3600s.")
            token, expiry = st.issue_token(email, lifetime)
            after()
            stamp = dt.datetime.fromtimestamp(expiry, dt.timezone.utc)
            return {"accessToken": token, "expireTime": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if path.startswith("/storage/v1/b/") and path.endswith("/iam"):
            resource = path.removeprefix("/storage/v1/").removesuffix("/iam")
            version = int((query.get("optionsRequestedPolicyVersion") or ["1"])[0])
            if verb == "GET":
                return self._policy_get(resource, version, who)
            return self._policy_set(resource, body, who)
        if path.startswith("/storage/v1/b/") and path.endswith("/iam/testPermissions"):
            resource = path.removeprefix("/storage/v1/").removesuffix("/iam/testPermissions")
            held = self._test(resource, query.get("permissions") or [], who)
            return {"kind": "storage#testIamPermissionsResponse", "permissions": held}
        if path.endswith(":testIamPermissions"):
            resource = path.removesuffix(":testIamPermissions").split("/", 2)[2]
            held = self._test(resource, list(body.get("permissions") or []), who)
            # proto3 JSON leaves out an empty list: nothing held is "{}".
            return {"permissions": held} if held else {}
        for suffix in (":getIamPolicy", ":setIamPolicy"):
            if path.endswith(suffix):
                resource = path.removesuffix(suffix).split("/", 2)[2]  # drop /v1/ or /v3/
                if suffix == ":getIamPolicy":
                    opts = body.get("options") or {}
                    version = int(
                        opts.get("requestedPolicyVersion")
                        or (query.get("options.requestedPolicyVersion") or ["1"])[0]
                    )
                    return self._policy_get(resource, version, who)
                return self._policy_set(resource, body.get("policy") or {}, who)
        raise FakeError("NOT_FOUND", f"no such method: {verb} {path}")

    def _exists(self, resource: str) -> None:
        if resource not in self.state.known_resources:
            raise FakeError("NOT_FOUND", f"Resource {resource} not found.")

    def _test(self, resource: str, permissions: list[str], who: str) -> list[str]:
        after = self.state.enter(f"{_kind(resource)}.testIamPermissions")
        self._exists(resource)
        try:
            held = self.state.access.test(who, resource, permissions)
        except ValueError as exc:
            raise FakeError("INVALID_ARGUMENT", str(exc)) from exc
        after()
        return held

    def _policy_get(self, resource: str, version: int, who: str) -> dict[str, Any]:
        after = self.state.enter(f"{_kind(resource)}.getIamPolicy", who, resource)
        self._exists(resource)
        policy = self.state.get_policy(resource, version)
        after()
        return policy

    def _policy_set(self, resource: str, policy: dict[str, Any], who: str) -> dict[str, Any]:
        after = self.state.enter(f"{_kind(resource)}.setIamPolicy", who, resource)
        self._exists(resource)
        result = self.state.set_policy(resource, policy)
        after()
        return result


def serve_rest(
    state: GoogleState, cert_pem: bytes, key_pem: bytes, cert_dir: str
) -> tuple[ThreadingHTTPServer, int]:
    """Start the REST fakes on a free loopback port with TLS; returns (server, port)."""
    import os

    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    cert_file, key_file = os.path.join(cert_dir, "rest.pem"), os.path.join(cert_dir, "rest.key")
    with open(cert_file, "wb") as f:
        f.write(cert_pem)
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="fake-google-rest").start()
    return server, int(server.server_address[1])
