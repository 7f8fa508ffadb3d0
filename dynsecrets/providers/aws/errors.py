"""One place where botocore exceptions become dynsecrets errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...errors import MissingDependency, PermanentProviderError, TransientProviderError

# Error codes AWS uses for throttling; botocore's standard retry mode knows the same set.
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
    }
)

#: Codes in THROTTLING that report a fault at the server, not a rate limit.
_SERVER_FAULTS = frozenset(
    {
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
        "TransactionInProgressException",
        "PriorRequestNotComplete",
    }
)

_SECRET_XML = re.compile(r"(<(SecretAccessKey|SessionToken|Password)>)[^<]*(</\2>)")
_SECRET_JSON = re.compile(
    r"""(["'](?:SecretAccessKey|SessionToken|Password|secret_key)["']\s*:\s*["'])[^"']*"""
)


class RedactSecrets(logging.Filter):
    """botocore logs whole response bodies at DEBUG, and CreateAccessKey's body holds
    the new secret key. Rewrite such records before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_JSON.sub(r"\1<redacted>", _SECRET_XML.sub(r"\1<redacted>\3", message))
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_redaction_installed = False


def import_botocore() -> tuple[Any, Any]:
    """botocore's ``session`` and ``config`` modules. Clients are botocore's whether
    boto3 makes them or not, and boto3's own import (s3transfer, its resource layer:
    ~25 ms) bought nothing here."""
    global _redaction_installed
    try:
        import botocore.config
        import botocore.session
    except ImportError as exc:
        raise MissingDependency(
            "the aws provider needs botocore (with boto3); install it with: "
            "pip install 'dynsecrets[aws]'"
        ) from exc
    if not _redaction_installed:
        for name in (
            "botocore.parsers",
            "botocore.endpoint",
            "botocore.hooks",
            "botocore.retryhandler",
        ):
            logging.getLogger(name).addFilter(RedactSecrets())
        _redaction_installed = True
    return botocore.session, botocore.config


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        inner = getattr(current, "kwargs", {}).get("error") if hasattr(current, "kwargs") else None
        current = (
            inner
            if isinstance(inner, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return False


@contextmanager
def aws_errors(operation: str) -> Iterator[None]:
    """Map every botocore exception raised inside to a dynsecrets error naming ``operation``."""
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    try:
        yield
    except bx.ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"AWS {operation} failed: {code}: {err.get('Message', '')}".rstrip(": ")
        if code in THROTTLING or status >= 500 or status == 429:
            # botocore's list mixes "slow down" with server faults; only the former
            # (or a 429) tells the engine to lower the mount's rate (lifecycle/limiter).
            throttled = status == 429 or (code in THROTTLING and code not in _SERVER_FAULTS)
            raise TransientProviderError(
                message, operation=operation, code=code, throttled=throttled
            ) from exc
        raise PermanentProviderError(message, operation=operation, code=code) from exc
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise PermanentProviderError(
            f"AWS {operation}: no usable AWS credentials ({type(exc).__name__}); set access_key "
            "and secret_key in config/root, or configure the default credential chain",
            operation=operation,
            code="NoCredentials",
        ) from exc
    except bx.EndpointConnectionError as exc:
        if _refused(exc):
            # Nothing listens there: a wrong endpoint, not a blip. Fail at once
            # instead of spending the operation's deadline on retries.
            raise PermanentProviderError(
                f"AWS {operation}: connection refused by {exc.kwargs.get('endpoint_url', 'the endpoint')}; "
                "check iam_endpoint/sts_endpoint in config/root",
                operation=operation,
                code="ConnectionRefused",
            ) from exc
        raise TransientProviderError(
            f"AWS {operation}: cannot reach the endpoint ({type(exc).__name__})",
            operation=operation,
            code="EndpointConnectionError",
        ) from exc
    except (
        bx.ConnectionClosedError,
        bx.ConnectTimeoutError,
        bx.ReadTimeoutError,
        bx.ConnectionError,
    ) as exc:
        raise TransientProviderError(
            f"AWS {operation}: cannot reach the endpoint ({type(exc).__name__})",
            operation=operation,
            code="EndpointConnectionError",
        ) from exc
    except ResponseParserError as exc:
        # An unparseable body is what a failing proxy or a 5xx page looks like.
        raise TransientProviderError(
            f"AWS {operation}: unreadable response from the endpoint",
            operation=operation,
            code="ResponseParserError",
        ) from exc
    except bx.ParamValidationError as exc:
        raise PermanentProviderError(
            f"AWS {operation}: invalid parameters: {exc}",
            operation=operation,
            code="ParamValidation",
        ) from exc
    except bx.BotoCoreError as exc:
        raise PermanentProviderError(
            f"AWS {operation} failed: {type(exc).__name__}: {exc}",
            operation=operation,
            code=type(exc).__name__,
        ) from exc
