"""``read``, ``write``, ``list`` and ``delete``: the path API."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from dynsecrets.errors import DynSecretsError, RoleNotFound
from dynsecrets.models import Lease

from .data import coerce_maps, parse_data
from .messages import CommandFailed, UsageError, error_line
from .paths import open_engine, path_kind, schema_fields
from .render import (
    go_duration,
    lease_field,
    lease_field_names,
    no_field,
    print_data,
    print_keys,
    print_lease,
)

if TYPE_CHECKING:
    from dynsecrets import Engine

__all__ = ["delete", "list_", "read", "write"]


def _stdin() -> BinaryIO | None:
    # Bytes, not text: a value that is not UTF-8 gets a message naming its key
    # instead of a UnicodeDecodeError from the text layer.
    return getattr(sys.stdin, "buffer", None)


def read(args: argparse.Namespace, out: TextIO) -> int:
    _, kind, _ = path_kind(args.path)
    data = parse_data(args.data, _stdin())
    with open_engine(args) as engine:
        data = coerce_maps(data, schema_fields(engine, args.path))
        _show(engine, engine.read(args.path, **data), args, kind, out)
    return 0


def write(args: argparse.Namespace, out: TextIO) -> int:
    _, kind, _ = path_kind(args.path)
    data = parse_data(args.data, _stdin())
    if not data and not args.force:
        raise UsageError(
            f"no data to write to {args.path}; give key=value pairs, or -f to write with none"
        )
    with open_engine(args) as engine:
        data = coerce_maps(data, schema_fields(engine, args.path))
        result = engine.write(args.path, **data)
        if result is None:
            print(f"Success! Data written to: {args.path}", file=out)
        else:
            _show(engine, result, args, kind, out)
    return 0


def _show(engine: Engine, result: Any, args: argparse.Namespace, kind: str, out: TextIO) -> None:
    if isinstance(result, Lease):
        if args.field:
            _check_field(engine, result, args.field)
        print_lease(result, args.format, args.field, out, sys.stderr)
        return
    data = dict(result)
    if kind == "config/lease":  # Vault returns these as durations, not seconds
        data = {k: go_duration(v) if isinstance(v, int) else v for k, v in data.items()}
    print_data(data, args.format, args.field, out)


def _check_field(engine: Engine, lease: Lease, field: str) -> None:
    """An unknown ``-field`` makes the command fail; the credential it issued would
    otherwise stay live for its whole TTL with nobody holding it, so revoke it."""
    try:
        lease_field(lease, field)
    except KeyError:
        names = lease_field_names(lease)
        try:
            engine.revoke(lease.lease_id)
        except DynSecretsError as exc:
            raise CommandFailed(
                f"no field {field!r} in the response; its fields are: {', '.join(names)}; "
                f"revoking the lease failed too ({error_line(str(exc))})"
            ) from exc
        raise no_field(field, names, revoked=True) from None


def list_(args: argparse.Namespace, out: TextIO) -> int:
    path_kind(args.path)
    with open_engine(args) as engine:
        print_keys(engine.list(args.path), args.format, out)
    return 0


def delete(args: argparse.Namespace, out: TextIO) -> int:
    path_kind(args.path)
    # As Vault: deleting what is not there succeeds.
    with open_engine(args) as engine, contextlib.suppress(RoleNotFound):
        engine.delete(args.path)
    print(f"Success! Data deleted (if it existed) at: {args.path}", file=out)
    return 0
