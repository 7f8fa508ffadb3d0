"""One place where Alibaba's refusals, transport failures and the SDK's credential
errors become dynsecrets errors. Alibaba's error code decides, never its message."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

from ...errors import (
    DynSecretsError,
    MissingDependency,
    PermanentProviderError,
    TransientProviderError,
)

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the certificate is trusted but not this host's.
_HOSTNAME_MISMATCH = 62
#: Codes that mean "try again later" (Alibaba's throttling and server-side faults).
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Concurrent",
        "ServiceUnavailable",
        "ServiceUnavailableTemporary",
        "InternalError",
        "InternalServerError",
        "UnknownError",
        "RequestTimeout",
        "LastResponseInvalid",
    }
)
TRANSIENT_PREFIXES = ("Throttling.", "ServiceUnavailable.", "InternalError.")

#: Codes whose meaning decides what to tell the operator.
_ADVICE = {
    "InvalidAccessKeyId.NotFound": "the access_key is unknown to Alibaba Cloud; check config",
    "InvalidAccessKeyId.Inactive": "the access_key is disabled; enable it or configure another",
    "SignatureDoesNotMatch": "the secret_key does not match the access_key; check config",
    "NoPermission": "the root credential lacks a RAM permission; see the README's list",
    "Forbidden.RAM": "the root credential lacks a RAM permission; see the README's list",
    "LimitExceeded.User.AccessKey": "the user already has two access keys (Alibaba's limit)",
}


def import_sdk() -> tuple[Any, Any, Any, Any, Any]:
    """(Config, RAM client class, RAM models, STS client class, STS models), imported
    on first use so that ``import dynsecrets`` loads no Alibaba module."""
    try:
        from alibabacloud_ram20150501 import models as ram_models
        from alibabacloud_ram20150501.client import Client as RamClient
        from alibabacloud_sts20150401 import models as sts_models
        from alibabacloud_sts20150401.client import Client as StsClient
        from alibabacloud_tea_openapi.utils_models import Config
    except ImportError as exc:
        raise MissingDependency(
            "the alicloud provider needs Alibaba Cloud's V2.0 SDK; install it with: "
            "pip install 'dynsecrets[alicloud]'"
        ) from exc
    return Config, RamClient, ram_models, StsClient, sts_models


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything under it: causes, contexts, urllib3's ``reason``
    and the SDK's ``inner_exception`` (darabonba keeps the transport error only as
    the implicit context of its RetryError)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in ("inner_exception", "reason", "__cause__", "__context__"):
            inner = getattr(current, name, None)
            if isinstance(inner, BaseException):
                todo.append(inner)
        todo.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))


def classify(exc: BaseException, operation: str) -> PermanentProviderError | TransientProviderError:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
    if code is None and isinstance(status, int):
        code = f"HTTP{status}"  # an answer without Alibaba's error body
    if code is None:
        chain = list(_chain(exc))
        from alibabacloud_credentials.exceptions import CredentialException

        if any(isinstance(e, CredentialException) for e in chain):
            # Nothing was sent, and retrying until the deadline cannot make
            # credentials appear.
            return _no_credentials(operation)
        # A transport failure: no answer from Alibaba at all.
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            # Nothing listens there: a wrong endpoint, not a blip; fail at once.
            return PermanentProviderError(
                f"AliCloud {operation}: connection refused; check ram_endpoint/sts_endpoint",
                operation=operation,
                code="ConnectionRefused",
            )
        refused = [e for e in chain if isinstance(e, ssl.SSLCertVerificationError)]
        if refused:
            if getattr(refused[0], "verify_code", None) == _HOSTNAME_MISMATCH:
                advice = "its certificate names another host; check ram_endpoint/sts_endpoint"
            else:
                advice = "the endpoint's TLS certificate is not trusted; set ca_bundle to the CA that signed it"
            return PermanentProviderError(
                f"AliCloud {operation}: {advice}",
                operation=operation,
                code="CertificateVerifyFailed",
            )
        return TransientProviderError(
            f"AliCloud {operation}: cannot reach the endpoint ({type(exc).__name__})",
            operation=operation,
            code="EndpointConnectionError",
        )
    code = str(code)
    advice = _ADVICE.get(code) or (
        "a RAM permission is missing; see the README's list"
        if code.startswith(("Forbidden", "NoPermission"))
        else ""
    )
    message = f"AliCloud {operation} failed: {code}" + (f" ({advice})" if advice else "")
    transient = code in TRANSIENT_CODES or code.startswith(TRANSIENT_PREFIXES)
    if transient or (isinstance(status, int) and status >= 500):
        return TransientProviderError(message, operation=operation, code=code)
    return PermanentProviderError(message, operation=operation, code=code)


def map_error(exc: BaseException, operation: str) -> DynSecretsError:
    """The dynsecrets error for an exception (one of :func:`transport_errors`) raised
    by ``operation``; the caller raises it ``from exc``."""
    from alibabacloud_credentials.exceptions import CredentialException
    from Tea.exceptions import TeaException

    from .transport import ApiError, CredentialRefreshError, SetupError

    if isinstance(exc, CredentialException):
        return _no_credentials(operation)
    if isinstance(exc, SetupError):
        return PermanentProviderError(
            f"AliCloud {operation}: {exc}", operation=operation, code=exc.code
        )
    if isinstance(exc, CredentialRefreshError):
        # The provider the default chain settled on (ECS RAM role, OIDC, ...) could not
        # refresh: its endpoint may be back in a moment.
        return TransientProviderError(
            f"AliCloud {operation}: the credential chain could not refresh its "
            f"credentials ({exc}); check the ECS RAM role or OIDC setup",
            operation=operation,
            code="CredentialRefreshFailed",
        )
    if isinstance(exc, (ApiError, TeaException, OSError)) or _is_urllib3(exc):
        return classify(exc, operation)
    return PermanentProviderError(  # Tea's or darabonba's ValidateException
        f"AliCloud {operation}: the SDK refused a parameter ({type(exc).__name__})",
        operation=operation,
        code="InvalidParameter",
    )


def _is_urllib3(exc: BaseException) -> bool:
    from urllib3.exceptions import HTTPError

    return isinstance(exc, HTTPError)


def _no_credentials(operation: str) -> PermanentProviderError:
    # The default chain (environment, profile files, ECS RAM role, OIDC) found nothing.
    return PermanentProviderError(
        f"AliCloud {operation}: no usable credentials; set access_key and secret_key "
        "in config, or configure the default credential chain",
        operation=operation,
        code="NoCredentials",
    )


def transport_errors() -> tuple[type[BaseException], ...]:
    """Every exception a call can raise that :func:`map_error` maps: Alibaba's
    refusals, transport failures (urllib3's, the socket's), the credential chain's,
    and the SDK's validation errors."""
    global _TRANSPORT_ERRORS
    if _TRANSPORT_ERRORS is None:
        from alibabacloud_credentials.exceptions import CredentialException
        from darabonba.exceptions import ValidateException as DaraValidate
        from Tea.exceptions import TeaException, ValidateException
        from urllib3.exceptions import HTTPError

        from .transport import ApiError, CredentialRefreshError, SetupError

        _TRANSPORT_ERRORS = (
            ApiError,
            SetupError,
            CredentialRefreshError,
            HTTPError,
            OSError,
            TeaException,
            ValidateException,
            DaraValidate,
            CredentialException,
        )
    return _TRANSPORT_ERRORS


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] | None = None
