"""``main``: parse, run one verb, turn every error into one line and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from dynsecrets.errors import DynSecretsError, PathNotFound, ValidationError

from .data import check_text_argv
from .logs import warning_lines
from .messages import CommandFailed, UsageError, error_line
from .parser import build_parser, verb_of

__all__ = ["main"]

# Each verb's module is imported when that verb runs: a one-shot command such as
# `exec` (a wrapper around every command a user runs) pays only for itself.
VERBS: dict[str, tuple[str, str]] = {
    "secrets": ("verbs_secrets", "secrets"),
    "write": ("verbs_paths", "write"),
    "read": ("verbs_paths", "read"),
    "list": ("verbs_paths", "list_"),
    "delete": ("verbs_paths", "delete"),
    "path-help": ("verbs_help", "path_help"),
    "lease": ("verbs_lease", "lease"),
    "exec": ("verbs_exec", "exec_"),
    "worker": ("verbs_worker", "worker"),
    "tidy": ("verbs_admin", "tidy"),
    "rotate-root": ("verbs_admin", "rotate_root"),
    "rotate": ("verbs_admin", "rotate"),
    "version": ("verbs_help", "version"),
    "serve": ("verbs_server", "serve"),
    "token": ("verbs_server", "token"),
    "policy": ("verbs_server", "policy"),
}


def _verb(name: str) -> Callable[[argparse.Namespace, TextIO], int]:
    import importlib

    module, func = VERBS[name]
    verb: Callable[[argparse.Namespace, TextIO], int] = getattr(
        importlib.import_module(f".{module}", __package__), func
    )
    return verb


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or "-debug" in argv
    with warning_lines(debug=debug) as warnings:
        code = _run(argv, out, debug)
        warnings.finish(succeeded=code == 0)
    return code


def _run(argv: list[str], out: TextIO, debug: bool) -> int:
    try:
        check_text_argv(argv)
        parser, args, extra = _parse(argv)
        if extra:  # named with the verb's own help, not the top-level one
            verb = " ".join(v for v in (args.verb, getattr(args, "action", None)) if v)
            where = f" for '{verb}'" if verb else ""
            command = " ".join(("dynsecrets", verb)) if verb else "dynsecrets"
            raise UsageError(f"unknown argument {extra[0]!r}{where}; see '{command} --help'")
        if args.version:
            return _verb("version")(args, out)
        if args.verb is None:
            parser.print_help(out)
            return 2
        return _verb(args.verb)(args, out)
    except UsageError as exc:
        return _fail(exc, 2, debug)
    except CommandFailed as exc:
        return _fail(exc, 1, debug)
    except DynSecretsError as exc:
        return _fail(exc, 2 if isinstance(exc, (ValidationError, PathNotFound)) else 1, debug)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug, not a user's mistake. Only the type is shown: the text of an
        # exception nobody mapped could hold anything, a secret included.
        message = (
            f"unexpected {type(exc).__name__} inside dynsecrets; rerun with --debug for the "
            "traceback, and please report it"
        )
        return _fail(CommandFailed(message), 1, debug)


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace, list[str]]:
    verb = verb_of(argv)
    if verb is not None:
        try:
            parser = build_parser(verb)  # that verb's parser alone: see build_parser
            return (parser, *parser.parse_known_args(argv))
        except UsageError:
            pass  # the whole parser says what is wrong, in its own words
    parser = build_parser()
    return (parser, *parser.parse_known_args(argv))


def _fail(exc: BaseException, code: int, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    print(f"Error: {error_line(str(exc))}", file=sys.stderr)
    return code
