"""Allow-lists for names that reach cloud APIs, SQL and file paths."""

from __future__ import annotations

import os
import re
import string

from .errors import ValidationError

_MOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RESERVED_MOUNTS = frozenset({"sys", "auth", "identity", "cubbyhole"})
_BASE62 = string.ascii_letters + string.digits
# Byte b < 248 (= 4 * 62) stands for _BASE62[b % 62]; 248-255 are dropped, so
# every character is equally likely.
_TO_BASE62 = bytes(ord(_BASE62[b % 62]) for b in range(256))
_DROPPED = bytes(range(248, 256))


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def show(value: object, limit: int = 80) -> str:
    """``value`` for an error message: repr'd, and cut short, so a 10 KB input
    does not become a 10 KB error line."""
    return _show(value, limit)


def check_text(value: object, field: str) -> str:
    """A string that encodes as UTF-8 (undecodable argv bytes arrive as lone
    surrogates, which databases and signers refuse with their own errors)."""
    if not isinstance(value, str):
        raise ValidationError(field, f"expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            field, f"{_show(value)} is not valid text (undecodable bytes); check its encoding"
        ) from None
    return value


def check_mount_path(path: object) -> str:
    if not isinstance(path, str):
        raise ValidationError("path", f"expected a string, got {type(path).__name__}")
    clean = path.strip("/")
    if not _MOUNT.fullmatch(clean) or clean in ("..", "."):
        raise ValidationError(
            "path",
            f"{_show(path)} is not a valid mount path: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, such as 'aws-us-west-2'",
        )
    if clean in _RESERVED_MOUNTS:
        raise ValidationError("path", f"{clean!r} is reserved; choose another mount path")
    return clean


def check_role_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValidationError("role", f"expected a string, got {type(name).__name__}")
    if not _ROLE.fullmatch(name):
        raise ValidationError(
            "role",
            f"{_show(name)} is not a valid role name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return name


def random_base62(n: int) -> str:
    """``n`` uniformly random base62 characters: urandom bytes mapped through one
    ``bytes.translate`` (bytes 248-255 dropped, keeping every character uniform).
    Per-character ``secrets.choice`` cost a fifth of an issue; this is one call."""
    out = b""
    while len(out) < n:
        # 3 bytes in 100 are dropped: n + n // 8 + 8 almost always suffice at once.
        out += os.urandom(n + n // 8 + 8).translate(_TO_BASE62, _DROPPED)
    return out[:n].decode("ascii")


def new_lease_id(mount: str, path: str) -> str:
    """``<mount>/<path>/<24 random base62>``, as Vault shapes them: the path the lease
    was read through (``creds/ec2``, ``sts/ec2``, ``roleset/my-set/key``), so revoking
    that prefix finds it."""
    return f"{mount}/{path}/{random_base62(24)}"
