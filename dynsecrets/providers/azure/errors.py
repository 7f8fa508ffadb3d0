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
from collections.abc import Collection, Iterator
from contextlib import contextmanager

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


@contextmanager
def azure_errors(operation: str, propagation: Collection[str] = ()) -> Iterator[None]:
    """Map every azure-core / azure-identity / MSAL exception raised inside to a
    dynsecrets error naming ``operation``. ``propagation``: error codes that mean
    "the directory has not caught up yet" for this call (retried)."""
    from azure.core import exceptions as ax

    try:
        yield
    except AzureCallError as exc:
        raise classify(operation, exc.status, exc.code, exc.message, propagation) from exc
    except ax.ClientAuthenticationError as exc:
        # The token request was refused (wrong secret, unknown app or tenant): retrying
        # does not help. MSAL's own error code travels in the message only, and a new
        # secret's "not yet" is handled by the callers that wait for one.
        status = getattr(exc, "status_code", None) or 401
        raise PermanentProviderError(
            f"Azure {operation}: the credential was refused ({status}); check tenant_id, "
            "client_id and client_secret in config",
            operation=operation,
            code="AuthenticationFailed",
        ) from exc
    except ax.HttpResponseError as exc:
        status = int(exc.status_code or 0)
        code = str(getattr(getattr(exc, "error", None), "code", None) or f"HTTP{status}")
        message = str(getattr(getattr(exc, "error", None), "message", "") or "")[:500]
        raise classify(operation, status, code, message, propagation) from exc
    except ax.ServiceRequestError as exc:
        if _refused(exc):
            # Nothing listens there: a wrong endpoint, not a blip. Fail at once
            # instead of spending the operation's deadline on retries.
            raise PermanentProviderError(
                f"Azure {operation}: connection refused; check authority, graph_endpoint "
                "and arm_endpoint in config",
                operation=operation,
                code="ConnectionRefused",
            ) from exc
        raise TransientProviderError(
            f"Azure {operation}: cannot reach the endpoint ({type(exc).__name__})",
            operation=operation,
            code="ServiceRequestError",
        ) from exc
    except ax.ServiceResponseError as exc:
        # The request may have been carried out: creates reconcile before retrying.
        raise TransientProviderError(
            f"Azure {operation}: the reply was lost ({type(exc).__name__})",
            operation=operation,
            code="ServiceResponseError",
        ) from exc
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
