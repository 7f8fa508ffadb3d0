"""Root config (``<mount>/config/root``) and the boto3 clients built from it."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ...errors import ValidationError
from ...schema import Field, Schema
from .errors import import_boto3
from .names import DEFAULT_TEMPLATE, check_template

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


CONFIG_SCHEMA = Schema(
    {
        "access_key": Field(
            "str", max_length=128, check=_check_access_key, doc="root access key id"
        ),
        "secret_key": Field("str", secret=True, max_length=256, doc="root secret access key"),
        "region": Field("str", pattern=r"[a-z]{2}(-[a-z]+)+-\d{1,2}", doc="AWS region"),
        "iam_endpoint": Field(
            "str", max_length=2048, check=_check_endpoint, doc="IAM endpoint URL (emulators)"
        ),
        "sts_endpoint": Field(
            "str", max_length=2048, check=_check_endpoint, doc="STS endpoint URL"
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


class Clients:
    """boto3 clients per config, created once and shared (boto3 clients are thread-safe,
    sessions are not, so creation is serialised)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
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
    ) -> Any:
        ak = access_key or config.get("access_key")
        sk = secret_key or config.get("secret_key")
        endpoint = config.get(f"{service}_endpoint")
        region = resolve_region(config)
        key = (service, ak, sk, session_token, endpoint, region, config.get("max_retries"))
        with self._lock:
            client = self._cache.get(key)
            if client is None:
                boto3, botocore_config = import_boto3()
                # Our RetryPolicy retries inside the operation's deadline; botocore's
                # own retries on top would multiply the time an outage costs.
                retries: dict[str, Any] = {"mode": "standard", "total_max_attempts": 1}
                if (config.get("max_retries") or -1) >= 0:
                    retries = {"mode": "standard", "max_attempts": int(config["max_retries"]) + 1}
                session = boto3.Session(  # type: ignore[attr-defined]
                    aws_access_key_id=ak,
                    aws_secret_access_key=sk,
                    aws_session_token=session_token,
                    region_name=region,
                )
                client = session.client(
                    service,
                    endpoint_url=endpoint,
                    config=botocore_config.Config(  # type: ignore[attr-defined]
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

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
