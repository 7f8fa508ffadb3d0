"""One place where azure-core, azure-identity and MSAL failures become dynsecrets errors.

Classification is by HTTP status and the service's error code (Graph's
``error.code``, ARM's ``error.code``), never by message text: Microsoft rewords
messages, and Vault's Azure engine, which matches a fixed list of strings, then
stops retrying. Some codes mean "not yet" only in context (a 400
``Request_BadRequest`` creating the service principal of an application made a
moment ago is directory propagation; the same code elsewhere is bad input), so
callers pass the codes that are propagation for their call.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import MissingDependency, PermanentProviderError, TransientProviderError

#: Codes that are transient wherever they appear (throttling, service trouble).
THROTTLING = frozenset(
    {
        "TooManyRequests",
        "activityLimitReached",
        "serviceNotAvailable",
        "ServiceUnavailable",
        "generalException",
        "InternalServerError",
        "RetryableError",
        "timeout",
        "GatewayTimeout",
    }
)
#: Graph's and ARM's "no such object": success for a delete.
NOT_FOUND = frozenset(
    {
        "Request_ResourceNotFound",
        "ResourceNotFound",
        "RoleAssignmentNotFound",
        "itemNotFound",
        "NotFound",
    }
)


class AzureCallError(Exception):
    """An HTTP error reply from Graph, parsed (internal; mapped before it leaves)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{status} {code}: {message}")


def parse_error(status: int, body: bytes | str | None) -> AzureCallError:
    """Graph and ARM both answer ``{"error": {"code": ..., "message": ...}}``."""
    code, message = "", ""
    try:
        doc = json.loads(body or b"{}")
        err = doc.get("error", {}) if isinstance(doc, dict) else {}
        if isinstance(err, dict):
            code, message = str(err.get("code") or ""), str(err.get("message") or "")
    except (ValueError, TypeError):
        pass
    return AzureCallError(status, code or f"HTTP{status}", message[:500])


class TokenError:
    """An identity platform refusal as data: the OAuth 2.0 ``error`` field (RFC 6749
    5.2) and Entra ID's ``error_codes`` (the AADSTS numbers), from the reply body."""

    def __init__(self, status: int, error: str, codes: tuple[int, ...]) -> None:
        self.status, self.error, self.codes = status, error, codes


_token_replies = threading.local()


