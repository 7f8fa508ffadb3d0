"""The ``dynsecrets`` command: Vault's CLI verbs over the path API. No logic lives
here beyond parsing arguments and printing results.

Flags are accepted as ``-flag=value`` (Vault style), ``--flag value`` and
``--flag=value``. Errors are one line on stderr; exit code 2 for usage errors,
1 for failures. ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from .errors import DynSecretsError, PathNotFound, ValidationError
from .models import Lease, LeaseInfo
from .output import format_table, format_value, lease_rows
from .ttl import format_duration

__all__ = ["main"]

PROG = "dynsecrets"


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see '{self.prog} --help'")


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """Accept ``-name=value``, ``-name value``, ``--name value`` and ``--name=value``."""
    parser.add_argument(f"-{name}", f"--{name}", dest=name.replace("-", "_"), **kwargs)


def _verb(sub: Any, name: str, help: str, example: str, **kwargs: Any) -> argparse.ArgumentParser:
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=help,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        **kwargs,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Short-lived cloud credentials as leases.",
        allow_abbrev=False,
        epilog="Example:\n  dynsecrets secrets enable -path=aws-us-west-2 aws",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _flag(
        parser,
        "store",
        help="store URL (default: $DYNSECRETS_STORE or the SQLite file in the user data dir)",
    )
    parser.add_argument("-debug", "--debug", action="store_true", help="print tracebacks")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    secrets = _verb(
        sub,
        "secrets",
        "Enable, list, tune and disable secrets engines.",
        "dynsecrets secrets enable -path=aws-us-west-2 aws",
    )
    ssub = secrets.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    p = _verb(
        ssub,
        "enable",
        "Enable a secrets engine at a path.",
        "dynsecrets secrets enable -path=aws-us-west-2 aws",
    )
    _flag(p, "path", help="where to mount it (default: the provider's name)")
    _flag(p, "description", default="")
    _flag(p, "default-lease-ttl", help="e.g. 768h")
    _flag(p, "max-lease-ttl", help="e.g. 768h")
    p.add_argument("provider", help="provider name, such as aws")
    _verb(ssub, "list", "List enabled secrets engines.", "dynsecrets secrets list")
    p = _verb(
        ssub,
        "disable",
        "Disable a secrets engine (refuses while leases live).",
        "dynsecrets secrets disable -revoke aws-us-west-2",
    )
    p.add_argument("-revoke", "--revoke", action="store_true", help="revoke its leases first")
    p.add_argument("path")
    p = _verb(
        ssub,
        "tune",
        "Change a secrets engine's TTLs or description.",
        "dynsecrets secrets tune -default-lease-ttl=1h -max-lease-ttl=24h aws-us-west-2",
    )
    _flag(p, "default-lease-ttl")
    _flag(p, "max-lease-ttl")
    _flag(p, "description")
    _flag(p, "max-leases", type=int)
    p.add_argument("path")

    p = _verb(
        sub,
        "write",
        "Write data to a path (config, roles) or request credentials.",
        "dynsecrets write aws-us-west-2/roles/ec2 credential_type=iam_user policy_document=@ec2.json",
    )
    _output_flags(p)
    p.add_argument("path")
    p.add_argument("data", nargs="*", metavar="key=value", help="@file reads a file, - reads stdin")

    p = _verb(
        sub,
        "read",
        "Read a path; reading <mount>/creds/<role> issues credentials.",
        "dynsecrets read aws-us-west-2/creds/ec2",
    )
    _output_flags(p)
    p.add_argument("path")
    p.add_argument("data", nargs="*", metavar="key=value", help="request options, such as ttl=15m")

    p = _verb(sub, "list", "List the names under a path.", "dynsecrets list aws-us-west-2/roles")
    _flag(p, "format", default="table", choices=("table", "json"))
    p.add_argument("path")
    p = _verb(
        sub, "delete", "Delete the data at a path.", "dynsecrets delete aws-us-west-2/roles/ec2"
    )
    p.add_argument("path")

    lease = _verb(
        sub,
        "lease",
        "Look up, renew, revoke and list leases.",
        "dynsecrets lease revoke -prefix aws-us-west-2/creds/ec2",
    )
    lsub = lease.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    p = _verb(
        lsub, "lookup", "Show a lease.", "dynsecrets lease lookup aws-us-west-2/creds/ec2/AbC..."
    )
    _flag(p, "format", default="table", choices=("table", "json"))
    p.add_argument("lease_id")
    p = _verb(
        lsub,
        "renew",
        "Renew a lease.",
        "dynsecrets lease renew -increment=1h aws-us-west-2/creds/ec2/AbC...",
    )
    _flag(p, "increment")
    _flag(p, "format", default="table", choices=("table", "json"))
    p.add_argument("lease_id")
    p = _verb(
        lsub,
        "revoke",
        "Revoke a lease, or every lease under a prefix.",
        "dynsecrets lease revoke -prefix aws-us-west-2/creds/ec2",
    )
    p.add_argument(
        "-prefix", "--prefix", action="store_true", help="treat the argument as a prefix"
    )
    p.add_argument(
        "-force",
        "--force",
        action="store_true",
        help="drop the lease even if the cloud refuses (the identity may remain)",
    )
    p.add_argument("lease_id")
    p = _verb(lsub, "list", "List leases under a prefix.", "dynsecrets lease list aws-us-west-2/")
    _flag(p, "state", choices=("pending", "active", "revoking", "irrevocable"))
    _flag(p, "format", default="table", choices=("table", "json"))
    p.add_argument("prefix", nargs="?", default="")

    p = _verb(
        sub,
        "exec",
        "Run a command with fresh credentials in its environment; revoke them when it exits.",
        "dynsecrets exec -ttl=15m aws-us-west-2/creds/ec2 -- aws sts get-caller-identity",
    )
    _flag(p, "ttl")
    p.add_argument("path")
    p.add_argument("command", nargs=argparse.REMAINDER)

    p = _verb(
        sub,
        "worker",
        "Run the expiry worker in the foreground until SIGTERM or Ctrl-C.",
        "dynsecrets worker -concurrency=4",
    )
    _flag(p, "concurrency", type=int, default=4)
    _flag(p, "interval", type=float, default=1.0)

    p = _verb(
        sub,
        "tidy",
        "Find (and delete) cloud identities a mount created that no lease owns.",
        "dynsecrets tidy -dry-run aws-us-west-2",
    )
    p.add_argument("-dry-run", "--dry-run", dest="dry_run", action="store_true")
    p.add_argument("mount")
    p = _verb(
        sub,
        "rotate-root",
        "Replace a mount's root credential.",
        "dynsecrets rotate-root aws-us-west-2",
    )
    p.add_argument("mount")
    return parser


def _output_flags(p: argparse.ArgumentParser) -> None:
    _flag(p, "format", default="table", choices=("table", "json", "env"))
    _flag(p, "field", help="print only this field's value")


# -- key=value input ----------------------------------------------------------------------
def parse_data(items: Sequence[str], stdin: TextIO) -> dict[str, Any]:
    """``key=value`` pairs: ``@file`` reads a file, ``-`` reads stdin, a repeated key
    makes a list. Values stay strings; the schema coerces them."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"argument {item!r} is not key=value; write fields as key=value")
        if value == "-":
            value = stdin.read()
        elif value.startswith("@"):
            try:
                with open(value[1:], encoding="utf-8") as fh:
                    value = fh.read()
            except OSError as exc:
                raise UsageError(f"cannot read {value[1:]!r} for {key}: {exc.strerror}") from exc
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


