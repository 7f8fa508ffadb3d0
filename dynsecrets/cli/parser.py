"""The argument parser: Vault's verbs and flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .messages import UsageError

__all__ = ["PROG", "build_parser", "verb_of"]

PROG = "dynsecrets"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see '{self.prog} --help'")

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        # argparse matches single-dash flags by prefix even with allow_abbrev=False,
        # so "-f" was "ambiguous" on write (-format/-field) and "-p" silently meant
        # "-prefix". Vault's Go flags never abbreviate; neither do we.
        return []


def _flag(parser: argparse.ArgumentParser, name: str, *aliases: str, **kwargs: Any) -> None:
    """Accept ``-name=value``, ``-name value``, ``--name value`` and ``--name=value``."""
    parser.add_argument(f"-{name}", f"--{name}", *aliases, dest=name.replace("-", "_"), **kwargs)


def _switch(parser: argparse.ArgumentParser, name: str, *aliases: str, help: str) -> None:
    _flag(parser, name, *aliases, action="store_true", help=help)


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


def _output_flags(p: argparse.ArgumentParser, *, env: bool = True) -> None:
    choices = ("table", "json", "env") if env else ("table", "json")
    _flag(p, "format", default="table", choices=choices)
    if env:
        _flag(p, "field", help="print only this field's value")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Vault's verbs and flags. With ``verb``, only that verb's parser is added:
    argparse makes a help formatter for every argument it adds, and building all the
    verbs cost a one-shot command such as ``exec`` ~30M instructions (5-10 ms here)
    that it never used."""
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
    _flag(
        parser,
        "actor",
        help="who the credentials are for, tagged on what the cloud creates "
        "(default: $DYNSECRETS_ACTOR or your user name)",
    )
    _switch(parser, "debug", help="print tracebacks")
    _switch(parser, "version", help="print the version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name, add in _VERBS.items():
        if verb is None or name == verb:
            add(sub)
    return parser


# The top-level flags that take the next argument as their value.
_VALUED = frozenset({"-store", "--store", "-actor", "--actor"})


def verb_of(argv: Sequence[str]) -> str | None:
    """The verb ``argv`` runs, or None when it asks for the top-level help or names
    no verb (the whole parser then answers)."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUED:
            next(args, None)
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg if arg in _VERBS else None
    return None


def _secrets(sub: Any) -> None:
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
    _switch(p, "revoke", help="revoke its leases first")
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


def _write(sub: Any) -> None:
    p = _verb(
        sub,
        "write",
        "Write data to a path (config, roles) or request credentials.",
        "dynsecrets write aws-us-west-2/roles/ec2 credential_type=iam_user policy_document=@ec2.json",
    )
    _output_flags(p)
    _switch(p, "force", "-f", help="write even with no data (e.g. config/rotate-root)")
    p.add_argument("path")
    p.add_argument(
        "data",
        nargs="*",
        metavar="key=value",
        help="@file reads a file, - reads stdin; map fields also take k=v (iam_tags=team=dev)",
    )


def _read(sub: Any) -> None:
    p = _verb(
        sub,
        "read",
        "Read a path; reading <mount>/creds/<role> issues credentials.",
        "dynsecrets read aws-us-west-2/creds/ec2",
    )
    _output_flags(p)
    p.add_argument("path")
    p.add_argument("data", nargs="*", metavar="key=value", help="request options, such as ttl=15m")


def _list(sub: Any) -> None:
    p = _verb(sub, "list", "List the names under a path.", "dynsecrets list aws-us-west-2/roles")
    _output_flags(p, env=False)
    p.add_argument("path")


def _delete(sub: Any) -> None:
    p = _verb(
        sub, "delete", "Delete the data at a path.", "dynsecrets delete aws-us-west-2/roles/ec2"
    )
    p.add_argument("path")


def _path_help(sub: Any) -> None:
    p = _verb(
        sub,
        "path-help",
        "Describe a mount's paths, or the fields a path takes (types, rules, defaults).",
        "dynsecrets path-help aws-us-west-2/roles/ec2",
    )
    p.add_argument("path", help="MOUNT or MOUNT/path")


def _lease(sub: Any) -> None:
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
    _output_flags(p, env=False)
    p.add_argument("lease_id")
    p = _verb(
        lsub,
        "renew",
        "Renew a lease.",
        "dynsecrets lease renew -increment=1h aws-us-west-2/creds/ec2/AbC...",
    )
    _flag(p, "increment")
    _output_flags(p, env=False)
    p.add_argument("lease_id")
    p = _verb(
        lsub,
        "revoke",
        "Revoke a lease, or every lease under a prefix. A lease that is gone is not an error.",
        "dynsecrets lease revoke -prefix aws-us-west-2/creds/ec2",
    )
    _switch(p, "prefix", help="treat the argument as a prefix")
    _switch(
        p, "force", "-f", help="drop the lease even if the cloud refuses (the identity may remain)"
    )
    p.add_argument("lease_id")
    p = _verb(lsub, "list", "List leases under a prefix.", "dynsecrets lease list aws-us-west-2/")
    _flag(p, "state", choices=("pending", "active", "revoking", "irrevocable"))
    _output_flags(p, env=False)
    p.add_argument("prefix", nargs="?", default="")


def _exec(sub: Any) -> None:
    p = _verb(
        sub,
        "exec",
        "Run a command with fresh credentials in its environment; revoke them when it exits.",
        "dynsecrets exec -ttl=15m aws-us-west-2/creds/ec2 -- aws sts get-caller-identity",
    )
    _flag(p, "ttl")
    p.add_argument("path")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _worker(sub: Any) -> None:
    p = _verb(
        sub,
        "worker",
        "Run the expiry worker in the foreground until SIGTERM or Ctrl-C (or one pass: -once).",
        "dynsecrets worker -concurrency=4 -claim-ttl=30s",
    )
    _flag(
        p,
        "concurrency",
        default="16",
        help="revocations at once per mount, at most (default 16; the adaptive limit decides)",
    )
    _flag(p, "interval", default="1", help="seconds between passes (default 1)")
    _flag(p, "claim-ttl", help="how long a claim on a due lease lasts unless renewed, e.g. 30s")
    _switch(p, "once", help="one pass, print a JSON summary, exit (for cron and CI)")


def _tidy(sub: Any) -> None:
    p = _verb(
        sub,
        "tidy",
        "List cloud identities a mount created that no lease owns; delete them with -apply.",
        "dynsecrets tidy -apply aws-us-west-2",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "-apply", "--apply", action="store_true", help="delete them (default: a dry run)"
    )
    mode.add_argument(
        "-dry-run", "--dry-run", dest="dry_run", action="store_true", help="the default"
    )
    p.add_argument("mount")


def _rotate_root(sub: Any) -> None:
    p = _verb(
        sub,
        "rotate-root",
        "Replace a mount's root credential.",
        "dynsecrets rotate-root aws-us-west-2",
    )
    p.add_argument("mount")


def _rotate(sub: Any) -> None:
    p = _verb(
        sub,
        "rotate",
        "Rotate a static role's secret now (MOUNT/static-roles/NAME), or a mount's root "
        "credential (MOUNT).",
        "dynsecrets rotate aws-us-west-2/static-roles/app",
    )
    p.add_argument("path")


def _server(verb: str) -> Callable[[Any], None]:
    def add(sub: Any) -> None:
        from . import verbs_server  # serve, token, policy: their module only when named

        getattr(verbs_server, f"{verb}_parser")(sub)

    return add


def _version(sub: Any) -> None:
    _verb(sub, "version", "Print the version.", "dynsecrets version")


# In the order `dynsecrets --help` lists them.
_VERBS: dict[str, Callable[[Any], None]] = {
    "secrets": _secrets,
    "write": _write,
    "read": _read,
    "list": _list,
    "delete": _delete,
    "path-help": _path_help,
    "lease": _lease,
    "exec": _exec,
    "worker": _worker,
    "tidy": _tidy,
    "rotate-root": _rotate_root,
    "rotate": _rotate,
    "serve": _server("serve"),
    "token": _server("token"),
    "policy": _server("policy"),
    "version": _version,
}
