"""botocore clients per config (boto3's clients are these; boto3 itself is not needed).

A client signs with the config's keys (or boto3's default chain), or, when config has
``role_arn`` (or a static role has ``assume_role_arn``), with temporary credentials of
that role from sts:AssumeRole. Those are botocore ``RefreshableCredentials`` whose
clock is the provider's injected one: botocore refreshes them before each call once
fewer than 15 minutes remain (and must, below 10), so a long-lived mount never signs
with an expired token, and tests move time instead of waiting.

STS clients try ``sts_endpoint``/``sts_region`` first, then each of
``sts_fallback_endpoints``/``sts_fallback_regions`` in order when an endpoint cannot be
reached or answers 5xx (Vault's fallback rule).
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ...clock import Clock, SystemClock
from ...errors import PermanentProviderError, ProviderError
from .config import resolve_region
from .errors import aws_errors, import_botocore

#: The session name of the root credential's own AssumeRole, when config has none.
ROOT_SESSION_NAME = "dynsecrets"
#: Every role allows one hour (MaxSessionDuration is 1-12 h; role chaining caps at 1 h).
ASSUMED_DURATION = 3600


@attrs.frozen
class Assume:
    """One sts:AssumeRole to make before signing: which role, as whom, with which
    external id."""

    role_arn: str
    session_name: str
    external_id: str | None = None
    #: The config or role field that named the role, for error messages.
    field: str = "role_arn"


def root_assume(config: Mapping[str, Any]) -> Assume | None:
    """The role config/root says to assume for every call, if any."""
    if not config.get("role_arn"):
        return None
    return Assume(
        config["role_arn"],
        config.get("role_session_name") or ROOT_SESSION_NAME,
        config.get("external_id") or None,
    )


def sts_targets(config: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """(endpoint, region) of every STS endpoint, in the order they are tried."""
    first = (config.get("sts_endpoint") or None, config.get("sts_region") or resolve_region(config))
    rest = zip(
        config.get("sts_fallback_endpoints") or [],
        config.get("sts_fallback_regions") or [],
        strict=False,  # equal lengths are checked when config is written
    )
    return [first, *rest]


def _utc(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


def _unreachable(exc: BaseException) -> bool:
    """An endpoint that could not be reached or failed at the server: try the next."""
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    if isinstance(exc, bx.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500
    return isinstance(exc, (bx.HTTPClientError, bx.ConnectionError, ResponseParserError))


class FallbackClient:
    """Sends each call to the first client, then to each next one while the previous
    endpoint is unreachable or answers 5xx. Any other error (access denied, bad
    input) is the answer: asking another endpoint would only repeat it."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self.meta = clients[0].meta
        self.exceptions = clients[0].exceptions

    def __getattr__(self, name: str) -> Any:
        methods = [getattr(c, name) for c in self.clients]
        if not callable(methods[0]):
            return methods[0]

        def call(*args: Any, **kwargs: Any) -> Any:
            for method in methods[:-1]:
                try:
                    return method(*args, **kwargs)
                except Exception as exc:
                    if not _unreachable(exc):
                        raise
            return methods[-1](*args, **kwargs)

        return call


