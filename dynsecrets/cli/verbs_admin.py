"""``tidy``, ``rotate-root`` and ``rotate``: operator tasks on one mount."""

from __future__ import annotations

import argparse
from typing import TextIO

from dynsecrets.output import format_table

from .messages import CommandFailed, UsageError, error_line
from .paths import open_engine

__all__ = ["rotate", "rotate_root", "tidy"]


def tidy(args: argparse.Namespace, out: TextIO) -> int:
    mount = args.mount.strip("/")
    with open_engine(args) as engine:
        # A dry run unless -apply: deleting cloud identities is not undone by anything.
        report = engine.mount(mount).tidy(dry_run=not args.apply)
    noun = "identity" if report.scanned == 1 else "identities"
    print(
        f"Scanned {report.scanned} {noun} made by {mount}/; {len(report.orphans)} without a lease.",
        file=out,
    )
    for orphan in report.orphans:
        owner = f"(role {orphan.role})" if orphan.role else f"(lease {orphan.lease_id or '<none>'})"
        if report.dry_run:
            print(f"  would delete {orphan.id} {owner}", file=out)
        elif orphan.id in report.errors:
            print(
                f"  not deleted: {orphan.id} {owner}: {error_line(report.errors[orphan.id])}",
                file=out,
            )
        else:
            print(f"  deleted {orphan.id} {owner}", file=out)
    if report.dry_run and report.orphans:
        print(
            f"This was a dry run; nothing was deleted. Run 'dynsecrets tidy -apply {mount}' "
            "to delete them.",
            file=out,
        )
    if report.errors:
        raise CommandFailed(
            f"{len(report.errors)} of {len(report.orphans)} identities could not be deleted; "
            "see the list above"
        )
    return 0


def rotate_root(args: argparse.Namespace, out: TextIO) -> int:
    mount = args.mount.strip("/")
    with open_engine(args) as engine:
        new = engine.mount(mount).rotate_root()
    print(f"Success! Rotated the root credential of {mount}/", file=out)
    if new:
        print(format_table(sorted(new.items())), file=out)
    return 0


def rotate(args: argparse.Namespace, out: TextIO) -> int:
    parts = args.path.strip("/").split("/")
    if len(parts) == 1:
        args.mount = parts[0]
        return rotate_root(args, out)
    if len(parts) != 3 or parts[1] != "static-roles":
        raise UsageError(
            f"cannot rotate {args.path!r}: name a static role (MOUNT/static-roles/NAME) or a "
            "mount (its root credential)"
        )
    with open_engine(args) as engine:
        shown = engine.mount(parts[0]).static.rotate(parts[2])
    print(f"Success! Rotated {args.path.strip('/')}", file=out)
    print(format_table(sorted((k, v) for k, v in shown.items() if v not in (None, []))), file=out)
    return 0
