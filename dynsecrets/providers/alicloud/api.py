"""The V2.0 SDK clients built from a mount's config, and the one way the provider
calls them: ``api.call("CreateUser", {"UserName": ...})`` with Alibaba's own action
and parameter names, the error mapping, and timeouts bounded by the operation's
deadline. The SDK's own retries stay off (its default): ours run inside that deadline.

Calls go through the SDK's documented generic ``call_api`` with the Params and query
its typed ``<action>_with_options`` methods would build (tests compare the two for
every action called here): the request and response models are skipped (their
from_map/to_map per call), the SDK's signing, credentials, TLS and pool are not."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ...retry import RetryPolicy, remaining
from .config import endpoint
from .errors import import_sdk, map_error, sdk_errors

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: RAM actions whose SDK method name is not the plain snake case of the action (an
#: action is called only if the SDK has a typed method for it).
_METHODS = {
    "GetUserMFAInfo": "get_user_mfainfo",
    "UnbindMFADevice": "unbind_mfadevice",
}
_STS_ACTIONS = frozenset({"AssumeRole", "GetCallerIdentity"})

# The SDK (darabonba) keeps one requests Session per "https://host:port:pool=<maxIdleConns>"
# for the life of the process, with one SSLContext into which urllib3 loads the CA bundle
# of every request it sends: without care, the CAs one mount trusts are trusted by every
# later client of that endpoint, other mounts' and the application's own. maxIdleConns is
# the one public setting in that key, so each trust setting (the default, or one bundle
# file) gets a pool size of its own, and with it a session and a context of its own.
# Sizes start above darabonba's default (40), which other users of the SDK share.
_POOL_BASE = 41
_pools: dict[str | None, int] = {}
_pools_lock = threading.Lock()


def pool_size(ca_bundle: str | None) -> int:
    """The SDK pool size (``max_idle_conns``) that isolates this trust setting."""
    with _pools_lock:
        return _pools.setdefault(ca_bundle or None, _POOL_BASE + len(_pools))


def _snake(action: str) -> str:
    if action in _METHODS:
        return _METHODS[action]
    return "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_")


class Clients:
    """SDK clients per (service, credentials, endpoint, CA), created once and shared.
    Observers (tests, benchmarks) are told of every call that succeeded."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Any] = {}
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
    ) -> Any:
        ak = access_key or config.get("access_key")
        sk = secret_key or config.get("secret_key")
        host = endpoint(config, service)
        key = (service, ak, sk, host, config.get("region"), config.get("ca_bundle"))
        with self._lock:
            client = self._cache.get(key)
            if client is not None:
                return client
        Config, RamClient, _, StsClient, _ = import_sdk()
        kwargs: dict[str, Any] = {
            "endpoint": host,
            "protocol": "https",
            "region_id": config.get("region") or "cn-hangzhou",
            "connect_timeout": int(CONNECT_TIMEOUT * 1000),
            "read_timeout": int(READ_TIMEOUT * 1000),
            "max_idle_conns": pool_size(config.get("ca_bundle")),
        }
        if config.get("ca_bundle"):
            kwargs["ca"] = config["ca_bundle"]
        if ak and sk:
            kwargs.update(access_key_id=ak, access_key_secret=sk)
        else:
            from alibabacloud_credentials.client import Client as CredentialClient

            # Environment, ECS RAM role, OIDC: the SDK's default chain.
            kwargs["credential"] = CredentialClient()
        cls = RamClient if service == "ram" else StsClient
        client = cls(Config(**kwargs))
        if cache:
            with self._lock:
                client = self._cache.setdefault(key, client)
        return client

    def clear(self) -> None:
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
        # The SDK's generic call (``call_api``), as its typed methods make it, with the
        # Params each typed method builds resolved once per action: no request or
        # response models, so no from_map/to_map per call; signing (ACS3-HMAC-SHA256),
        # credentials, TLS and the connection pool are the SDK's, as before.
        sdk = _sdk()
        service, params_model = _action(action)
        client = self._client.get(service)
        if client is None:
            ak, sk = self._keys
            # A client made for one probe (a new key being proven) is not kept.
            client = self.clients.get(
                service, self.config, access_key=ak, secret_key=sk, cache=ak is None
            )
            self._client[service] = client
        request = sdk.OpenApiRequest(query=None if params is None else _query(params))
        try:
            out: dict[str, Any] = client.call_api(params_model, request, _runtime(sdk))["body"]
        except sdk.errors as exc:
            raise map_error(exc, action) from exc
        observers = self.clients.observers
        if observers:
            for observer in list(observers):
                observer(action)
        return out


class _Sdk:
    """The SDK classes the calls need, imported once, on first use."""

    def __init__(self) -> None:
        from alibabacloud_tea_openapi.utils import Utils
        from alibabacloud_tea_openapi.utils_models import OpenApiRequest, Params
        from darabonba.runtime import RuntimeOptions

        self.Config, self.RamClient, _, self.StsClient, _ = import_sdk()
        self.OpenApiRequest, self.Params = OpenApiRequest, Params
        self.RuntimeOptions = RuntimeOptions
        self.flatten = Utils.query
        self.errors = sdk_errors()


_loaded: _Sdk | None = None
#: action -> (service, the SDK's Params for it), made once per action
_actions: dict[str, tuple[str, Any]] = {}
#: The RuntimeOptions of every call with more than READ_TIMEOUT left, made once.
_default_runtime: Any = None
#: What every RAM (2015-05-01) and STS (2015-04-01) action of the V2.0 SDK sends: its
#: typed methods build these Params; tests check each action we call against them.
_VERSIONS = {"ram": "2015-05-01", "sts": "2015-04-01"}


def _sdk() -> _Sdk:
    global _loaded
    if _loaded is None:
        _loaded = _Sdk()  # raises MissingDependency, and is tried again, when absent
    return _loaded


def _action(action: str) -> tuple[str, Any]:
    found = _actions.get(action)
    if found is None:
        sdk = _sdk()
        service = "sts" if action in _STS_ACTIONS else "ram"
        cls = sdk.StsClient if service == "sts" else sdk.RamClient
        if not hasattr(cls, f"{_snake(action)}_with_options"):
            raise AttributeError(f"the Alibaba {service} SDK has no action {action}")
        params = sdk.Params(
            action=action,
            version=_VERSIONS[service],
            protocol="HTTPS",
            pathname="/",
            method="POST",
            auth_type="AK",
            style="RPC",
            req_body_type="formData",
            body_type="json",
        )
        found = _actions.setdefault(action, (service, params))
    return found


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    """The query the typed methods send: each value as text (the SDK's flattening for
    anything nested), nothing for None."""
    for value in params.values():
        if type(value) is not str:
            return dict(_sdk().flatten(dict(params)))
    return dict(params)


def _runtime(sdk: _Sdk) -> Any:
    """Timeouts bounded by what is left of the operation's deadline."""
    global _default_runtime
    left = remaining()
    if left is None or left >= READ_TIMEOUT:
        if _default_runtime is None:  # the SDK reads it and never changes it: one for all
            _default_runtime = sdk.RuntimeOptions(
                connect_timeout=int(CONNECT_TIMEOUT * 1000), read_timeout=int(READ_TIMEOUT * 1000)
            )
        return _default_runtime
    connect = max(0.05, min(CONNECT_TIMEOUT, left))
    read = max(0.05, left)
    return sdk.RuntimeOptions(connect_timeout=int(connect * 1000), read_timeout=int(read * 1000))
