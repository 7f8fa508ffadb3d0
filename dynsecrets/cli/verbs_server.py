"""``serve``, ``token create|lookup|revoke`` and ``policy write|read|list|delete``.

``serve`` is the only verb that needs the ``server`` extra; tokens and policies are
managed on the store directly, so an operator can revoke a token with the server
down. A new token is printed once; only its keyed hash is stored.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, TextIO

from dynsecrets.output import format_table
from dynsecrets.ttl import format_duration

from .messages import CommandFailed, UsageError, shorten
from .parser import _flag, _Parser, _switch, _verb
from .paths import open_engine
from .render import iso, print_json

__all__ = ["policy", "policy_parser", "serve", "serve_parser", "token", "token_parser"]


def serve_parser(sub: Any) -> None:
    p = _verb(
        sub,
        "serve",
        "Serve Vault's HTTP API (for the bao/vault CLI, hvac, Terraform) until SIGTERM.",
        "dynsecrets serve -address=127.0.0.1:8200",
    )
    _flag(p, "address", default="127.0.0.1:8200", help="HOST:PORT to listen on (port 0: any)")
    _flag(p, "tls-cert", help="PEM certificate; needed for a non-loopback address")
    _flag(p, "tls-key", help="PEM private key for -tls-cert")
    _switch(p, "no-worker", help="do not run the expiry worker in this process")
    _flag(p, "concurrency", default="16", help="worker revocations at once per mount")
    _flag(p, "max-request-size", default=str(1 << 20), help="largest request body, in bytes")
    _flag(p, "audit-file", help="append the engine's audit records (JSON lines) here")
    _flag(p, "request-timeout", default="60", help="seconds for each cloud operation")


def token_parser(sub: Any) -> None:
    token = _verb(
        sub,
        "token",
        "Create, look up and revoke server tokens.",
        "dynsecrets token create -policy=ec2",
    )
    tsub = token.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    p = _verb(
        tsub,
        "create",
        "Create a token; it is shown once.",
        "dynsecrets token create -policy=ec2 -ttl=24h",
    )
    _flag(p, "policy", action="append", default=[], help="a policy name (repeat for more)")
    _flag(p, "ttl", help="lifetime, e.g. 24h (default 768h)")
    _flag(p, "display-name", default="")
    _switch(p, "orphan", help="no parent, and its leases are not revoked with it")
    _flag(p, "format", default="table", choices=("table", "json"))
    for action, text in (
        ("lookup", "Show a token (never its value)."),
        ("revoke", "Revoke a token, its child tokens and its leases."),
    ):
        p = _verb(tsub, action, text, f"dynsecrets token {action} -accessor ACCESSOR")
        _switch(p, "accessor", help="the argument is the token's accessor")
        if action == "lookup":
            _flag(p, "format", default="table", choices=("table", "json"))
        p.add_argument(
            "value", nargs="?", help="the token (or - to read it from stdin), or -accessor"
        )


def policy_parser(sub: Any) -> None:
    policy = _verb(
        sub,
        "policy",
        "Write, read, list and delete policies (Vault's HCL).",
        "dynsecrets policy write ec2 ec2.hcl",
    )
    psub = policy.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    p = _verb(
        psub,
        "write",
        "Write a policy from a file (- for stdin).",
        "dynsecrets policy write ec2 ec2.hcl",
    )
    p.add_argument("name")
    p.add_argument("file")
    for action in ("read", "delete"):
        p = _verb(
            psub, action, f"{action.capitalize()} a policy.", f"dynsecrets policy {action} ec2"
        )
        p.add_argument("name")
    _verb(psub, "list", "List policies.", "dynsecrets policy list")


# -- serve -----------------------------------------------------------------------------------
def _address(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[?([^\[\]]+?)\]?:(\d{1,5})", text.strip())
    if not match:
        raise UsageError(f"-address: expected HOST:PORT, got {shorten(text)!r}")
    return match.group(1), int(match.group(2))


def _positive(flag: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,10}", text.strip()) or int(text) < 1:
        raise UsageError(f"-{flag}: must be a whole number of at least 1, got {shorten(text)!r}")
    return int(text)


def serve(args: argparse.Namespace, out: TextIO) -> int:
    from dynsecrets.server.serve import ServeOptions, run

    from .logs import json_lines

    host, port = _address(args.address)
    options = ServeOptions(
        host=host,
        port=port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        worker=not args.no_worker,
        worker_concurrency=_positive("concurrency", args.concurrency),
        max_request_size=_positive("max-request-size", args.max_request_size),
    )
    engine_options: dict[str, Any] = {
        "operation_timeout": _positive("request-timeout", args.request_timeout)
    }
    if args.audit_file:
        engine_options["audit"] = args.audit_file
    json_lines()
    with open_engine(args, **engine_options) as engine:
        run(engine, options)
    return 0


# -- token ----------------------------------------------------------------------------------
def _token_value(args: argparse.Namespace) -> str:
    if not args.value:
        raise UsageError("name the token, or its accessor with -accessor")
    if args.value == "-":  # keeps the token out of the process list and shell history
        return sys.stdin.readline().strip()
    return str(args.value)


def token(args: argparse.Namespace, out: TextIO) -> int:
    from dynsecrets.server.tokens import TokenNotFound, Tokens

    if args.action is None:
        raise UsageError("name an action: create, lookup or revoke")
    with open_engine(args) as engine:
        tokens = Tokens(engine)
        if args.action == "create":
            if not args.policy:
                raise UsageError("name at least one policy: -policy=NAME")
            new = tokens.create(
                args.policy, ttl=args.ttl, display_name=args.display_name, orphan=args.orphan
            )
            rec = new.record
            if args.format == "json":
                auth = {
                    "client_token": new.token,
                    "accessor": rec.accessor,
                    "policies": list(rec.policies),
                    "lease_duration": rec.ttl,
                    "renewable": False,
                    "orphan": rec.orphan,
                }
                print_json({"auth": auth}, out)
            else:
                rows = [
                    ("token", new.token),
                    ("token_accessor", rec.accessor),
                    ("token_duration", format_duration(rec.ttl)),
                    ("token_renewable", False),
                    ("token_policies", list(rec.policies)),
                    ("orphan", rec.orphan),
                ]
                print(format_table(rows), file=out)
            return 0
        value = _token_value(args)
        if args.accessor:
            accessor = value
        else:
            rec_or_none = tokens.lookup(value)
            if rec_or_none is None:
                if args.action == "revoke":  # as Vault: revoking what is gone succeeds
                    print("Success! Revoked token (if it existed)", file=out)
                    return 0
                raise CommandFailed("no live token with that value")
            accessor = rec_or_none.accessor
        if args.action == "revoke":
            try:
                revoked = tokens.revoke(accessor)
            except TokenNotFound:
                revoked = 0
            print(f"Success! Revoked token (if it existed) and {revoked} lease(s)", file=out)
            return 0
        rec = tokens.by_accessor(accessor)
        now = engine.clock.now()
        data = {
            "accessor": rec.accessor,
            "display_name": rec.display_name,
            "expire_time": iso(rec.expires_at),
            "issue_time": iso(rec.created_at),
            "orphan": rec.orphan,
            "parent": rec.parent,
            "policies": list(rec.policies),
            "ttl": max(0, int(rec.expires_at - now)),
            "leases": len(engine.store.leases_of_token(rec.accessor)),
        }
        if args.format == "json":
            print_json({"data": data}, out)
        else:
            shown = {**data, "ttl": format_duration(max(0, int(rec.expires_at - now)))}
            print(format_table(list(shown.items())), file=out)
    return 0


# -- policy -----------------------------------------------------------------------------------
def _read_file(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        with open(name, encoding="utf-8") as fh:
            return fh.read(1 << 20)
    except OSError as exc:
        raise UsageError(f"cannot read {shorten(name)!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{shorten(name)!r} is not UTF-8 text") from exc


def policy(args: argparse.Namespace, out: TextIO) -> int:
    from dynsecrets.server.auth import Policies
    from dynsecrets.server.tokens import Tokens

    if args.action is None:
        raise UsageError("name an action: write, read, list or delete")
    with open_engine(args) as engine:
        policies = Policies(Tokens(engine))
        if args.action == "write":
            policies.write(args.name, _read_file(args.file))
            print(f"Success! Uploaded policy: {args.name}", file=out)
        elif args.action == "read":
            text = policies.read(args.name)
            if text is None:
                raise CommandFailed(f"no policy named {args.name!r}")
            print(text.rstrip("\n"), file=out)
        elif args.action == "delete":
            policies.delete(args.name)
            print(f"Success! Deleted policy: {args.name}", file=out)
        else:
            print("\n".join(policies.names()), file=out)
    return 0
