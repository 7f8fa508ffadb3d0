"""Vault's response shapes, and each typed error mapped to Vault's status code.

Nothing here imports Starlette: handlers turn a :class:`Reply` into an HTTP response.
Error texts are the library's own messages (which never hold a secret), on one line
and cut short; an exception nobody mapped is reported by type only.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from .. import errors as e
from ..models import Lease

__all__ = ["ApiError", "Reply", "envelope", "error_reply", "jsonable", "lease_reply"]

log = logging.getLogger("dynsecrets.server")


@attrs.frozen
class Reply:
    """A response: its status, and its JSON body (None: no body, as for a 204)."""

    status: int
    body: dict[str, Any] | None = None


class ApiError(Exception):
    """An error the server itself raises: a status and Vault's ``errors`` list."""

    def __init__(self, status: int, *messages: str) -> None:
        self.status = status
        self.messages = list(messages)
        super().__init__("; ".join(messages))


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def envelope(
    data: Any = None,
    *,
    lease_id: str = "",
    lease_duration: int = 0,
    renewable: bool = False,
    warnings: list[str] | None = None,
    auth: Any = None,
) -> dict[str, Any]:
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": jsonable(data),
        "wrap_info": None,
        "warnings": warnings or None,
        "auth": auth,
    }


def lease_reply(lease: Lease) -> Reply:
    # A credential the cloud can neither renew nor revoke may come without a lease
    # (empty id), as Vault returns GCP access tokens: no duration to report then.
    leased = bool(lease.lease_id)
    return Reply(
        200,
        envelope(
            dict(lease.data),
            lease_id=lease.lease_id,
            lease_duration=lease.lease_duration if leased else 0,
            renewable=lease.renewable if leased else False,
            warnings=list(lease.warnings),
        ),
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


# Most specific first: the first class an error is an instance of decides.
_STATUS: list[tuple[type[BaseException], int]] = [
    (e.ValidationError, 400),
    (e.LeaseNotFound, 400),  # Vault: "invalid lease" is bad input, not a missing route
    (e.NotFound, 404),
    (e.LeaseLimitExceeded, 429),  # a quota, as Vault's lease-count quotas answer
    (e.MountInUse, 409),
    (e.Conflict, 400),  # Vault: "path is already in use" is a 400
    (e.LeaseNotRenewable, 400),
    (e.MountNotConfigured, 400),
    (e.ProviderNotFound, 400),
    (e.TransientProviderError, 503),  # throttled or timed out upstream: retry later
    (e.PermanentProviderError, 502),  # the cloud refused: not our fault, not retryable
    (e.RevocationFailed, 502),
    (e.ProviderError, 502),
    (e.StoreError, 503),
    (e.DynSecretsError, 500),
]


def error_reply(exc: BaseException) -> Reply:
    if isinstance(exc, ApiError):
        return Reply(exc.status, {"errors": [_one_line(m) for m in exc.messages]})
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return Reply(status, {"errors": [_one_line(str(exc) or type(exc).__name__)]})
    # A bug. The message of an exception nobody mapped could hold anything, so the
    # log gets the frames and the type only, and the client a generic line.
    log.error(
        "unhandled %s:\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__))
    )
    return Reply(500, {"errors": ["internal error; see the server log"]})
