"""Value types: frozen, validated, and never showing a secret in ``repr``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .ttl import format_duration

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["Capabilities", "Lease", "LeaseInfo", "LeaseState", "MountInfo", "Role", "SecretData"]


def _to_secret(data: Mapping[str, Any]) -> SecretData:
    return data if isinstance(data, SecretData) else SecretData(data)


def _to_dict(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


def _utc(ts: float) -> dt.datetime:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def _unlink_quietly(path: str) -> None:
    import contextlib
    import os

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _naive_utc(ts: float) -> dt.datetime:
    # google-auth compares expiry with a naive UTC datetime.
    return _utc(ts).replace(tzinfo=None)


class SecretData(Mapping[str, Any]):
    """A read-only mapping of credential values whose ``repr`` hides the secret ones.

    ``secret_keys`` are masked; other keys (an access key id, a user name) show.
    """

    __slots__ = ("_data", "_secret")

    def __init__(self, data: Mapping[str, Any], secret_keys: frozenset[str] | None = None):
        self._data = dict(data)
        self._secret = frozenset(self._data) if secret_keys is None else frozenset(secret_keys)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def secret_keys(self) -> frozenset[str]:
        return self._secret

    def __repr__(self) -> str:
        shown = {
            k: ("<redacted>" if k in self._secret and v is not None else v)
            for k, v in self._data.items()
        }
        return f"SecretData({shown!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretData):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data)))

    def __reduce__(self) -> Any:
        raise TypeError("SecretData cannot be pickled; it holds live credentials")


class LeaseState:
    """The states a stored lease passes through."""

    PENDING = "pending"
    ACTIVE = "active"
    REVOKING = "revoking"
    IRREVOCABLE = "irrevocable"
    ALL = (PENDING, ACTIVE, REVOKING, IRREVOCABLE)


@attrs.frozen
class Capabilities:
    """What the cloud can do with a credential type. AWS STS can do neither.

    ``leased=False``: the credential is returned without a lease (empty
    ``lease_id``, ``lease_duration`` 0), as Vault returns GCP access tokens: the
    cloud cannot revoke it, so there is nothing for the store to track.
    """

    renewable: bool = True
    revocable: bool = True
    leased: bool = True


@attrs.frozen
class Lease:
    """An issued credential. ``data`` holds the secrets, which exist only here.

    The store keeps the lease without ``data``; once this object is gone the
    secret cannot be read again.
    """

    lease_id: str
    mount: str
    role: str
    lease_duration: int
    renewable: bool
    revocable: bool
    issued_at: float
    expires_at: float
    data: SecretData = attrs.field(converter=_to_secret)
    warnings: tuple[str, ...] = ()
    env: SecretData = attrs.field(factory=lambda: SecretData({}), converter=_to_secret)

    @property
    def issued(self) -> dt.datetime:
        return _utc(self.issued_at)

    @property
    def expires(self) -> dt.datetime:
        return _utc(self.expires_at)

    @property
    def duration(self) -> str:
        """``lease_duration`` as Vault prints it, e.g. ``768h``."""
        return format_duration(self.lease_duration)

    def environ(self, *, keep_files: bool = False) -> dict[str, str]:
        """The cloud's standard environment variables for these credentials.

        For a GCP service-account key this writes the key to a new 0600 temp file
        and sets ``GOOGLE_APPLICATION_CREDENTIALS`` to it; delete the file when done
        (``dynsecrets exec`` does; it is also removed when the interpreter exits,
        unless ``keep_files``: for a shell that sources the variables).
        """
        env = {k: str(v) for k, v in self.env.items() if v is not None}
        if self.data.get("key_type") == "TYPE_GOOGLE_CREDENTIALS_FILE":
            env["GOOGLE_APPLICATION_CREDENTIALS"] = self.google_credentials_file(keep=keep_files)
        return env

    def google_credentials_info(self) -> dict[str, Any]:
        """The service-account key file of a GCP key lease, as a dict."""
        import base64
        import json

        if self.data.get("key_type") != "TYPE_GOOGLE_CREDENTIALS_FILE":
            raise TypeError(f"lease {self.lease_id or '(token)'} holds no GCP key file")
        return dict(json.loads(base64.b64decode(self.data["private_key_data"])))

    def google_credentials_file(self, directory: str | None = None, *, keep: bool = False) -> str:
        """Write the GCP key file to a new 0600 file; returns its path (yours to delete;
        removed at interpreter exit otherwise, unless ``keep``)."""
        import atexit
        import json
        import os
        import tempfile

        text = json.dumps(self.google_credentials_info())
        fd, path = tempfile.mkstemp(prefix="dynsecrets-gcp-", suffix=".json", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        if not keep:
            atexit.register(_unlink_quietly, path)
        return path

    def google_credentials(
        self, *, scopes: list[str] | None = None, ca_bundle: str | None = None
    ) -> Any:
        """A google-auth credentials object for any Google client library: from the
        key of a key lease, or the token of a token lease. ``ca_bundle``: a CA to
        trust when the key's token_uri is a private endpoint."""
        import importlib

        # Through Any: google-auth is partly unannotated (and imported only here).
        oauth2: Any = importlib.import_module("google.oauth2.credentials")
        service_account: Any = importlib.import_module("google.oauth2.service_account")
        if "token" in self.data and "private_key_data" not in self.data:
            return oauth2.Credentials(token=self.data["token"], expiry=_naive_utc(self.expires_at))
        creds = service_account.Credentials.from_service_account_info(
            self.google_credentials_info(),
            scopes=scopes or ["https://www.googleapis.com/auth/cloud-platform"],
        )
        if ca_bundle:
            import requests
            from google.auth.transport.requests import Request

            session = requests.Session()
            session.trust_env = False
            session.verify = ca_bundle
            creds.refresh(Request(session))
        return creds

    def boto3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client(...)`` or ``boto3.Session(...)`` (AWS leases)."""
        if "access_key" not in self.data:
            raise TypeError(f"lease {self.lease_id} does not hold AWS credentials")
        return {
            "aws_access_key_id": self.data["access_key"],
            "aws_secret_access_key": self.data["secret_key"],
            "aws_session_token": self.data.get("security_token"),
        }

    def azure_credential(self, **kwargs: Any) -> Any:
        """An azure-identity ``ClientSecretCredential`` for the principal (Azure
        leases). ``kwargs`` go to the credential (e.g. ``connection_verify``)."""
        if "client_secret" not in self.data or "tenant_id" not in self.data:
            raise TypeError(f"lease {self.lease_id} does not hold Azure credentials")
        from azure.identity import ClientSecretCredential  # the azure extra, on first use

        authority = self.env.get("AZURE_AUTHORITY_HOST")
        if authority:
            kwargs.setdefault("authority", authority)
            # A private authority: MSAL must not ask the public cloud about it.
            kwargs.setdefault("disable_instance_discovery", True)
        return ClientSecretCredential(
            self.data["tenant_id"], self.data["client_id"], self.data["client_secret"], **kwargs
        )


@attrs.frozen
class LeaseInfo:
    """What the store knows about a lease: no secret, ever."""

    lease_id: str
    mount: str
    role: str
    state: str
    renewable: bool
    revocable: bool
    issued_at: float
    expires_at: float
    max_expires_at: float
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: float | None = None
    #: Who asked for it (``engine.acting_as``, ``actor=``, the CLI's user); "" if unknown.
    actor: str = ""

    @property
    def expires(self) -> dt.datetime:
        return _utc(self.expires_at)

    def age(self, now: float) -> int:
        """Seconds since the lease was issued."""
        return max(0, round(now - self.issued_at))

    def ttl(self, now: float) -> int:
        return max(0, round(self.expires_at - now))


@attrs.frozen
class MountInfo:
    path: str
    provider: str
    default_ttl: int
    max_ttl: int
    description: str = ""
    max_leases: int | None = None
    configured: bool = False


@attrs.frozen
class Role:
    """A stored role: its name and the provider's normalised fields."""

    mount: str
    name: str
    fields: Mapping[str, Any] = attrs.field(converter=_to_dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)