# -- output ---------------------------------------------------------------------------------
def _lease_json(lease: Lease) -> dict[str, Any]:
    return {
        "lease_id": lease.lease_id,
        "lease_duration": lease.lease_duration,
        "renewable": lease.renewable,
        "data": dict(lease.data),
        "warnings": list(lease.warnings) or None,
    }


def _info_rows(info: LeaseInfo, now: float) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("id", info.lease_id),
        ("issue_time", _iso(info.issued_at)),
        ("expire_time", _iso(info.expires_at)),
        ("ttl", format_duration(info.ttl(now))),
        ("renewable", info.renewable),
        ("revocable", info.revocable),
        ("state", info.state),
    ]
    if info.attempts:
        rows += [("attempts", info.attempts), ("last_error", info.last_error)]
    return rows


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _env_lines(values: dict[str, Any]) -> str:
    return "\n".join(
        f"export {k}={shlex.quote(str(v))}" for k, v in values.items() if v is not None
    )


def _print_result(result: Any, args: argparse.Namespace, out: TextIO) -> None:
    fmt, field = getattr(args, "format", "table"), getattr(args, "field", None)
    if isinstance(result, Lease):
        if field:
            if field not in result.data and field not in (
                "lease_id",
                "lease_duration",
                "lease_renewable",
            ):
                raise ValidationError(
                    "field", f"no field {field!r}; the lease has {', '.join(result.data)}"
                )
            value = dict(lease_rows(result)).get(field)
            print(format_value(value), file=out)
        elif fmt == "json":
            print(json.dumps(_lease_json(result), indent=2), file=out)
        elif fmt == "env":
            print(_env_lines(result.environ()), file=out)
        else:
            print(format_table(lease_rows(result)), file=out)
        for warning in result.warnings:
            print(f"WARNING! {warning}", file=sys.stderr)
        return
    data = dict(result)
    if field:
        if field not in data:
            raise ValidationError("field", f"no field {field!r}; there are {', '.join(data)}")
        print(format_value(data[field]), file=out)
    elif fmt == "json":
        print(json.dumps({"data": data}, indent=2, default=str), file=out)
    elif fmt == "env":
        print(_env_lines({k.upper(): format_value(v) for k, v in data.items()}), file=out)
    else:
        print(format_table(sorted(data.items())), file=out)


