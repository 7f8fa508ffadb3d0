"""The Google clients built from a mount's config: one credentials object, a
``requests`` session that trusts ``ca_bundle`` (and ignores REQUESTS_CA_BUNDLE and
proxies from the environment: ``trust_env = False``), an ``AuthorizedSession``
for the REST APIs and a gRPC ``IAMClient`` on a TLS channel."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from ...retry import remaining
from .config import credentials_info, endpoint
from .errors import google_errors, require_google

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


class GoogleClients:
    """The clients for one config."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        require_google()
        import google.auth
        import grpc
        from google.auth.transport.grpc import secure_authorized_channel
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
        channel = secure_authorized_channel(
            self.credentials,
            self.auth_request,
            target,
            ssl_credentials=grpc.ssl_channel_credentials(ca_bytes),
        )
        self.channel = channel
        self.iam = IAMClient(transport=IAMGrpcTransport(channel=channel))
        rest = AuthorizedSession(self.credentials, auth_request=self.auth_request)
        rest.trust_env = False
        rest.verify = ca or True
        self.rest = rest

    def ensure_token(self, operation: str) -> None:
        """Refresh the access token ourselves before a gRPC call: a refresh failing
        inside gRPC's auth plugin reaches us as UNAVAILABLE, which would turn a
        deleted root key into a retried 'outage'."""
        if self.credentials.valid:
            return
        with self.lock, google_errors(operation):
            if not self.credentials.valid:
                self.credentials.refresh(self.auth_request)

    def url(self, service: str, path: str) -> str:
        return f"{endpoint(self.config, service)}/{path.lstrip('/')}"

    def close(self) -> None:
        self.rest.close()
        self.channel.close()


class Clients:
    """GoogleClients per config, made once and shared."""

    def __init__(self) -> None:
        self._cache: dict[str, GoogleClients] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(config: Mapping[str, Any]) -> str:
        shown = {k: config.get(k) for k in ("credentials", "endpoints", "ca_bundle", "project")}
        return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()

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
