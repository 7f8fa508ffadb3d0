"""Root config (``<mount>/config``) and the Azure clients built from it."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ...errors import ValidationError
from ...schema import Field, Schema

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# A tenant is a GUID or a verified domain (contoso.onmicrosoft.com), as MSAL accepts.
_TENANT = re.compile(rf"{GUID.pattern}|(?=.{{1,253}}$)({_DNS_LABEL.pattern}\.)+[A-Za-z]{{2,63}}")


@attrs.frozen
class Cloud:
    authority: str
    graph: str
    arm: str
    #: The token audiences: a private endpoint (a proxy, an emulator) still
    #: serves the national cloud's Graph and ARM, so scopes never follow overrides.
    graph_scope: str
    arm_scope: str


CLOUDS = {
    "AzurePublicCloud": Cloud(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "https://management.azure.com",
        "https://graph.microsoft.com/.default",
        "https://management.azure.com/.default",
    ),
    "AzureUSGovernmentCloud": Cloud(
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://management.usgovcloudapi.net",
        "https://graph.microsoft.us/.default",
        "https://management.usgovcloudapi.net/.default",
    ),
    "AzureChinaCloud": Cloud(
        "https://login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn/.default",
        "https://management.chinacloudapi.cn/.default",
    ),
}


def _check_guid(value: str) -> str:
    if not GUID.fullmatch(value):
        raise ValueError("must be a GUID such as 00000000-0000-0000-0000-000000000000")
    return value.lower()


def _check_tenant(value: str) -> str:
    if not _TENANT.fullmatch(value):
        raise ValueError(
            "must be the directory (tenant) id, a GUID, or a verified domain such as "
            "contoso.onmicrosoft.com"
        )
    return value.lower()


def _check_client_id(value: str) -> str:
    # Never echo the value: a secret pasted here would end up in logs and on stderr.
    if not GUID.fullmatch(value):
        raise ValueError(
            "must be the application (client) id, a GUID; was the client secret pasted here?"
        )
    return value.lower()


def check_https(value: str) -> str:
    """azure-identity refuses a non-https authority and azure-core's bearer token
    policy refuses to send a token over http, so only https is accepted, now."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("has whitespace or control characters; give a URL such as https://host")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from exc
    if parts.scheme != "https":
        raise ValueError("must start with https:// (Azure sends tokens over TLS only)")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError("must not hold user:password@, a query string or a fragment")
    if parts.path not in ("", "/"):
        raise ValueError("must be the endpoint's root (no path, such as /v1.0)")
    if parts.netloc.endswith(":") or port == 0:
        raise ValueError("has no port number after ':'" if port is None else "has port 0")
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError("has an IPv6 address in [ ] that is not valid") from exc
    elif not host or not all(_DNS_LABEL.fullmatch(p) for p in host.rstrip(".").split(".")):
        raise ValueError("has no valid host name")
    return value.rstrip("/")


