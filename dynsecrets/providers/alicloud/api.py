"""The calls on a mount's config: ``api.call("CreateUser", {"UserName": ...})`` with
Alibaba's own action and parameter names, the error mapping, and timeouts bounded
by the operation's deadline. No call is retried below this (our retries run inside
that deadline).

A call is the request the V2.0 SDK's typed ``<action>_with_options`` method sends
(tests compare the two on the wire for every action called here), signed by the
SDK's signer with the SDK's credentials, and sent by :mod:`.transport`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ...retry import RetryPolicy, remaining
from .config import endpoint
from .errors import import_sdk, map_error, transport_errors
from .transport import Transport

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: RAM actions whose SDK method name is not the plain snake case of the action (an
#: action is called only if the SDK has a typed method for it).
_METHODS = {
    "GetUserMFAInfo": "get_user_mfainfo",
    "UnbindMFADevice": "unbind_mfadevice",
}
_STS_ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})
#: The API version of every RAM (2015-05-01) and STS (2015-04-01) action.
_VERSIONS = {"ram": "2015-05-01", "sts": "2015-04-01"}


def _snake(action: str) -> str:
    if action in _METHODS:
        return _METHODS[action]
    return "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")


def credential(access_key: str | None, secret_key: str | None) -> Any:
    """The SDK's credential client: the static key, or its default chain
    (environment, profile files, ECS RAM role, OIDC) when there is none."""
    from alibabacloud_credentials.client import Client as CredentialClient

    if access_key and secret_key:
        from alibabacloud_credentials.models import Config as CredentialConfig

        return CredentialClient(
            CredentialConfig(
                type="access_key", access_key_id=access_key, access_key_secret=secret_key
            )
        )
    return CredentialClient()


class Clients:
    """Transports per (service, credentials, endpoint, CA), created once and shared.
    Observers (tests, benchmarks) are told of every call that succeeded."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Transport] = {}
        self._lock = threading.Lock()
        self.observers: list[Callable[[str], None]] = []

    def get(
        self,
        service: str,
        config: Mapping[str, Any],
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        cache: bool = True,
    ) -> Transport:
        ak = access_key or config.get("access_key")
        sk = secret_key or config.get("secret_key")
        host = endpoint(config, service)
        key = (service, ak, sk, host, config.get("ca_bundle"))
        if cache:
            with self._lock:
                found = self._cache.get(key)
            if found is not None:
                return found
        import_sdk()  # MissingDependency, with the extra to install, when absent
        made = Transport(host, credential=credential(ak, sk), ca_bundle=config.get("ca_bundle"))
        if not cache:  # the caller's own (a probe's), closed by it
            return made
        with self._lock:
            found = self._cache.setdefault(key, made)
        if found is not made:
            made.close()  # another thread's came first; nobody has seen this one
        return found

    def clear(self) -> None:
        """Forget every transport: later calls build new ones. Those in use stay
        open for the calls holding them, and close when they are dropped."""
        with self._lock:
            self._cache.clear()


class Api:
    """Calls on one mount's config: ``call(action, params)`` returns the response body
    as Alibaba's JSON (``{"User": {...}}``)."""

    def __init__(
        self,
        clients: Clients,
        retry: RetryPolicy,
        config: Mapping[str, Any],
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.clients, self.retry, self.config = clients, retry, config
        self._keys = (access_key, secret_key)
        self._client: dict[str, Any] = {}  # per service, for this Api's calls

    def call(self, action: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One action, transient errors retried within the operation's deadline."""
        return self.retry.call(lambda: self.attempt(action, params))

    def attempt(self, action: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One action, one attempt (a create that must be reconciled before a retry)."""
        service, version = _action(action)
        connect, read = _timeouts()
        try:
            transport = self._client.get(service)
            if transport is None:
                ak, sk = self._keys
                # A transport made for one probe (a new key being proven) is its own.
                transport = self.clients.get(
                    service, self.config, access_key=ak, secret_key=sk, cache=ak is None
                )
                self._client[service] = transport
            out = transport.call(
                action,
                version,
                _query(params) if params else {},
                connect_timeout=connect,
                read_timeout=read,
            )
        except transport_errors() as exc:
            raise map_error(exc, action) from exc
        observers = self.clients.observers
        if observers:
            for observer in list(observers):
                observer(action)
        return out

    def close(self) -> None:
        """Close the transports made for this Api alone (a probe's: never shared)."""
        if self._keys[0] is not None:
            for transport in self._client.values():
                transport.close()
        self._client.clear()


#: action -> (service, API version), checked once per action
_actions: dict[str, tuple[str, str]] = {}


def _action(action: str) -> tuple[str, str]:
    found = _actions.get(action)
    if found is None:
        _, ram, _, sts, _ = import_sdk()
        service = "sts" if action in _STS_ACTIONS else "ram"
        if not hasattr(sts if service == "sts" else ram, f"{_snake(action)}_with_options"):
            raise AttributeError(f"the Alibaba {service} SDK has no action {action}")
        found = _actions.setdefault(action, (service, _VERSIONS[service]))
    return found


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    """The query the typed methods send: each value as text (the SDK's flattening for
    anything nested), nothing for None."""
    for value in params.values():
        if type(value) is not str:
            from alibabacloud_tea_openapi.utils import Utils

            return dict(Utils.query(dict(params)))
    return dict(params)


def _timeouts() -> tuple[float, float]:
    """(connect, read) seconds, bounded by what is left of the operation's deadline."""
    left = remaining()
    if left is None or left >= READ_TIMEOUT:
        return CONNECT_TIMEOUT, READ_TIMEOUT
    return max(0.05, min(CONNECT_TIMEOUT, left)), max(0.05, left)
