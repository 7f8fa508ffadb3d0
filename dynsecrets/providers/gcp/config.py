"""Root config (``<mount>/config``): the service-account key, project, endpoints, CA."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...schema import Field, Schema

__all__ = [
    "CONFIG_SCHEMA",
    "DEFAULT_ENDPOINTS",
    "check_config",
    "credentials_info",
    "root_project",
]

PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")

#: Google's endpoints; ``endpoints`` overrides any of them (emulators, private
#: endpoints, TLS-intercepting proxies). ``iam`` is gRPC (host:port).
DEFAULT_ENDPOINTS = {
    "iam": "iam.googleapis.com:443",
    "iamcredentials": "https://iamcredentials.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "storage": "https://storage.googleapis.com",
    "pubsub": "https://pubsub.googleapis.com",
    "bigquery": "https://bigquery.googleapis.com",
    "secretmanager": "https://secretmanager.googleapis.com",
    "cloudkms": "https://cloudkms.googleapis.com",
    "run": "https://run.googleapis.com",
    "cloudfunctions": "https://cloudfunctions.googleapis.com",
    "artifactregistry": "https://artifactregistry.googleapis.com",
    "spanner": "https://spanner.googleapis.com",
    "compute": "https://compute.googleapis.com",
    "container": "https://container.googleapis.com",
    "dataproc": "https://dataproc.googleapis.com",
    "bigtableadmin": "https://bigtableadmin.googleapis.com",
    "cloudtasks": "https://cloudtasks.googleapis.com",
    "healthcare": "https://healthcare.googleapis.com",
    "iap": "https://iap.googleapis.com",
    "notebooks": "https://notebooks.googleapis.com",
    "sourcerepo": "https://sourcerepo.googleapis.com",
    "datacatalog": "https://datacatalog.googleapis.com",
}
_REQUIRED_KEYS = ("type", "private_key", "private_key_id", "client_email", "token_uri")


def _check_credentials(value: str) -> None:
    # Never echo the value: it holds a private key.
    try:
        info = json.loads(value)
    except ValueError:
        raise ValueError(
            "is not JSON; give the service account key file (credentials=@sa.json)"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError('must be a service account key file ("type": "service_account")')
    missing = [k for k in _REQUIRED_KEYS if not info.get(k)]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}; download a new key file")
    if urlsplit(str(info["token_uri"])).scheme != "https":
        raise ValueError("has a token_uri that is not https://; tokens travel over TLS only")


def _check_endpoints(value: Mapping[str, Any]) -> None:
    for service, url in value.items():
        if service not in DEFAULT_ENDPOINTS:
            raise ValueError(
                f"names unknown service {service!r}; known: {', '.join(sorted(DEFAULT_ENDPOINTS))}"
            )
        if not isinstance(url, str) or any(c.isspace() for c in url) or not url:
            raise ValueError(f"{service}: give a URL such as https://host:port")
        if service == "iam":
            hostport = url.removeprefix("https://")
            if "://" in hostport or "/" in hostport.rstrip("/"):
                raise ValueError("iam: give host:port (gRPC over TLS), e.g. iam.googleapis.com:443")
        elif urlsplit(url).scheme != "https":
            # The provider sends bearer tokens: never over plain HTTP.
            raise ValueError(f"{service}: must start with https://")


def _check_ca(value: str) -> None:
    if not os.path.isfile(value):
        raise ValueError("is not a readable file; give the path of a PEM CA bundle")
    with open(value, "rb") as f:
        if b"-----BEGIN CERTIFICATE-----" not in f.read():
            raise ValueError("holds no PEM certificate")


CONFIG_SCHEMA = Schema(
    {
        "credentials": Field(
            "str",
            secret=True,
            max_length=16384,
            check=_check_credentials,
            doc="service account key JSON (credentials=@sa.json); empty: Application Default Credentials",
        ),
        "project": Field(
            "str", pattern=PROJECT_ID.pattern, doc="default project (default: the key's)"
        ),
        "endpoints": Field(
            "map",
            default={},
            check=_check_endpoints,
            doc="per-API endpoint overrides: iam (host:port, gRPC), iamcredentials, "
            "cloudresourcemanager, storage, ... (https URLs)",
        ),
        "ca_bundle": Field(
            "str", max_length=4096, check=_check_ca, doc="PEM CA bundle to trust for every API"
        ),
        "wait_until_usable": Field(
            "bool",
            default=False,
            doc="keys: return a new key only once Google's token endpoint accepts it "
            "(polls within the operation deadline; per request: wait_until_usable=)",
        ),
        "ttl": Field("duration", doc="default lease TTL of this mount's keys (as Vault)"),
        "max_ttl": Field("duration", doc="maximum lease TTL of this mount's keys (as Vault)"),
    },
    what="config",
)


def check_ttls(config: dict[str, Any]) -> None:
    ttl, max_ttl = config.get("ttl"), config.get("max_ttl")
    if ttl and max_ttl and ttl > max_ttl:
        from ...errors import InvalidTTL

        raise InvalidTTL("ttl", "is longer than max_ttl; lower ttl or raise max_ttl")


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    config["credentials"] = config.get("credentials") or None
    check_ttls(config)
    return config


def credentials_info(config: Mapping[str, Any]) -> dict[str, Any] | None:
    text = config.get("credentials")
    return dict(json.loads(text)) if text else None


def root_project(config: Mapping[str, Any]) -> str | None:
    info = credentials_info(config) or {}
    return config.get("project") or info.get("project_id")


def endpoint(config: Mapping[str, Any], service: str) -> str:
    return str((config.get("endpoints") or {}).get(service) or DEFAULT_ENDPOINTS[service]).rstrip(
        "/"
    )
