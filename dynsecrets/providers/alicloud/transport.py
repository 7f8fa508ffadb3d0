"""One RAM or STS action over HTTPS: the request the V2.0 SDK's RPC calls send
(``POST /?<params>`` with the ``x-acs-*`` headers), signed by the SDK's own
ACS3-HMAC-SHA256 signer with the SDK's credentials (a static key, an STS token, or
its default chain), and sent on a urllib3 connection pool of our own.

Why not the SDK's transport: it goes through darabonba and requests, which cost
~0.4 ms of client CPU per call on top of the network (about half of a call to a
local endpoint), and it keeps one TLS context per endpoint for the whole process,
into which every client's CA bundle is loaded: one mount's ``ca_bundle`` was
trusted by every later client of that endpoint. Here each CA bundle has a context
of its own, trusting what the SDK trusts (the system's CAs and certifi's) and the
bundle. ``HTTPS_PROXY`` is honoured as the SDK honours it, and ``NO_PROXY`` too.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

#: sha256 of the empty body every RPC call sends.
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_ALGORITHM = "ACS3-HMAC-SHA256"
#: Idle connections kept per endpoint and trust setting, as the SDK's default
#: (``maxIdleConns``); more are opened when busier, and closed after use.
POOL_SIZE = 40


class ApiError(Exception):
    """Alibaba answered with an error: its ``Code`` (None if the body had none) and
    HTTP status. The request id is kept for the operator; the message is not."""

    def __init__(self, status: int, code: str | None, request_id: str | None) -> None:
        super().__init__(f"HTTP {status} {code or ''} (request id {request_id or '-'})")
        self.status_code, self.code, self.request_id = status, code, request_id


class SetupError(Exception):
    """The transport cannot be built from this config or environment: ``code`` and a
    message that names the setting and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CredentialRefreshError(Exception):
    """The credential chain's provider (ECS RAM role, OIDC, ...) failed to refresh."""


