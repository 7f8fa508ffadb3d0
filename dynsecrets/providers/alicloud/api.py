"""The V2.0 SDK clients built from a mount's config, and the one way the provider
calls them: ``api.call("CreateUser", {"UserName": ...})`` with Alibaba's own action
and parameter names, the error mapping, and timeouts bounded by the operation's
deadline. The SDK's own retries stay off (its default): ours run inside that deadline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ...retry import RetryPolicy, remaining
from .config import endpoint
from .errors import import_sdk, map_error, sdk_errors

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
#: RAM actions whose SDK method name is not the plain snake case of the action.
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
        # Everything resolved once (SDK modules, method, request class, client): per
        # call this costs what a direct SDK call costs, plus the deadline's timeouts.
        sdk = _sdk()
        service, method_name, request_cls = _action(action)
        client = self._client.get(service)
        if client is None:
            ak, sk = self._keys
            # A client made for one probe (a new key being proven) is not kept.
            client = self.clients.get(
                service, self.config, access_key=ak, secret_key=sk, cache=ak is None
            )
            self._client[service] = client
        left = remaining()
        # Bound each HTTP call by what is left of the operation's deadline.
        connect = CONNECT_TIMEOUT if left is None else max(0.05, min(CONNECT_TIMEOUT, left))
        read = READ_TIMEOUT if left is None else max(0.05, min(READ_TIMEOUT, left))
        runtime = sdk.RuntimeOptions(
            connect_timeout=int(connect * 1000), read_timeout=int(read * 1000)
        )
        method = getattr(client, method_name)
        try:
            if request_cls is None:
                response = method(runtime)
            else:
                response = method(request_cls().from_map(params), runtime)
            out: dict[str, Any] = response.body.to_map()
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
        from darabonba.runtime import RuntimeOptions

        self.Config, self.RamClient, self.ram_models, self.StsClient, self.sts_models = import_sdk()
        self.RuntimeOptions = RuntimeOptions
        self.errors = sdk_errors()


_loaded: _Sdk | None = None
#: action -> (service, SDK method name, request class or None for no-parameter calls)
_actions: dict[str, tuple[str, str, Any]] = {}


def _sdk() -> _Sdk:
    global _loaded
    if _loaded is None:
        _loaded = _Sdk()  # raises MissingDependency, and is tried again, when absent
    return _loaded


def _action(action: str) -> tuple[str, str, Any]:
    found = _actions.get(action)
    if found is None:
        sdk = _sdk()
        service = "sts" if action in _STS_ACTIONS else "ram"
        models = sdk.sts_models if service == "sts" else sdk.ram_models
        found = (
            service,
            f"{_snake(action)}_with_options",
            getattr(models, f"{action}Request", None),
        )
        _actions[action] = found
    return found
