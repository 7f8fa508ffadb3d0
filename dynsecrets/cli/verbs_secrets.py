"""``secrets enable|list|tune|disable``: mounts."""

from __future__ import annotations

import argparse
from typing import TextIO

from dynsecrets.output import format_columns
from dynsecrets.ttl import format_duration

from .messages import UsageError
from .paths import open_engine

__all__ = ["secrets"]


def secrets(args: argparse.Namespace, out: TextIO) -> int:
    if args.action is None:
        raise UsageError("name an action: enable, list, tune or disable")
    with open_engine(args) as engine:
        if args.action == "enable":
            path = (args.path or args.provider).strip("/")
            engine.enable(
                path,
                args.provider,
                default_ttl=args.default_lease_ttl,
                max_ttl=args.max_lease_ttl,
                description=args.description,
            )
            print(f"Success! Enabled the {args.provider} secrets engine at: {path}/", file=out)
        elif args.action == "list":
            rows = [
                (
                    f"{m.path}/",
                    m.provider,
                    format_duration(m.default_ttl),
                    format_duration(m.max_ttl),
                    m.description or "n/a",
                )
                for m in engine.mounts()
            ]
            header = ("Path", "Type", "Default TTL", "Max TTL", "Description")
            print(format_columns(header, rows), file=out)
        elif args.action == "disable":
            engine.disable(args.path, revoke=args.revoke)
            print(
                f"Success! Disabled the secrets engine (if it existed) at: {args.path.strip('/')}/",
                file=out,
            )
        else:
            engine.tune(
                args.path,
                default_ttl=args.default_lease_ttl,
                max_ttl=args.max_lease_ttl,
                description=args.description,
                max_leases=args.max_leases,
            )
            print(f"Success! Tuned the secrets engine at: {args.path.strip('/')}/", file=out)
    return 0