def split_host(host: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (name, port)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:  # a bare name, or a bare IPv6 address
        name, port = host, ""
    if not name or (port and not port.isdigit()):
        raise SetupError("InvalidEndpoint", f"endpoint {host!r} is not host[:port]")
    return name, int(port or 443)


class Transport:
    """Signed calls to one endpoint (``host``, ``host:port`` or ``[v6]:port``) with
    one credential and one trust setting. Thread-safe: the pool hands each call a
    connection. Building one raises :class:`SetupError` for an unusable CA bundle,
    endpoint or proxy setting."""

    def __init__(self, host: str, *, credential: Any, ca_bundle: str | None) -> None:
        import urllib3
        from alibabacloud_tea_openapi.utils import Utils
        from darabonba.request import DaraRequest

        self.host = host
        self.credential = credential
        self._sign = Utils.get_authorization
        self._request = DaraRequest
        self.user_agent = Utils.get_user_agent(_user_agent())
        name, port = split_host(host)
        context = _context(ca_bundle)
        proxy = _proxy_for(name)
        if proxy is not None:
            url, headers = proxy
            try:
                manager = urllib3.ProxyManager(
                    url,
                    proxy_headers=headers,
                    ssl_context=context,
                    num_pools=1,
                    maxsize=POOL_SIZE,
                )
            except (ValueError, urllib3.exceptions.HTTPError) as exc:
                raise SetupError(
                    "InvalidProxy",
                    f"HTTPS_PROXY is not a usable proxy ({type(exc).__name__}); give an "
                    "http:// or https:// URL, or unset it",
                ) from None
            self.pool = manager.connection_from_host(name, port, scheme="https")
        else:
            self.pool = urllib3.HTTPSConnectionPool(
                name, port, ssl_context=context, maxsize=POOL_SIZE
            )
        self._timeout = urllib3.Timeout
        self._last_timeout: tuple[float, float, Any] = (0.0, 0.0, None)
        # No retries and no redirects here: ours run above, within the deadline.
        self._retries = urllib3.Retry(total=False, redirect=False)

    def call(
        self,
        action: str,
        version: str,
        query: Mapping[str, str],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> dict[str, Any]:
        """The action's JSON answer; :class:`ApiError` for Alibaba's refusals, the
        credential provider's or urllib3's exception for anything else."""
        try:
            cred = self.credential.get_credential()
        except Exception as exc:
            from alibabacloud_credentials.exceptions import CredentialException

            if isinstance(exc, CredentialException):
                raise  # none found anywhere: the caller says how to configure some
            # A provider the chain settled on failed to refresh (its own error types).
            raise CredentialRefreshError(type(exc).__name__) from exc
        headers = {
            "host": self.host,
            "x-acs-version": version,
            "x-acs-action": action,
            "user-agent": self.user_agent,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": os.urandom(16).hex(),
            "accept": "application/json",
            "x-acs-content-sha256": _EMPTY_SHA256,
        }
        if cred.provider_name:
            headers["x-acs-credentials-provider"] = cred.provider_name
        if cred.type == "bearer":
            headers["x-acs-bearer-token"] = getattr(cred, "bearer_token", None) or ""
            query = {**query, "SignatureType": "BEARERTOKEN"}
        else:
            if cred.security_token:
                headers["x-acs-accesskey-id"] = cred.access_key_id
                headers["x-acs-security-token"] = cred.security_token
            signable = self._request()
            signable.method, signable.pathname = "POST", "/"
            signable.query, signable.headers = query, headers
            headers["Authorization"] = self._sign(
                signable, _ALGORITHM, _EMPTY_SHA256, cred.access_key_id, cred.access_key_secret
            )
        reply = self.pool.urlopen(
            "POST",
            f"/?{urlencode(query)}" if query else "/",
            headers=headers,
            retries=self._retries,
            redirect=False,
            timeout=self._timeout_for(connect_timeout, read_timeout),
        )
        body = reply.data
        if 200 <= reply.status < 300:
            try:
                out = json.loads(body)
            except (ValueError, RecursionError):
                out = None
            if not isinstance(out, dict):  # empty, cut short, or not Alibaba's: the
                # call may have run, so it is reconciled like a lost reply
                raise ApiError(reply.status, "LastResponseInvalid", None)
            return out
        raise _error(reply.status, body)

    def _timeout_for(self, connect: float, read: float) -> Any:
        """urllib3's Timeout, reused while the values repeat (the defaults do)."""
        last = self._last_timeout
        if last[0] == connect and last[1] == read:
            return last[2]
        made = self._timeout(connect=connect, read=read)
        self._last_timeout = (connect, read, made)
        return made

    def close(self) -> None:
        self.pool.close()


def _error(status: int, body: bytes) -> ApiError:
    try:
        err = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (a proxy's or load balancer's page)
        err = None
    if not isinstance(err, dict):
        return ApiError(status, None, None)
    code = err.get("Code") or err.get("code")
    request_id = err.get("RequestId") or err.get("requestId")
    return ApiError(status, None if code is None else str(code), request_id)


def _context(ca_bundle: str | None) -> ssl.SSLContext:
    """What the SDK trusts (the system's CAs and certifi's), and the bundle's CAs."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        certifi = _certifi()
        if certifi:
            context.load_verify_locations(certifi)
    except (OSError, ssl.SSLError):  # a broken certifi install: the system's CAs
        pass
    if ca_bundle:
        try:
            context.load_verify_locations(ca_bundle)
        except (OSError, ssl.SSLError) as exc:  # gone or replaced since config time
            raise SetupError(
                "InvalidCaBundle",
                f"ca_bundle {ca_bundle} cannot be read as PEM certificates "
                f"({type(exc).__name__}); write config again with a readable CA file",
            ) from None
    return context


def _proxy_for(name: str) -> tuple[str, dict[str, str] | None] | None:
    """(proxy URL, its Proxy-Authorization header) from ``HTTPS_PROXY``, as requests
    reads it (``http://`` when no scheme is given), or None: no proxy, or ``name`` is
    in ``NO_PROXY``."""
    import urllib.request
    from urllib.parse import unquote

    import urllib3

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if not proxy or urllib.request.proxy_bypass(name):
        return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    try:
        auth = urllib3.util.parse_url(proxy).auth
    except ValueError as exc:
        raise SetupError(
            "InvalidProxy", f"HTTPS_PROXY is not a URL ({type(exc).__name__}); fix or unset it"
        ) from None
    if not auth:
        return proxy, None
    user, _, password = auth.partition(":")
    # user:password@ in the URL becomes Proxy-Authorization, as requests does it.
    return proxy, urllib3.make_headers(proxy_basic_auth=f"{unquote(user)}:{unquote(password)}")


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's CAs alone
        return None
    return str(certifi.where())


def _user_agent() -> str:
    from ... import __version__

    return f"dynsecrets/{__version__}"