class Clients:
    """boto3 clients per config, created once and shared (boto3 clients are thread-safe,
    sessions are not, so creation is serialised)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._credentials: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.RLock()
        self._hooks: list[Callable[[Any], None]] = []

    def instrument(self, hook: Callable[[Any], None]) -> None:
        """Call ``hook(client)`` on every client, now and later (tests register
        botocore event handlers this way)."""
        with self._lock:
            self._hooks.append(hook)
            for client in self._cache.values():
                hook(client)

    def get(
        self,
        service: str,
        config: Mapping[str, Any],
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        base: bool = False,
        assume: Assume | None = None,
    ) -> Any:
        """A client for ``service``. With ``access_key``: signed with that key (a
        throw-away client, for proving a new key works). Otherwise with the root
        credential: the config's keys or default chain (``base``), then the config's
        ``role_arn`` when set, then ``assume`` when given."""
        chain: tuple[Assume, ...] = ()
        if access_key is None:
            root = None if base else root_assume(config)
            chain = tuple(a for a in (root, assume) if a is not None)
        return self._get(service, config, chain, access_key, secret_key, session_token)

    def _get(
        self,
        service: str,
        config: Mapping[str, Any],
        chain: tuple[Assume, ...],
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
    ) -> Any:
        if service == "sts":
            targets = sts_targets(config)
        else:
            targets = [(config.get(f"{service}_endpoint") or None, resolve_region(config))]
        with self._lock:
            clients = [
                self._client(service, config, endpoint, region, chain, access_key, secret_key,
                             session_token)
                for endpoint, region in targets
            ]  # fmt: skip
        return clients[0] if len(clients) == 1 else FallbackClient(clients)

    def _client(
        self,
        service: str,
        config: Mapping[str, Any],
        endpoint: str | None,
        region: str,
        chain: tuple[Assume, ...],
        access_key: str | None,
        secret_key: str | None,
        session_token: str | None,
    ) -> Any:
        ak = access_key or config.get("access_key")
        sk = secret_key or config.get("secret_key")
        key = (service, ak, sk, session_token, endpoint, region, config.get("max_retries"), chain)
        client = self._cache.get(key)
        if client is not None:
            return client
        sessions, botocore_config = import_botocore()
        # Our RetryPolicy retries inside the operation's deadline; botocore's
        # own retries on top would multiply the time an outage costs.
        retries: dict[str, Any] = {"mode": "standard", "total_max_attempts": 1}
        if (config.get("max_retries") or -1) >= 0:
            retries = {"mode": "standard", "max_attempts": int(config["max_retries"]) + 1}
        # A botocore session as boto3.Session(...) sets one up for a client.
        session = sessions.Session()
        session.set_config_variable("region", region)
        if chain:
            # botocore has no public setter for a session's credentials; this is the
            # attribute get_credentials() returns when set (what aws-assume-role-lib does).
            session._credentials = self._assumed(config, chain)
        elif ak or sk or session_token:  # else botocore's default chain
            session.set_credentials(ak, sk, session_token)
        client = session.create_client(
            service,
            region_name=region,
            endpoint_url=endpoint,
            config=botocore_config.Config(
                retries=retries,
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=32,
                user_agent_extra="dynsecrets",
            ),
        )
        for hook in self._hooks:
            hook(client)
        # Keys minted for a single check (wait until usable) must not pile up.
        if access_key is None:
            self._cache[key] = client
        return client

    def _assumed(self, config: Mapping[str, Any], chain: tuple[Assume, ...]) -> Any:
        """Credentials of the last role of ``chain``, assumed with the credentials of
        the ones before it (or the base credentials); one object per config and chain,
        refreshed in place, so every client built on it stays valid."""
        key = (
            config.get("access_key"),
            config.get("secret_key"),
            tuple(sts_targets(config)),
            config.get("max_retries"),
            chain,
        )
        found = self._credentials.get(key)
        if found is not None:
            return found
        from botocore.credentials import DeferredRefreshableCredentials

        # Role chaining (a static role's assume_role_arn after config's role_arn): each
        # role is assumed with the credentials of the one before it.
        *before, spec = chain
        sts = self._get("sts", config, tuple(before))

        def refresh() -> dict[str, Any]:
            kwargs: dict[str, Any] = {
                "RoleArn": spec.role_arn,
                "RoleSessionName": spec.session_name,
                "DurationSeconds": ASSUMED_DURATION,
            }
            if spec.external_id:
                kwargs["ExternalId"] = spec.external_id
            started = self.clock.now()
            try:
                with aws_errors("AssumeRole"):
                    out = sts.assume_role(**kwargs)
            except ProviderError as exc:
                raise type(exc)(
                    f"cannot assume {spec.role_arn} ({spec.field}): "
                    f"{exc}; check that role's trust policy (and external_id), and that the "
                    "base credentials may call sts:AssumeRole on it",
                    operation=exc.operation,
                    code=exc.code,
                ) from exc
            creds = out["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                # The hour is counted on our own clock from before the call, not from
                # AWS's Expiration: a local clock that is behind AWS's would otherwise
                # sign with credentials AWS already considers expired.
                "expiry_time": _utc(started + ASSUMED_DURATION).isoformat(),
            }

        def now() -> datetime.datetime:
            return _utc(self.clock.now())

        found = DeferredRefreshableCredentials(refresh, "dynsecrets-assume-role", now)
        self._credentials[key] = found
        return found

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._credentials.clear()


def require_keys(config: Mapping[str, Any], operation: str) -> None:
    """Refuse an operation on the root user's own keys when config has none."""
    if config.get("access_key"):
        return
    if config.get("role_arn"):
        raise PermanentProviderError(
            f"{operation}: config/root has role_arn and no access_key: the root credential "
            "is an assumed role's temporary credentials, which AWS rotates by itself, so "
            "there is nothing to rotate; rotate the base credentials where they come from",
            operation=operation,
            code="NothingToRotate",
        )
    raise PermanentProviderError(
        f"{operation} needs access_key and secret_key in config/root; credentials from the "
        "default chain are not dynsecrets' to rotate",
        operation=operation,
        code="NothingToRotate",
    )
