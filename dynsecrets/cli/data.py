"""``key=value`` arguments: ``@file`` and ``-`` values, lists, ``k=v`` maps, and the
check that every argument is UTF-8 text before it reaches the library."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from .messages import MAX_ECHO, UsageError, printable, shorten

if TYPE_CHECKING:
    from dynsecrets.schema import Field

__all__ = ["check_text_argv", "coerce_maps", "parse_data"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def _printable(text: str) -> str:
    return shorten(printable(text), MAX_ECHO)


def check_text_argv(argv: Sequence[str]) -> None:
    """Refuse arguments that are not UTF-8.

    Python decodes argv bytes that are not UTF-8 into lone surrogates, which
    nothing downstream can store, sign or print. They stop here, with a message
    that names the argument but never repeats a ``key=value`` value (it may be a
    secret). What follows ``exec``'s ``--`` is the child's and passes untouched.
    """
    for item in _own_arguments(argv):
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{_describe(item)} is not valid UTF-8; arguments must be text")


def _own_arguments(argv: Sequence[str]) -> Sequence[str]:
    if "exec" in argv and "--" in argv[argv.index("exec") :]:
        return argv[: argv.index("--", argv.index("exec"))]
    return argv


def _describe(item: str) -> str:
    name, sep, _ = item.partition("=")
    if sep and item.startswith("-") and _KEY.fullmatch(name.lstrip("-")):
        return f"the value of {name}"
    if sep and _KEY.fullmatch(name):
        return f"the value of {name}"
    return f"argument '{_printable(item)}'"


def parse_data(items: Sequence[str], stdin: BinaryIO | None) -> dict[str, Any]:
    """``key=value`` pairs: ``@file`` reads a file, ``-`` reads stdin, a repeated key
    makes a list. Values stay strings; the schema coerces them."""
    out: dict[str, Any] = {}
    stdin_used_by: str | None = None
    for item in items:
        key, sep, value = item.partition("=")
        if sep and not key:  # "=value": the value may be a secret pasted without its key
            raise UsageError("an argument starts with '='; write fields as key=value")
        if not sep:
            raise UsageError(
                f"argument '{_printable(item)}' is not key=value; write fields as key=value"
            )
        if value == "-":
            if stdin_used_by is not None:
                raise UsageError(
                    f"{key}: standard input was already read for {stdin_used_by}; "
                    "use key=@file for the others"
                )
            stdin_used_by = key
            value = _decode(key, stdin.read() if stdin is not None else b"", "standard input")
        elif value.startswith("@"):
            path = value[1:]
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise UsageError(
                    f"cannot read '{_printable(path)}' for {key}: {exc.strerror}"
                ) from exc
            value = _decode(key, raw, f"file '{_printable(path)}'")
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out


def _decode(key: str, raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The bytes themselves are not shown: they may be a secret.
        raise UsageError(
            f"{key}: {source} is not UTF-8 text (at byte {exc.start}); values must be text"
        ) from exc


def coerce_maps(data: Mapping[str, Any], fields: Mapping[str, Field]) -> dict[str, Any]:
    """Vault's ``k=v`` form for map fields: ``iam_tags=team=dev`` (repeatable, or
    comma-separated) becomes ``{"team": "dev"}``. JSON objects pass through for the
    schema to read; other fields are left alone."""
    out = dict(data)
    for key, value in data.items():
        field = fields.get(key)
        if field is None or field.kind != "map":
            continue
        items = value if isinstance(value, list) else [value]
        if len(items) == 1 and items[0].lstrip().startswith("{"):
            continue
        pairs: dict[str, str] = {}
        for item in items:
            for piece in (p.strip() for p in item.split(",")):
                if not piece:
                    continue
                k, sep, v = piece.partition("=")
                if not sep or not k:
                    shown = "a value" if field.secret else f"'{_printable(piece)}'"
                    raise UsageError(
                        f"{key}: {shown} is not k=v; write {key}=team=dev "
                        f'(repeatable) or {key}=\'{{"team": "dev"}}\''
                    )
                pairs[k] = v
        out[key] = pairs
    return out
