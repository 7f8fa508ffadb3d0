"""Root config (``<mount>/config/root``): its fields and their rules."""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...errors import ValidationError
from ...schema import Field, Schema
from .names import DEFAULT_TEMPLATE, check_template
from .roles import check_external_id, check_role_arn, check_session_name

#: What AWS's own access key ids look like (AKIA..., ASIA...).
AWS_ACCESS_KEY = re.compile(r"[A-Z0-9]{16,128}")
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _check_access_key(value: str) -> None:
    # Never echo the value: a secret key pasted here would end up in logs and on stderr.
    if any(not "\x21" <= c <= "\x7e" or c == "/" for c in value):
        raise ValueError(
            "has a character an access key id never has (a space, '/', a control or a "
            "non-ASCII character); an access key id looks like AKIA... (was the secret key "
            "pasted here?)"
        )


def _check_endpoint(value: str) -> None:
    """The rules botocore applies when it builds a client, so a bad URL is refused
    when written rather than at every issue."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(
            "has whitespace or control characters; give a URL such as http://host:4566"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(
            f"is not a valid URL ({exc}); give one such as https://iam.amazonaws.com "
            "or http://127.0.0.1:5000"
        ) from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("must not hold user:password@; credentials go in access_key/secret_key")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    if parts.netloc.endswith(":") or port == 0:
        raise ValueError("has no port number after ':'" if port is None else "has port 0")
    host = parts.hostname or ""
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError("has an IPv6 address in [ ] that is not valid") from exc
        return
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_DNS_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(
            "has no valid host name (letters, digits and '-' in dot-separated labels of "
            "at most 63 characters, an IPv4 address, or an IPv6 address in [ ])"
        )


REGION = r"[a-z]{2}(-[a-z]+)+-\d{1,2}"


def _check_endpoints(values: list[str]) -> None:
    for n, value in enumerate(values, 1):
        try:
            _check_endpoint(value)
        except ValueError as exc:
            raise ValueError(f"endpoint {n} {exc}") from exc


CONFIG_SCHEMA = Schema(
    {
        "access_key": Field(
            "str", max_length=128, check=_check_access_key, doc="root access key id"
        ),
        "secret_key": Field("str", secret=True, max_length=256, doc="root secret access key"),
        "region": Field("str", pattern=REGION, doc="AWS region"),
        "iam_endpoint": Field(
            "str", max_length=2048, check=_check_endpoint, doc="IAM endpoint URL (emulators)"
        ),
        "sts_endpoint": Field(
            "str", max_length=2048, check=_check_endpoint, doc="STS endpoint URL"
        ),
        "sts_region": Field("str", pattern=REGION, doc="region of sts_endpoint (default: region)"),
        "sts_fallback_endpoints": Field(
            "list", default=[], check=_check_endpoints, doc="STS endpoints tried in order after it"
        ),
        "sts_fallback_regions": Field(
            "list", default=[], pattern=REGION, doc="the region of each fallback endpoint"
        ),
        "role_arn": Field(
            "str", check=check_role_arn, doc="assume this role for every call (root credential)"
        ),
        "external_id": Field("str", check=check_external_id, doc="external id for role_arn"),
        "role_session_name": Field(
            "str", check=check_session_name, doc="session name for role_arn (default dynsecrets)"
        ),
        "max_retries": Field(
            "int", default=-1, minimum=-1, doc="botocore retries; -1: none (dynsecrets retries)"
        ),
        "username_template": Field(
            "str", default=DEFAULT_TEMPLATE, max_length=256, check=check_template
        ),
        "wait_until_usable": Field(
            "bool", default=False, doc="wait for new IAM keys to be accepted by AWS"
        ),
        "usable_timeout": Field("duration", default=60, doc="longest wait for a usable key"),
    },
    what="config",
)


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    # Empty means unset, as in Vault: the default credential chain.
    config["access_key"] = config["access_key"] or None
    config["secret_key"] = config["secret_key"] or None
    if bool(config["access_key"]) != bool(config["secret_key"]):
        missing = "secret_key" if config["access_key"] else "access_key"
        raise ValidationError(
            missing, "set both access_key and secret_key, or neither (the default credential chain)"
        )
    for field in ("external_id", "role_session_name"):
        if config.get(field) and not config.get("role_arn"):
            raise ValidationError(field, "only applies with role_arn (the role to assume); set it")
    endpoints = config.get("sts_fallback_endpoints") or []
    regions = config.get("sts_fallback_regions") or []
    if len(endpoints) != len(regions):
        raise ValidationError(
            "sts_fallback_regions",
            f"has {len(regions)} regions for {len(endpoints)} sts_fallback_endpoints; give "
            "one region per endpoint, in the same order",
        )
    emulated = config.get("iam_endpoint") or config.get("sts_endpoint")
    if config["access_key"] and not emulated and not AWS_ACCESS_KEY.fullmatch(config["access_key"]):
        # Emulators take any key id (moto's "testing", LocalStack's "test"); AWS does not,
        # but a key id format AWS adopts later must not lock users out: warn, don't refuse.
        warnings.warn(
            "access_key does not look like an AWS access key id (16-128 upper-case letters "
            "and digits, such as AKIA...); AWS will refuse it unless iam_endpoint or "
            "sts_endpoint points at an emulator",
            UserWarning,
            stacklevel=2,
        )
    return config


def resolve_region(config: Mapping[str, Any]) -> str:
    """config region, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 (as Vault)."""
    return str(
        config.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if re.match(r"us-isob?-", region):
        return "aws-iso-b" if region.startswith("us-isob-") else "aws-iso"
    return "aws"
