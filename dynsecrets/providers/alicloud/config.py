"""Root config (``<mount>/config``): credentials, region, endpoints and the CA bundle."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from ...schema import Field, Schema

DEFAULT_RAM_ENDPOINT = "ram.aliyuncs.com"
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+)(?::(?P<port>\d{1,5}))?")


def _check_access_key(value: str) -> None:
    # Never echo the value: a secret pasted here would end up in logs.
    if any(not "\x21" <= c <= "\x7e" or c == "/" for c in value):
        raise ValueError(
            "has a character an AccessKey ID never has (a space, '/', a control or a "
            "non-ASCII character); an AccessKey ID looks like LTAI... (was the secret pasted here?)"
        )


def normalise_endpoint(value: str) -> str:
    """``host``, ``host:port`` or ``https://host[:port]`` -> ``host[:port]``. Plain
    http is refused: the root credential's signatures and the new secrets travel here."""
    text = value.strip()
    if text.lower().startswith("http://"):
        raise ValueError("must use TLS: give https://host[:port] or host[:port], not http://")
    if text.lower().startswith("https://"):
        text = text[len("https://") :]
    text = text.rstrip("/")
    match = _HOST_PORT.fullmatch(text)
    if not match:
        raise ValueError(
            "is not an endpoint; give host[:port] such as ram.aliyuncs.com or 127.0.0.1:8443 "
            "(no path, no user:password@)"
        )
    host, port = match.group("host"), match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError("has a port outside 1-65535")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise ValueError("has an IPv6 address in [ ] that is not valid") from exc
        return text
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(
            "has no valid host name (letters, digits and '-' in dot-separated labels, "
            "or an IP address)"
        )
    return text


def _check_ca_bundle(path: str) -> None:
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError as exc:
        raise ValueError(f"no such file: {path}") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"cannot be read as PEM certificates ({type(exc).__name__}); give a CA bundle file"
        ) from exc


CONFIG_SCHEMA = Schema(
    {
        "access_key": Field(
            "str",
            max_length=128,
            check=_check_access_key,
            doc="root AccessKey ID (empty: the SDK's default credential chain)",
        ),
        "secret_key": Field("str", secret=True, max_length=256, doc="root AccessKey secret"),
        "region": Field(
            "str",
            default="cn-hangzhou",
            pattern=r"[a-z]{2,}(-[a-z0-9]+){1,4}",
            doc="region: picks the STS endpoint sts.<region>.aliyuncs.com",
        ),
        "ram_endpoint": Field(
            "str",
            max_length=300,
            check=normalise_endpoint,
            doc="RAM endpoint host[:port] (default ram.aliyuncs.com; private or emulator)",
        ),
        "sts_endpoint": Field(
            "str",
            max_length=300,
            check=normalise_endpoint,
            doc="STS endpoint host[:port] (default sts.<region>.aliyuncs.com)",
        ),
        "ca_bundle": Field(
            "str",
            max_length=4096,
            check=_check_ca_bundle,
            doc="PEM file of CAs to trust for the endpoints (default: the system's)",
        ),
    },
    what="config",
)


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    # Empty means unset, as in Vault: the default credential chain.
    config["access_key"] = config.get("access_key") or None
    config["secret_key"] = config.get("secret_key") or None
    if bool(config["access_key"]) != bool(config["secret_key"]):
        missing = "secret_key" if config["access_key"] else "access_key"
        raise ValidationError(
            missing, "set both access_key and secret_key, or neither (the default credential chain)"
        )
    return config


def endpoint(config: Mapping[str, Any], service: str) -> str:
    if service == "ram":
        return str(config.get("ram_endpoint") or DEFAULT_RAM_ENDPOINT)
    return str(
        config.get("sts_endpoint") or f"sts.{config.get('region') or 'cn-hangzhou'}.aliyuncs.com"
    )