def _keys(names: Sequence[str], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print(json.dumps(list(names), indent=2), file=out)
    else:
        print("\n".join(["Keys", "----", *names]), file=out)


# -- verbs ------------------------------------------------------------------------------------
def _open(args: argparse.Namespace) -> Any:
    from .engine import Engine

    return Engine.open(args.store)


def _secrets(args: argparse.Namespace, out: TextIO) -> int:
    if args.action is None:
        raise UsageError("name an action: enable, list, tune or disable")
    with _open(args) as engine:
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
            rows = [("Path", "Type", "Default TTL", "Max TTL", "Description")]
            rows += [
                (
                    f"{m.path}/",
                    m.provider,
                    format_duration(m.default_ttl),
                    format_duration(m.max_ttl),
                    m.description or "n/a",
                )
                for m in engine.mounts()
            ]
            widths = [max(len(r[i]) for r in rows) + 4 for i in range(5)]
            header, *body = rows
            for r in [header, tuple("-" * len(h) for h in header), *body]:
                print(
                    "".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)).rstrip(), file=out
                )
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


def _write(args: argparse.Namespace, out: TextIO) -> int:
    data = parse_data(args.data, sys.stdin)
    with _open(args) as engine:
        result = engine.write(args.path, **data)
        if result is None:
            print(f"Success! Data written to: {args.path}", file=out)
        else:
            _print_result(result, args, out)
    return 0


def _read(args: argparse.Namespace, out: TextIO) -> int:
    data = parse_data(args.data, sys.stdin)
    with _open(args) as engine:
        _print_result(engine.read(args.path, **data), args, out)
    return 0


