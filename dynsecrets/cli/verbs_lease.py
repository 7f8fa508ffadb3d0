"""``lease lookup|renew|revoke|list``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from dynsecrets.errors import LeaseNotFound
from dynsecrets.output import format_columns, format_table
from dynsecrets.ttl import format_duration

from .messages import CommandFailed, UsageError, error_line
from .paths import open_engine
from .render import envelope, info_rows, lookup_data, print_json

if TYPE_CHECKING:
    from dynsecrets import Engine

__all__ = ["lease"]


def lease(args: argparse.Namespace, out: TextIO) -> int:
    if args.action is None:
        raise UsageError("name an action: lookup, renew, revoke or list")
    with open_engine(args) as engine:
        now = engine.clock.now
        if args.action == "lookup":
            info = engine.lookup(args.lease_id)
            if args.format == "json":
                print_json(envelope(data=lookup_data(info, now())), out)
            else:
                print(format_table(info_rows(info, now())), file=out)
        elif args.action == "renew":
            info = engine.renew(args.lease_id, increment=args.increment)
            ttl = info.ttl(now())
            if args.format == "json":
                print_json(
                    envelope(lease_id=info.lease_id, lease_duration=ttl, renewable=info.renewable),
                    out,
                )
            else:
                rows = [
                    ("lease_id", info.lease_id),
                    ("lease_duration", format_duration(ttl)),
                    ("lease_renewable", info.renewable),
                ]
                print(format_table(rows), file=out)
        elif args.action == "revoke":
            return _revoke(engine, args, out)
        else:
            infos = engine.leases(args.prefix, state=args.state)
            if args.format == "json":
                print_json([lookup_data(i, now()) for i in infos], out)
            elif not infos:
                state = f"{args.state} " if args.state else ""
                where = f" under {args.prefix}" if args.prefix else ""
                print(f"No {state}leases{where}.", file=out)
            else:
                t = now()
                table = [
                    (
                        i.lease_id,
                        i.state,
                        format_duration(i.ttl(t)),
                        format_duration(i.age(t)),
                        i.actor or "-",
                    )
                    for i in infos
                ]
                print(format_columns(("Lease ID", "State", "TTL", "Age", "Actor"), table), file=out)
    return 0


def _revoke(engine: Engine, args: argparse.Namespace, out: TextIO) -> int:
    if not args.prefix:
        with contextlib.suppress(LeaseNotFound):  # as Vault: gone needs no revoking
            engine.revoke(args.lease_id, force=args.force)
        print("All revocation operations queued successfully!", file=out)
        return 0
    progress = _progress_bar(sys.stderr) if sys.stderr.isatty() else None
    summary = engine.revoke_prefix(args.lease_id, force=args.force, progress=progress)
    print(f"Success! Revoked {summary.revoked} lease(s) under {args.lease_id}", file=out)
    if not summary.failed:
        return 0
    for lease_id, error in sorted(summary.failed.items()):
        print(f"  not revoked: {lease_id}: {error_line(error)}", file=out)
    raise CommandFailed(
        f"{len(summary.failed)} lease(s) could not be revoked; they stay in the store and the "
        "worker retries them (or drop them with -force)"
    )


def _progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - last[0] < 0.1:  # redraws cost more than revokes
            return
        last[0] = now
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\rRevoking [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