def record_token_reply(response: Any) -> None:
    """azure-core ``raw_response_hook`` on the credential's own pipeline.

    azure-identity turns MSAL's token error into a ``ClientAuthenticationError``
    whose only trace of the reply is message text (``response`` is unset for token
    requests), so the structured body is kept here, per thread: the token request
    runs on the thread whose Graph or ARM call (or ``get_token``) asked for it, and
    :func:`azure_errors` reads it when that call fails. Only refusals are kept;
    a success body (which holds the token) is never read."""
    http = response.http_response
    status = int(http.status_code)
    if status < 400:
        _token_replies.last = None
        return
    try:
        body = json.loads(http.text() or "{}")
    except (ValueError, TypeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
        codes = tuple(int(c) for c in body.get("error_codes") or () if isinstance(c, int))
        _token_replies.last = TokenError(status, str(body["error"]), codes)
    else:
        _token_replies.last = None


def _last_token_error() -> TokenError | None:
    found: TokenError | None = getattr(_token_replies, "last", None)
    return found


#: AADSTS numbers with their own advice. Microsoft warns that these numbers change,
#: so anything else falls back on the OAuth ``error`` field.
_AADSTS: dict[int, tuple[bool, str, str]] = {
    # A secret added moments ago is refused until it reaches every replica.
    7000215: (
        True,
        "InvalidClientSecret",
        "the client secret was refused (AADSTS7000215). A secret made in the last "
        "minutes may not be accepted yet, so this is retried until the operation's "
        "deadline; otherwise set client_secret to the secret's value (not its id)",
    ),
    7000222: (
        False,
        "ClientSecretExpired",
        "the client secret has expired (AADSTS7000222); add a new one to the "
        "application and write it to config (rotate-root before it expires)",
    ),
    700016: (
        False,
        "ClientNotFound",
        "no application with this client_id exists in the tenant (AADSTS700016); "
        "check client_id and tenant_id (and environment) in config",
    ),
    90002: (
        False,
        "TenantNotFound",
        "the tenant does not exist (AADSTS90002); check tenant_id, and environment "
        "or authority for a national cloud, in config",
    ),
}


def _token_refusal(
    operation: str, info: TokenError | None, exc: BaseException
) -> PermanentProviderError | TransientProviderError:
    if info is not None:
        for code in info.codes:
            if code in _AADSTS:
                transient, name, advice = _AADSTS[code]
                kind = TransientProviderError if transient else PermanentProviderError
                return kind(f"Azure {operation}: {advice}", operation=operation, code=name)
        if info.status == 429 or info.status >= 500 or info.error == "temporarily_unavailable":
            return TransientProviderError(
                f"Azure {operation}: the identity platform is unavailable ({info.status} "
                f"{info.error})",
                operation=operation,
                code=info.error,
            )
        return PermanentProviderError(
            f"Azure {operation}: the identity platform refused the credential ({info.status} "
            f"{info.error}); check tenant_id, client_id and client_secret in config",
            operation=operation,
            code=info.error,
        )
    status = getattr(exc, "status_code", None) or 401
    return PermanentProviderError(
        f"Azure {operation}: the credential was refused ({status}); check tenant_id, "
        "client_id and client_secret in config (or the environment for the default chain)",
        operation=operation,
        code="AuthenticationFailed",
    )


def _transport_cause(exc: BaseException) -> BaseException | None:
    """azure-identity wraps a failed connection to the authority in a
    ClientAuthenticationError too; that is an unreachable endpoint, not a refusal."""
    from azure.core import exceptions as ax

    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if isinstance(current, (ax.ServiceRequestError, ax.ServiceResponseError)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


_redaction_installed = False
_SECRET = re.compile(
    r"""(["']?(?:secretText|client_secret|access_token)["']?\s*[:=]\s*["']?)[^"'&\s,}]+"""
)


class RedactSecrets(logging.Filter):
    """azure-core logs headers (Authorization already redacted) and, only with
    ``logging_enable``, bodies; MSAL logs at DEBUG. addPassword's reply body holds a
    new secret, so anything shaped like one is rewritten before a handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1<redacted>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def import_azure() -> None:
    """Fail with an install hint when the extra is missing; install log redaction once."""
    global _redaction_installed
    try:
        import azure.core
        import azure.identity
        import azure.mgmt.authorization  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "the azure provider needs azure-identity, azure-core and azure-mgmt-authorization; "
            "install them with: pip install 'dynsecrets[azure]'"
        ) from exc
    if not _redaction_installed:
        for name in ("azure", "msal", "urllib3"):
            logging.getLogger(name).addFilter(RedactSecrets())
        _redaction_installed = True


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        inner = getattr(current, "inner_exception", None)
        current = (
            inner
            if isinstance(inner, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return False


def classify(
    operation: str, status: int, code: str, message: str, propagation: Collection[str] = ()
) -> PermanentProviderError | TransientProviderError:
    text = f"Azure {operation} failed: {status} {code}" + (f": {message}" if message else "")
    if code in propagation or code in THROTTLING or status == 429 or status >= 500:
        return TransientProviderError(text, operation=operation, code=code)
    return PermanentProviderError(text, operation=operation, code=code)


def _transport_error(
    operation: str, exc: BaseException
) -> PermanentProviderError | TransientProviderError:
    from azure.core import exceptions as ax

    if isinstance(exc, ax.ServiceResponseError):
        # The request may have been carried out: creates reconcile before retrying.
        return TransientProviderError(
            f"Azure {operation}: the reply was lost ({type(exc).__name__})",
            operation=operation,
            code="ServiceResponseError",
        )
    if _refused(exc):
        # Nothing listens there: a wrong endpoint, not a blip. Fail at once
        # instead of spending the operation's deadline on retries.
        return PermanentProviderError(
            f"Azure {operation}: connection refused; check authority, graph_endpoint "
            "and arm_endpoint in config",
            operation=operation,
            code="ConnectionRefused",
        )
    return TransientProviderError(
        f"Azure {operation}: cannot reach the endpoint ({type(exc).__name__})",
        operation=operation,
        code="ServiceRequestError",
    )


@contextmanager
def azure_errors(operation: str, propagation: Collection[str] = ()) -> Iterator[None]:
    """Map every azure-core / azure-identity / MSAL exception raised inside to a
    dynsecrets error naming ``operation``. ``propagation``: error codes that mean
    "the directory has not caught up yet" for this call (retried)."""
    from azure.core import exceptions as ax

    # No reset here: MSAL replays a throttled refusal (429/5xx, or a 400 token error)
    # from its cache without an HTTP request, and the refusal recorded when it was
    # first received is that same one. The next token reply on this thread, refusal
    # or success, replaces it.
    try:
        yield
    except AzureCallError as exc:
        raise classify(operation, exc.status, exc.code, exc.message, propagation) from exc
    except ax.ClientAuthenticationError as exc:
        info = _last_token_error()
        cause = None if info is not None else _transport_cause(exc)
        err = _transport_error(operation, cause) if cause else _token_refusal(operation, info, exc)
        # No token, so the Graph or ARM request itself was never sent.
        err.before_request = True  # type: ignore[union-attr]
        raise err from exc
    except ax.HttpResponseError as exc:
        status = int(exc.status_code or 0)
        code = str(getattr(getattr(exc, "error", None), "code", None) or f"HTTP{status}")
        message = str(getattr(getattr(exc, "error", None), "message", "") or "")[:500]
        raise classify(operation, status, code, message, propagation) from exc
    except (ax.ServiceRequestError, ax.ServiceResponseError) as exc:
        raise _transport_error(operation, exc) from exc
    except ax.AzureError as exc:
        raise PermanentProviderError(
            f"Azure {operation} failed: {type(exc).__name__}",
            operation=operation,
            code=type(exc).__name__,
        ) from exc
    except ValueError as exc:
        # azure-identity raises ValueError for a malformed authority or tenant.
        raise PermanentProviderError(
            f"Azure {operation}: invalid configuration ({exc})",
            operation=operation,
            code="InvalidConfiguration",
        ) from exc