def _list(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as engine:
        _keys(engine.list(args.path), args.format, out)
    return 0


def _delete(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as engine:
        engine.delete(args.path)
    print(f"Success! Data deleted (if it existed) at: {args.path}", file=out)
    return 0


def _progress_bar(stream: TextIO) -> Callable[[int, int], None]:
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done != total and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\rRevoking [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def _lease(args: argparse.Namespace, out: TextIO) -> int:
    if args.action is None:
        raise UsageError("name an action: lookup, renew, revoke or list")
    with _open(args) as engine:
        if args.action == "lookup":
            info = engine.lookup(args.lease_id)
            if args.format == "json":
                print(
                    json.dumps(dict(_info_rows(info, engine.clock.now())), indent=2, default=str),
                    file=out,
                )
            else:
                print(format_table(_info_rows(info, engine.clock.now())), file=out)
        elif args.action == "renew":
            info = engine.renew(args.lease_id, increment=args.increment)
            rows = [
                ("lease_id", info.lease_id),
                ("lease_duration", format_duration(info.ttl(engine.clock.now()))),
                ("lease_renewable", info.renewable),
            ]
            if args.format == "json":
                print(json.dumps(dict(rows), indent=2, default=str), file=out)
            else:
                print(format_table(rows), file=out)
        elif args.action == "revoke":
            if not args.prefix:
                engine.revoke(args.lease_id, force=args.force)
                print("All revocation operations queued successfully!", file=out)
                return 0
            tty = sys.stderr.isatty()
            summary = engine.revoke_prefix(
                args.lease_id, force=args.force, progress=_progress_bar(sys.stderr) if tty else None
            )
            print(f"Success! Revoked {summary.revoked} lease(s) under {args.lease_id}", file=out)
            if summary.failed:
                for lease_id, error in sorted(summary.failed.items()):
                    print(f"Error: {lease_id}: {error}", file=sys.stderr)
                print(
                    f"Error: {len(summary.failed)} lease(s) could not be revoked; they stay in the "
                    "store and the worker retries them",
                    file=sys.stderr,
                )
                return 1
        else:
            infos = engine.leases(args.prefix, state=args.state)
            if args.format == "json":
                print(
                    json.dumps(
                        [dict(_info_rows(i, engine.clock.now())) for i in infos],
                        indent=2,
                        default=str,
                    ),
                    file=out,
                )
            else:
                _keys(
                    [
                        f"{i.lease_id}  {i.state}  {format_duration(i.ttl(engine.clock.now()))}"
                        for i in infos
                    ],
                    "table",
                    out,
                )
    return 0


def _exec(args: argparse.Namespace, out: TextIO) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("name the command to run after --, e.g. -- aws s3 ls")
    parts = args.path.strip("/").split("/")
    if len(parts) != 3 or parts[1] not in ("creds", "sts"):
        raise UsageError(f"{args.path!r} is not <mount>/creds/<role>")
    with _open(args) as engine:
        lease = engine.mount(parts[0]).issue(parts[2], ttl=args.ttl)
        try:
            env = {**os.environ, **lease.environ()}
            try:
                child = subprocess.Popen(command, env=env)  # no shell: argv as given
            except OSError as exc:
                raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from exc

            def forward(signum: int, _frame: Any) -> None:
                child.send_signal(signum)

            # Ctrl-C reaches the child from the terminal; we wait for it to finish
            # and then revoke, rather than dying first and leaving the lease.
            old = {
                s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
            }
            try:
                code = child.wait()
            finally:
                for s, h in old.items():
                    signal.signal(s, h)
        finally:
            engine.revoke(lease.lease_id)
    return 128 - code if code < 0 else code


def _worker(args: argparse.Namespace, out: TextIO) -> int:
    import threading

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JSONFormatter())
    root = logging.getLogger("dynsecrets")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False  # JSON lines only, not also the plain root format
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("dynsecrets.cli").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)
    with _open(args) as engine:
        engine.subscribe(
            lambda e: logging.getLogger("dynsecrets.events").info(
                "%s %s",
                e.kind,
                e.lease_id,
                extra={"event": e.kind, "lease_id": e.lease_id, "error": e.error},
            )
        )
        engine.start_worker(concurrency=args.concurrency, interval=args.interval)
        logging.getLogger("dynsecrets.cli").info("worker running on %s", engine.store.url)
        stop.wait()
    logging.getLogger("dynsecrets.cli").info("worker stopped")
    return 0


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event", "lease_id", "error"):
            if getattr(record, key, None) is not None:
                entry[key] = getattr(record, key)
        return json.dumps(entry)


def _tidy(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as engine:
        report = engine.mount(args.mount).tidy(dry_run=args.dry_run)
    verb = "would delete" if report.dry_run else "deleted"
    print(
        f"Scanned {report.scanned} identit{'y' if report.scanned == 1 else 'ies'} made by {args.mount}/; "
        f"{len(report.orphans)} without a lease.",
        file=out,
    )
    for orphan in report.orphans:
        done = report.dry_run or orphan.id in report.deleted
        print(
            f"  {verb if done else 'FAILED to delete'} {orphan.id} (lease {orphan.lease_id or '<none>'})",
            file=out,
        )
    for ident, error in report.errors.items():
        print(f"Error: {ident}: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def _rotate_root(args: argparse.Namespace, out: TextIO) -> int:
    with _open(args) as engine:
        new = engine.mount(args.mount).rotate_root()
    print(f"Success! Rotated the root credential of {args.mount.strip('/')}/", file=out)
    if new:
        print(format_table(sorted(new.items())), file=out)
    return 0


VERBS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "secrets": _secrets,
    "write": _write,
    "read": _read,
    "list": _list,
    "delete": _delete,
    "lease": _lease,
    "exec": _exec,
    "worker": _worker,
    "tidy": _tidy,
    "rotate-root": _rotate_root,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or "-debug" in argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.verb is None:
            parser.print_help(out)
            return 2
        return VERBS[args.verb](args, out)
    except UsageError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except DynSecretsError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"Error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ValidationError, PathNotFound)) else 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
