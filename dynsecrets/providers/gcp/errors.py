"""One place where google-api-core, grpc, google-auth and requests errors become
dynsecrets errors, by status code (never by message text)."""

from __future__ import annotations

import json
import ssl
from typing import Any, Literal

from ...errors import MissingDependency, PermanentProviderError, TransientProviderError

__all__ = ["TRANSIENT", "check_response", "google_errors", "require_google", "status_error"]

#: Statuses worth retrying inside the operation's deadline. ABORTED is a concurrent
#: change (an IAM policy etag mismatch); the caller re-reads and tries again.
TRANSIENT = frozenset(
    {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL", "UNKNOWN"}
)
_HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_WHAT_TO_DO = {
    "PERMISSION_DENIED": "grant the configured account the permission the README lists for it",
    "UNAUTHENTICATED": "check config credentials (the key may be deleted or disabled)",
    "INVALID_ARGUMENT": "check the role's fields",
    "FAILED_PRECONDITION": "check the target's state",
    "NOT_FOUND": "check that the project, account or resource exists",
}


def require_google() -> None:
    try:
        import google.auth
        import google.cloud.iam_admin_v1  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "the gcp provider needs google-cloud-iam and google-auth; install them with: "
            "pip install 'dynsecrets[gcp]'"
        ) from exc


def status_error(operation: str, status: str, detail: str = "") -> Exception:
    message = f"Google {operation} failed: {status}"
    if detail:
        message += f": {detail}"
    hint = _WHAT_TO_DO.get(status)
    if hint and status not in TRANSIENT:
        message += f" ({hint})"
    cls = TransientProviderError if status in TRANSIENT else PermanentProviderError
    return cls(message, operation=operation, code=status)


def _refused(exc: BaseException) -> bool:
    return _caused_by(exc, ConnectionRefusedError)


def _caused_by(
    exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    """Whether ``kind`` is anywhere in the chain (google-auth wraps a requests
    error in its TransportError; urllib3 keeps the cause in ``reason``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) and reason is not current else nxt
    return False


class google_errors:  # lower case: used as the function it was, ``with google_errors(op):``
    """Map every Google SDK or transport exception raised inside to a dynsecrets
    error naming ``operation``. A class, not a generator: it is entered around
    every call, and only an exception needs the SDKs' exception classes."""

    __slots__ = ("operation",)

    def __init__(self, operation: str) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception):
            return False
        mapped = _mapped(self.operation, exc)
        if mapped is None:
            return False
        raise mapped from exc


def _mapped(operation: str, exc: Exception) -> Exception | None:
    """What ``exc`` becomes inside ``google_errors(operation)``; None: itself."""
    import requests
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax

    if isinstance(exc, gx.GoogleAPICallError):
        grpc_code = exc.grpc_status_code
        status = (
            grpc_code.name if grpc_code is not None else _HTTP_STATUS.get(int(exc.code or 0), "")
        )
        status = status or ("INTERNAL" if int(exc.code or 0) >= 500 else "INVALID_ARGUMENT")
        return status_error(operation, status, str(exc.message or "")[:300])
    if isinstance(exc, gx.RetryError):  # pragma: no cover (we pass retry=None)
        return status_error(operation, "DEADLINE_EXCEEDED")
    if isinstance(exc, ax.RefreshError):
        # The token endpoint refused the key (invalid_grant: deleted or disabled key,
        # wrong account): permanent. google-auth marks 5xx and 429 answers retryable.
        code = "UNAVAILABLE" if getattr(exc, "retryable", False) else "UNAUTHENTICATED"
        return status_error(f"{operation} (token refresh)", code)
    if isinstance(exc, ax.DefaultCredentialsError):
        return PermanentProviderError(
            f"Google {operation}: no usable credentials ({exc}); set config credentials",
            operation=operation,
            code="NoCredentials",
        )
    if isinstance(exc, (ax.TransportError, requests.RequestException)):
        if _caused_by(exc, (requests.exceptions.SSLError, ssl.SSLCertVerificationError)):
            return PermanentProviderError(
                f"Google {operation}: TLS verification failed; check config ca_bundle",
                operation=operation,
                code="TLS",
            )
        if _refused(exc):
            # Nothing listens there: a wrong endpoint, not a blip. Fail at once
            # instead of spending the operation's deadline on retries.
            return PermanentProviderError(
                f"Google {operation}: connection refused; check config endpoints",
                operation=operation,
                code="ConnectionRefused",
            )
        return TransientProviderError(
            f"Google {operation}: cannot reach the endpoint ({type(exc).__name__})",
            operation=operation,
            code="UNAVAILABLE",
        )
    if isinstance(exc, ax.GoogleAuthError):
        return PermanentProviderError(
            f"Google {operation}: {type(exc).__name__}", operation=operation, code="AUTH"
        )
    return None


def check_response(response: Any, operation: str, *, ok_statuses: tuple[str, ...] = ()) -> Any:
    """The JSON body of a 2xx REST reply; otherwise the mapped error. Returns None
    when the reply's status is one of ``ok_statuses`` (e.g. NOT_FOUND on a delete)."""
    if 200 <= response.status_code < 300:
        return response.json() if response.content else {}
    status = ""
    detail = ""
    try:
        body = response.json().get("error", {})
        if isinstance(body, dict):
            status, detail = str(body.get("status") or ""), str(body.get("message") or "")
    except (ValueError, json.JSONDecodeError, AttributeError):
        pass
    status = status or _HTTP_STATUS.get(response.status_code, "")
    if not status:
        status = "INTERNAL" if response.status_code >= 500 else "INVALID_ARGUMENT"
    if response.status_code == 409 and status == "ALREADY_EXISTS":
        status = "ALREADY_EXISTS"
    if status in ok_statuses:
        return None
    raise status_error(operation, status, detail[:300])
