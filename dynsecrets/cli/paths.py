"""Opening the engine a command works on, and what the CLI knows about paths."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .messages import UsageError

if TYPE_CHECKING:
    from dynsecrets import Engine
    from dynsecrets.schema import Field

__all__ = ["open_engine", "path_kind", "schema_fields"]


def open_engine(args: argparse.Namespace, **options: Any) -> Engine:
    from dynsecrets import Engine

    options.setdefault("actor", actor(args))
    return Engine.open(args.store, **options)


def actor(args: argparse.Namespace) -> str:
    """``-actor``, else ``$DYNSECRETS_ACTOR``, else the login name ("" if unknown)."""
    import os

    given = getattr(args, "actor", None) or os.environ.get("DYNSECRETS_ACTOR")
    if given:
        return str(given)
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (some containers)
        return ""


def path_kind(path: str) -> tuple[str, str, str | None]:
    """``(mount, kind, name)`` of a Vault-style path, for choosing how to print it and
    which schema its fields follow. The engine decides what is valid; this only
    refuses ``sys/``, which Vault serves and dynsecrets does not."""
    parts = path.strip("/").split("/")
    if parts[0] == "sys":
        raise UsageError(
            "sys/ paths are not served by the dynsecrets CLI; use 'dynsecrets lease ...' "
            "for leases and 'dynsecrets secrets ...' for mounts"
        )
    rest = parts[1:]
    if rest[:1] in (["roles"], ["creds"], ["sts"]):
        return parts[0], rest[0], rest[1] if len(rest) > 1 else None
    return parts[0], "/".join(rest), None


def schema_fields(engine: Engine, path: str) -> dict[str, Field]:
    """The provider fields that a write to ``path`` takes, or ``{}`` if the path does not
    name a config, role or credential request (the engine then says what is wrong)."""
    from dynsecrets.errors import DynSecretsError

    mount, kind, _ = path_kind(path)
    try:
        provider = engine.mount(mount).provider
    except DynSecretsError:
        return {}
    if kind == "config/root":
        return dict(provider.config_schema.fields)
    if kind == "roles":
        return dict(provider.role_schema.fields)
    if kind in ("creds", "sts"):
        return dict(provider.request_schema.fields)
    return {}
