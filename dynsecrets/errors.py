"""Every exception dynsecrets raises.

All of them derive from :class:`DynSecretsError`; where a builtin fits, they
inherit it too, so ``except KeyError`` keeps working for lookups::

    DynSecretsError
    ├── ValidationError (ValueError)        bad input; names the field
    │   └── InvalidTTL
    ├── NotFound (KeyError)
    │   ├── MountNotFound
    │   ├── RoleNotFound
    │   ├── LeaseNotFound
    │   └── PathNotFound
    ├── Conflict
    │   ├── MountExists
    │   ├── MountInUse                      live leases still exist
    │   └── LeaseLimitExceeded              max_leases reached
    ├── LeaseNotRenewable
    ├── MountNotConfigured
    ├── ProviderNotFound (LookupError)      names what is installed and the extra to add
    ├── ProviderLoadError (ImportError)     a plugin failed to import; names its distribution
    ├── MissingDependency (ImportError)     a cloud SDK extra is not installed
    ├── StoreError
    │   └── SchemaVersionError
    ├── ProviderError                       what a cloud said, mapped
    │   ├── TransientProviderError          throttling, 5xx, propagation: retried
    │   │   └── OperationTimeout            the operation's deadline passed
    │   ├── PermanentProviderError          auth, invalid input: surfaced at once
    │   └── RevokeErrors                    several steps of one revocation failed
    └── RevocationFailed                    a revoke that the cloud refused; the lease stays

Messages say what was wrong and what to do about it. They never contain a
secret value.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "DynSecretsError",
    "InvalidTTL",
    "LeaseLimitExceeded",
    "LeaseNotFound",
    "LeaseNotRenewable",
    "MissingDependency",
    "MissingPermissions",
    "MountExists",
    "MountInUse",
    "MountNotConfigured",
    "MountNotFound",
    "NotFound",
    "NotSupported",
    "OperationTimeout",
    "PathNotFound",
    "PermanentProviderError",
    "ProviderError",
    "ProviderLoadError",
    "ProviderNotFound",
    "RevocationFailed",
    "RevokeErrors",
    "RoleNotFound",
    "SchemaVersionError",
    "StoreError",
    "TransientProviderError",
    "ValidationError",
]


class DynSecretsError(Exception):
    """Root of every error dynsecrets raises."""


class ValidationError(DynSecretsError, ValueError):
    """Input that cannot be accepted. ``field`` names the offending field."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class MissingPermissions(ValidationError):
    """``verify=true`` found calls the root credential is not allowed to make.
    ``permissions`` lists them (``iam:CreateUser``, ...); ``field`` names the first."""

    def __init__(self, permissions: list[str], what: str) -> None:
        self.permissions = list(permissions)
        super().__init__(
            self.permissions[0],
            f"the root credential lacks {len(self.permissions)} permission(s) {what} needs: "
            f"{', '.join(self.permissions)}; grant them and write again",
        )


class InvalidTTL(ValidationError):
    """A duration that cannot be parsed or breaks a TTL rule."""


class NotFound(DynSecretsError, KeyError):
    """Something named does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MountNotFound(NotFound):
    pass


class RoleNotFound(NotFound):
    pass


class LeaseNotFound(NotFound):
    pass


class PathNotFound(NotFound):
    pass


class Conflict(DynSecretsError):
    pass


class MountExists(Conflict):
    pass


class MountInUse(Conflict):
    pass


class LeaseLimitExceeded(Conflict):
    pass


class LeaseNotRenewable(DynSecretsError):
    pass


class MountNotConfigured(DynSecretsError):
    pass


class NotSupported(DynSecretsError):
    """The mount's provider cannot do this (static roles, verify, root rotation)."""


class ProviderNotFound(DynSecretsError, LookupError):
    pass


class ProviderLoadError(DynSecretsError, ImportError):
    pass


class MissingDependency(DynSecretsError, ImportError):
    pass


class StoreError(DynSecretsError):
    pass


class SchemaVersionError(StoreError):
    pass


class ProviderError(DynSecretsError):
    """A cloud call failed. ``operation`` names the call, ``code`` the cloud's error code.

    ``nothing_created`` is set by a provider that knows the failed issuance made
    nothing in the cloud (its first create was refused): the engine then drops the
    pending lease at once instead of rolling back.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        code: str | None = None,
        nothing_created: bool = False,
    ):
        self.operation = operation
        self.code = code
        self.nothing_created = nothing_created
        super().__init__(message)


class TransientProviderError(ProviderError):
    """Throttling, a 5xx, or a propagation delay: worth retrying.

    ``throttled`` is set by a provider when the cloud said "too many requests" (AWS
    ``Throttling``, HTTP 429): the engine then lowers the mount's call rate and
    concurrency, rather than only backing off this one call.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        code: str | None = None,
        nothing_created: bool = False,
        throttled: bool = False,
    ):
        self.throttled = throttled
        super().__init__(message, operation=operation, code=code, nothing_created=nothing_created)


class OperationTimeout(TransientProviderError):
    """An operation (issue, revoke, renew, rotate) ran out of its deadline."""


class PermanentProviderError(ProviderError):
    """Bad credentials, missing permission, invalid input: retrying will not help."""


class RevokeErrors(ProviderError):
    """Several steps of one revocation failed; ``errors`` holds each one."""

    def __init__(self, errors: list[DynSecretsError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors), operation="revoke")


class RevocationFailed(DynSecretsError):
    """The cloud refused a revocation. The lease stays in the store and is retried."""

    def __init__(self, lease_id: str, message: str) -> None:
        self.lease_id = lease_id
        super().__init__(f"{lease_id}: {message}")
