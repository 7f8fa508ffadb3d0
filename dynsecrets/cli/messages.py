"""Error lines and exit codes: one short line, in the CLI's own words."""

from __future__ import annotations

import re

__all__ = ["MAX_ECHO", "CommandFailed", "UsageError", "error_line", "printable", "shorten"]

#: The longest stretch of a user's value an error line repeats back.
MAX_ECHO = 200
#: The longest error line; a last resort for messages that echo without quoting.
_MAX_LINE = 400


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class CommandFailed(Exception):
    """The command ran and did not succeed: exit code 1."""


def shorten(value: str, limit: int = MAX_ECHO) -> str:
    """``value`` cut to ``limit`` characters, saying how long it was."""
    if len(value) <= limit:
        return value
    return f"{value[: limit - 30]}...({len(value)} characters)"


def printable(text: str) -> str:
    """``text`` safe to print: bytes that were not UTF-8 (which Python turns into lone
    surrogates) shown as ``\\xff``, as the user would write them."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte decodes to: escape it as it is
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


_LONG_QUOTED = re.compile(rf"'([^']{{{MAX_ECHO + 1},}})'|\"([^\"]{{{MAX_ECHO + 1},}})\"")
_LONG_WORD = re.compile(rf"\S{{{MAX_ECHO + 1},}}")

# The library speaks Python; the CLI user types flags. (library phrase, CLI phrase)
_CLI_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"revoke_prefix\('([^']*)'\)"), r"dynsecrets lease revoke -prefix \1"),
    (re.compile(r"\bpass revoke=True"), "use -revoke"),
    (re.compile(r"\brevoke=True"), "-revoke"),
    (re.compile(r"\bwith force=True"), "with 'dynsecrets lease revoke -force'"),
    (re.compile(r"\bforce=True"), "-force"),
    (re.compile(r"\bdry_run=False"), "-apply"),
    (
        re.compile(r"see the paths listed in engine\.read's docs"),
        "run 'dynsecrets path-help <mount>' for its paths",
    ),
)


def error_line(message: str) -> str:
    """``message`` as one printable line: CLI wording, long values cut short.

    Undecodable argument bytes arrive as lone surrogates; they are shown as
    ``\\xff`` escapes so that printing can never fail.
    """
    text = " ".join(printable(message).split())
    for pattern, replacement in _CLI_WORDS:
        text = pattern.sub(replacement, text)
    text = _LONG_QUOTED.sub(_cut_quoted, text)
    text = _LONG_WORD.sub(lambda m: shorten(m.group()), text)
    return shorten(text, _MAX_LINE)


def _cut_quoted(match: re.Match[str]) -> str:
    quote = match.group()[0]
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    return f"{quote}{shorten(inner)}{quote}"
