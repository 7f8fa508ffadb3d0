"""Root config at rest: AES-256-GCM, with the mount path as associated data so a
sealed config cannot be moved to another mount.

The key comes, in this order, from a :class:`KeyProvider` passed to the engine,
a ``key=`` argument, ``$DYNSECRETS_KEY``, a ``key_file=`` argument,
``$DYNSECRETS_KEY_FILE``, or, for a SQLite store, a key file generated next to
it (mode 0600, with a warning once). ``memory://`` stores get a random key that
lives as long as the process. A key is 32 bytes, given as base64; any other
string is treated as a passphrase and stretched with scrypt.

``cryptography`` is imported on first use, not with ``dynsecrets``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .errors import MissingDependency, StoreError, ValidationError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DecryptionError", "KeyProvider", "Sealer", "StaticKey", "resolve_key"]

log = logging.getLogger("dynsecrets.crypto")

_VERSION = b"v1"
_NONCE = 12
_PASSPHRASE_SALT = b"dynsecrets-passphrase-v1"


class DecryptionError(StoreError):
    """Sealed data could not be opened with this key (wrong key, or tampered data)."""


@runtime_checkable
class KeyProvider(Protocol):
    """Supplies the 32-byte data key (plug in a KMS, a secrets manager, an HSM)."""

    def key(self) -> bytes: ...


class StaticKey:
    """A key given as 32 bytes, base64, or a passphrase. A passphrase is checked at
    once but stretched (scrypt, ~50 ms) only when the key is first needed, so
    opening an engine stays fast."""

    def __init__(self, key: bytes | str) -> None:
        _check_form(key)
        self._given: bytes | str | None = key
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            assert self._given is not None
            self._key, self._given = decode_key(self._given), None
        return self._key

    def __repr__(self) -> str:
        return "StaticKey(<redacted>)"


def _check_form(value: bytes | str) -> None:
    if isinstance(value, bytes) and len(value) == 32:
        return
    text = (value.decode() if isinstance(value, bytes) else value).strip()
    if not text:
        raise ValidationError("key", "is empty; give 32 bytes as base64, or a passphrase")
    if len(text) < 16:
        raise ValidationError(
            "key", "a passphrase must be at least 16 characters; or give 32 bytes as base64"
        )


def decode_key(value: bytes | str) -> bytes:
    """32 raw bytes, base64 of 32 bytes, or a passphrase (stretched with scrypt)."""
    import base64
    import binascii
    import hashlib

    if isinstance(value, bytes) and len(value) == 32:
        return value
    text = value.decode() if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        raise ValidationError("key", "is empty; give 32 bytes as base64, or a passphrase")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=False)
        if len(raw) == 32 and len(text) >= 43:
            return raw
    except (binascii.Error, ValueError):
        pass
    if len(text) < 16:
        raise ValidationError(
            "key", "a passphrase must be at least 16 characters; or give 32 bytes as base64"
        )
    return hashlib.scrypt(text.encode(), salt=_PASSPHRASE_SALT, n=2**14, r=8, p=1, dklen=32)


class _FileKey:
    """A key kept in a file. An existing file is read and its form checked when the
    engine opens (cheap); a passphrase in it is stretched on first use."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.create = create
        self._key: bytes | None = None
        self._text: str | None = None
        if path.exists() or not create:
            self._text = self._read()

    def _read(self) -> str:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise ValidationError("key_file", f"{self.path} does not exist") from None
        except OSError as exc:
            raise ValidationError(
                "key_file", f"cannot read {self.path}: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                "key_file",
                f"{self.path} is not a dynsecrets key file (it is not text); it must hold "
                "32 bytes as base64, or a passphrase",
            ) from None
        try:
            _check_form(text)
        except ValidationError as exc:
            raise ValidationError("key_file", f"{self.path}: {exc.message}") from None
        return text

    def key(self) -> bytes:
        if self._key is None:
            if self._text is None:
                if not self.path.exists():
                    self._generate()
                self._text = self._read()
            mode = self.path.stat().st_mode & 0o077
            if mode:
                log.warning("key file %s is readable by other users; chmod 600 it", self.path)
            self._key = decode_key(self._text)
        return self._key

    def _generate(self) -> None:
        import base64

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
        log.warning(
            "generated a new encryption key for root config at %s (mode 0600); back it up, "
            "or set DYNSECRETS_KEY: without it the stored root config cannot be read",
            self.path,
        )

    def __repr__(self) -> str:
        return f"FileKey({str(self.path)!r})"


def resolve_key(
    store_url: str,
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    key_provider: KeyProvider | None = None,
) -> KeyProvider:
    if key_provider is not None:
        return key_provider
    if key is not None:
        return StaticKey(key)
    if os.environ.get("DYNSECRETS_KEY"):
        return StaticKey(os.environ["DYNSECRETS_KEY"])
    if key_file is not None:
        from pathlib import Path

        return _FileKey(Path(key_file), create=False)
    if os.environ.get("DYNSECRETS_KEY_FILE"):
        from pathlib import Path

        return _FileKey(Path(os.environ["DYNSECRETS_KEY_FILE"]), create=False)
    if store_url == "memory://":
        return StaticKey(os.urandom(32))
    if store_url.startswith("sqlite:///"):
        from pathlib import Path

        return _FileKey(Path(store_url[len("sqlite:///") :] + ".key"), create=True)
    raise ValidationError(
        "key",
        "a shared store needs the same key on every node: set DYNSECRETS_KEY (32 bytes as "
        'base64, e.g. from `python -c "import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"`)',
    )


class Sealer:
    """AES-256-GCM seal/unseal with associated data."""

    def __init__(self, provider: KeyProvider) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:  # pragma: no cover - cryptography is a dependency
            raise MissingDependency("root config encryption needs `cryptography`") from exc
        self._aead = AESGCM(provider.key())

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unseal(self, blob: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        if not blob.startswith(_VERSION):
            raise DecryptionError(
                "sealed data has an unknown format; was it written by a newer dynsecrets?"
            )
        nonce, body = blob[2 : 2 + _NONCE], blob[2 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise DecryptionError(
                "cannot decrypt the stored root config with this key: it was written with another "
                "key (set DYNSECRETS_KEY or the key file to the original) or it was altered"
            ) from exc

    def __repr__(self) -> str:
        return "Sealer(<redacted>)"
