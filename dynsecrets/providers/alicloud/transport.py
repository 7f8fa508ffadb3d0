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


class Transport:
    """Signed calls to one endpoint (``host`` or ``host:port``) with one credential
    and one trust setting. Thread-safe: the pool hands each call a connection."""

    def __init__(self, host: str, *, credential: Any, ca_bundle: str | None) -> None:
        import urllib.request

        import urllib3
        from alibabacloud_tea_openapi.utils import Utils
        from darabonba.request import DaraRequest

        self.host = host
        self.credential = credential
        self._sign = Utils.get_authorization
        self._request = DaraRequest
        self.user_agent = Utils.get_user_agent(_user_agent())
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        # What the SDK trusts (the system's CAs and certifi's), and the bundle's CAs.
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        for cafile in (_certifi(), ca_bundle):
            if cafile:
                context.load_verify_locations(cafile)
        proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
        if proxy and not urllib.request.proxy_bypass(name):
            manager = urllib3.ProxyManager(
                proxy, ssl_context=context, num_pools=1, maxsize=POOL_SIZE
            )
            self.pool = manager.connection_from_host(name, int(port or 443), scheme="https")
        else:
            self.pool = urllib3.HTTPSConnectionPool(
                name, int(port or 443), ssl_context=context, maxsize=POOL_SIZE
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
        cred = self.credential.get_credential()
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
                out: dict[str, Any] = json.loads(body) if body else {}
            except ValueError:  # cut short, or not Alibaba's: the call may have run
                raise ApiError(reply.status, "LastResponseInvalid", None) from None
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
    except ValueError:  # not JSON (a proxy's or load balancer's page)
        err = None
    if not isinstance(err, dict):
        return ApiError(status, None, None)
    code = err.get("Code") or err.get("code")
    request_id = err.get("RequestId") or err.get("requestId")
    return ApiError(status, None if code is None else str(code), request_id)


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # the system's CAs alone
        return None
    return str(certifi.where())


def _user_agent() -> str:
    from ... import __version__

    return f"dynsecrets/{__version__}"