def _check_ca_bundle(value: str) -> str:
    path = os.path.abspath(os.path.expanduser(value))
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except OSError as exc:
        raise ValueError(f"cannot read {path} ({exc.strerror})") from exc
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueError(f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return path


CONFIG_SCHEMA = Schema(
    {
        "subscription_id": Field(
            "str", required=True, max_length=36, check=_check_guid, doc="Azure subscription id"
        ),
        "tenant_id": Field(
            "str", required=True, max_length=253, check=_check_tenant, doc="directory (tenant) id"
        ),
        "client_id": Field(
            "str",
            max_length=36,
            check=_check_client_id,
            doc="the root application's client id; empty: the azure-identity default chain",
        ),
        "client_secret": Field(
            "str", secret=True, max_length=1024, doc="the root application's client secret"
        ),
        "client_secret_key_id": Field(
            "str",
            max_length=36,
            check=_check_guid,
            doc="the keyId of client_secret's password on the root application; set by "
            "rotate-root (which removes that password next time), or by hand when "
            "Graph's hint cannot tell it apart",
        ),
        "environment": Field(
            "str",
            default="AzurePublicCloud",
            choices=tuple(CLOUDS),
            doc="national cloud: sets the authority, Graph and ARM endpoints",
        ),
        "authority": Field(
            "str", max_length=2048, check=check_https, doc="identity platform URL (override)"
        ),
        "graph_endpoint": Field(
            "str", max_length=2048, check=check_https, doc="Microsoft Graph URL (override)"
        ),
        "arm_endpoint": Field(
            "str", max_length=2048, check=check_https, doc="Azure Resource Manager URL (override)"
        ),
        "ca_bundle": Field(
            "str",
            max_length=4096,
            check=_check_ca_bundle,
            doc="PEM file of CAs to trust (private endpoints, proxies, emulators)",
        ),
        "wait_until_usable": Field(
            "bool", default=False, doc="return a new secret only once it obtains a token"
        ),
        "usable_timeout": Field(
            "duration", default=120, doc="longest wait for a new secret to be accepted"
        ),
    },
    what="config",
)


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    # Empty means unset, as in Vault: the azure-identity default chain.
    config["client_id"] = config.get("client_id") or None
    config["client_secret"] = config.get("client_secret") or None
    if not config["client_secret"]:
        config["client_secret_key_id"] = None
    if bool(config["client_id"]) != bool(config["client_secret"]):
        missing = "client_secret" if config["client_id"] else "client_id"
        raise ValidationError(
            missing, "set both client_id and client_secret, or neither (the default chain)"
        )
    return config


def cloud_of(config: Mapping[str, Any]) -> Cloud:
    base = CLOUDS[config.get("environment") or "AzurePublicCloud"]
    return attrs.evolve(
        base,
        authority=config.get("authority") or base.authority,
        graph=config.get("graph_endpoint") or base.graph,
        arm=config.get("arm_endpoint") or base.arm,
    )


def transport_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """What every azure-core client and credential takes: our CA, and no retries of
    its own (ours run inside the operation's deadline; azure-core's on top would
    multiply what an outage costs)."""
    out: dict[str, Any] = {"retry_total": 0}
    if config.get("ca_bundle"):
        out["connection_verify"] = config["ca_bundle"]
    return out


#: The default chain is the one the issue names: environment (a service principal in
#: AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID), workload identity,
#: managed identity. Developer-tool credentials (Azure CLI, PowerShell, azd, VS Code,
#: shared cache, browser, broker) are off: on a server they would pick up whoever
#: last logged in, spawn subprocesses, and bypass ``authority`` and ``ca_bundle``.
_DEV_TOOLS_OFF = {
    "exclude_cli_credential": True,
    "exclude_developer_cli_credential": True,
    "exclude_powershell_credential": True,
    "exclude_visual_studio_code_credential": True,
    "exclude_shared_token_cache_credential": True,
    "exclude_interactive_browser_credential": True,
    "exclude_broker_credential": True,
}


def make_credential(
    config: Mapping[str, Any], *, client_id: str | None = None, secret: str | None = None
) -> Any:
    """An azure-identity credential: the given or configured app's secret, else the
    default chain (environment, workload identity, managed identity). Either way the
    token requests go to ``authority`` over TLS trusting ``ca_bundle``."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    from .errors import record_token_reply

    cloud = cloud_of(config)
    kwargs = transport_kwargs(config)
    # Keeps the identity platform's error reply as data (see record_token_reply).
    kwargs["raw_response_hook"] = record_token_reply
    if config.get("authority"):
        # Without this, MSAL asks the public cloud whether the authority is known.
        kwargs["disable_instance_discovery"] = True
    client_id = client_id or config.get("client_id")
    secret = secret or config.get("client_secret")
    if client_id and secret:
        return ClientSecretCredential(
            config["tenant_id"], client_id, secret, authority=cloud.authority, **kwargs
        )
    return DefaultAzureCredential(
        authority=cloud.authority,
        workload_identity_tenant_id=config["tenant_id"],
        **_DEV_TOOLS_OFF,
        **kwargs,
    )


class Clients:
    """The credential, Graph client and ARM client per config, made once and shared
    (all three are thread-safe once built; building is serialised)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Any] = {}
        # Reentrant: a Graph or ARM client is built around the (cached) credential.
        self._lock = threading.RLock()
        #: ``hook(method, url, status)`` after every Graph and ARM reply (tests use it
        #: to count calls, stop at a call, or report progress).
        self.observers: list[Callable[[str, str, int], None]] = []

    def _key(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((k, str(v)) for k, v in config.items()))

    def _get(self, kind: str, config: Mapping[str, Any], make: Callable[[], Any]) -> Any:
        key = (kind, *self._key(config))
        with self._lock:
            client = self._cache.get(key)
            if client is None:
                client = self._cache[key] = make()
            return client

    def credential(self, config: Mapping[str, Any]) -> Any:
        return self._get("credential", config, lambda: make_credential(config))

    def graph(self, config: Mapping[str, Any]) -> Any:
        from .graph import Graph

        return self._get(
            "graph",
            config,
            lambda: Graph(cloud_of(config), self.credential(config), config, self.observers),
        )

    def arm(self, config: Mapping[str, Any]) -> Any:
        from .arm import Arm

        return self._get(
            "arm",
            config,
            lambda: Arm(cloud_of(config), self.credential(config), config, self.observers),
        )

    def clear(self) -> None:
        with self._lock:
            for client in self._cache.values():
                close = getattr(client, "close", None)
                if close is not None:
                    close()
            self._cache.clear()
