"""The Google clients built from a mount's config: one credentials object, a
``requests`` session that trusts ``ca_bundle`` (and ignores REQUESTS_CA_BUNDLE and
proxies from the environment: ``trust_env = False``), an ``AuthorizedSession``
for the REST APIs and a gRPC ``IAMClient`` on a TLS channel.

The channel carries no call credentials: an interceptor adds the headers
google-auth's ``AuthMetadataPlugin`` would (``credentials.before_request``) in the
calling thread. gRPC runs a metadata plugin on a new thread per call, which was
about half of a key's CreateServiceAccountKey + DeleteServiceAccountKey time on a
local endpoint (bench/gcp.py), and a refresh failing in the plugin surfaced as
UNAVAILABLE; in the interceptor it raises google-auth's own error in the caller,
inside ``google_errors``. The token still travels only over the TLS channel.
A key lease's two calls skip ``IAMClient`` and add the same headers themselves
(``keys``, keycalls.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ...retry import remaining
from .config import credentials_info, endpoint, root_project
from .errors import google_errors, require_google
from .keycalls import KeyCalls

__all__ = ["SCOPE", "Clients", "GoogleClients", "call_timeout"]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def call_timeout(default: float = 30.0) -> float:
    """An SDK call's own timeout: what is left of the operation's deadline."""
    left = remaining(default)
    return max(0.5, min(default, left if left is not None else default))


def http_session(ca_bundle: str | None) -> Any:
    import requests

    session = requests.Session()
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would override verify.
    session.trust_env = False
    session.verify = ca_bundle or True
    return session


def credentials_from_info(info: Mapping[str, Any], ca_bundle: str | None) -> tuple[Any, Any]:
    """(credentials, auth request) for a service-account key: scoped, so tokens come
    from the key's token_uri over a session that trusts ``ca_bundle``."""
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(dict(info), scopes=[SCOPE])
    return creds, Request(http_session(ca_bundle))


def _bearer_channel(channel: Any, clients: GoogleClients, target: str) -> Any:
    """``channel`` with the credentials' headers added to every unary call (IAM
    admin has no streaming methods; a streaming call would go unauthenticated and
    be refused, never sent over a channel without TLS)."""
    import collections

    import grpc

    class _Details(
        collections.namedtuple(
            "_Details",
            ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
        ),
        grpc.ClientCallDetails,  # type: ignore[misc]
    ):
        pass

    class _Bearer(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            method = details.method
            if isinstance(method, bytes):
                method = method.decode()
            service, _, name = method.lstrip("/").rpartition("/")
            headers: dict[str, str] = {}
            clients.refresh()
            # What AuthMetadataPlugin sends (token, quota project, metrics header).
            clients.credentials.before_request(
                clients.auth_request, name, f"https://{target}/{service}", headers
            )
            metadata = list(details.metadata or ())
            metadata.extend(headers.items())
            return continuation(
                _Details(
                    details.method,
                    details.timeout,
                    metadata,
                    details.credentials,
                    details.wait_for_ready,
                    details.compression,
                ),
                request,
            )

    return grpc.intercept_channel(channel, _Bearer())


class GoogleClients:
    """The clients for one config."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        require_google()
        import google.auth
        import grpc
        from google.auth.transport.requests import AuthorizedSession
        from google.cloud.iam_admin_v1 import IAMClient
        from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

        self.config = dict(config)
        ca = config.get("ca_bundle")
        info = credentials_info(config)
        with google_errors("load credentials"):
            if info is not None:
                self.credentials, self.auth_request = credentials_from_info(info, ca)
            else:
                from google.auth.transport.requests import Request

                self.auth_request = Request(http_session(ca))
                self.credentials, _ = google.auth.default(scopes=[SCOPE])
        self.lock = threading.Lock()
        ca_bytes = None
        if ca:
            with open(ca, "rb") as f:
                ca_bytes = f.read()
        target = endpoint(config, "iam").removeprefix("https://")
        # TLS always: the interceptor puts a bearer token in every call's metadata.
        self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(ca_bytes))
        channel = _bearer_channel(self.channel, self, target)
        self.iam = IAMClient(transport=IAMGrpcTransport(channel=channel))
        #: A key lease's create and delete, without IAMClient's layers (keycalls.py).
        self.keys = KeyCalls(self, self.channel, target)
        rest = AuthorizedSession(self.credentials, auth_request=self.auth_request)
        rest.trust_env = False
        rest.verify = ca or True
        self.rest = rest

    def refresh(self) -> None:
        """Refresh the access token if it is missing or about to expire (one
        refresh at a time; google-auth's own exceptions)."""
        if self.credentials.valid:
            return
        with self.lock:
            if not self.credentials.valid:
                self.credentials.refresh(self.auth_request)

    def ensure_token(self, operation: str) -> None:
        """Refresh the access token before a call, its errors mapped for ``operation``
        (a deleted root key is UNAUTHENTICATED, not a retried outage)."""
        if self.credentials.valid:
            return
        with google_errors(operation):
            self.refresh()

    def url(self, service: str, path: str) -> str:
        return f"{endpoint(self.config, service)}/{path.lstrip('/')}"

    def close(self) -> None:
        self.rest.close()
        self.channel.close()


class Clients:
    """GoogleClients per config, made once and shared."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], GoogleClients] = {}
        self._projects: dict[tuple[Any, ...], str | None] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(config: Mapping[str, Any]) -> tuple[Any, ...]:
        # Looked up on every plan, issue and revoke: a tuple of the config's own
        # strings hashes in O(1) (str caches its hash), where JSON + SHA-256 of the
        # key file did not. The GoogleClients it maps to hold the same config anyway.
        endpoints = config.get("endpoints") or {}
        try:
            where: Any = frozenset(endpoints.items())  # service -> URL, both str
        except TypeError:
            where = tuple(sorted((str(k), str(v)) for k, v in endpoints.items()))
        return (config.get("credentials"), config.get("ca_bundle"), config.get("project"), where)

    def project(self, config: Mapping[str, Any]) -> str | None:
        """``root_project(config)``, the key file parsed once per config (every key
        lease's plan names it)."""
        key = self._key(config)
        try:
            return self._projects[key]
        except KeyError:
            found = self._projects[key] = root_project(config)
            return found

    def get(self, config: Mapping[str, Any]) -> GoogleClients:
        key = self._key(config)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = self._cache[key] = GoogleClients(config)
            return found

    def clear(self) -> None:
        with self._lock:
            for clients in self._cache.values():
                clients.close()
            self._cache.clear()
            self._projects.clear()
