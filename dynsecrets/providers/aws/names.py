"""Names of the identities dynsecrets creates: unique, within AWS's limits, never
truncated down to a handful of random characters (Vault's collisions)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

DEFAULT_TEMPLATE = "dynsecrets-{role}-{unix_time}-{random}"
#: Federation token names have 32 characters: with the default template the prefix,
#: the timestamp and the random part would leave one character of the role. While
#: the template is the default, federation names drop the timestamp instead.
FEDERATION_DEFAULT_TEMPLATE = "dynsecrets-{role}-{random}"
PLACEHOLDERS = ("role", "mount", "unix_time", "random")
#: IAM user names, role session names and federation names share this alphabet.
NAME_CHARS = re.compile(r"[A-Za-z0-9+=,.@_-]")
NAME = re.compile(r"[A-Za-z0-9+=,.@_-]+")
USER_NAME_MAX = 64
SESSION_NAME_MAX = 64
FEDERATION_NAME_MAX = 32
RANDOM_LEN = 12
RANDOM_MIN = 8
# IAM names are case-insensitive: lowercase random keeps the counted entropy honest.
_ALPHABET = string.ascii_lowercase + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _clean(text: str) -> str:
    return "".join(c if NAME_CHARS.fullmatch(c) else "-" for c in text)


#: (placeholder, shortest it may become), in the order render cuts them.
ROLE_FIRST = (("role", 0), ("mount", 0), ("random", RANDOM_MIN))
#: For short names: the role is what an operator reads in CloudTrail, so randomness
#: gives way to it first (never below RANDOM_MIN characters).
RANDOM_FIRST = (("random", RANDOM_MIN), ("mount", 0), ("role", 0))


def render(
    template: str,
    *,
    role: str,
    mount: str,
    unix_time: int,
    limit: int,
    random: str | None = None,
    cuts: tuple[tuple[str, int], ...] = ROLE_FIRST,
) -> str:
    """Render ``template`` within ``limit`` characters.

    Placeholders are shortened in the order ``cuts`` gives (by default the role,
    then the mount, then the random part down to 8 characters). Raises
    ValueError if the template cannot fit.
    """
    rnd = random or _random(RANDOM_LEN)
    parts: dict[str, Any] = {
        "role": _clean(role),
        "mount": _clean(mount),
        "unix_time": str(unix_time),
        "random": rnd,
    }
    name = _clean(template.format(**parts))
    for key, floor in cuts:
        excess = len(name) - limit
        if excess <= 0:
            break
        value = parts[key]
        parts[key] = value[: max(floor, len(value) - excess)]
        name = _clean(template.format(**parts))
    if len(name) > limit:
        raise ValueError(
            f"renders to {len(name)} characters even with the role and mount cut away and "
            f"{RANDOM_MIN} random characters; AWS allows {limit}"
        )
    return name


def check_template(template: str) -> str:
    """Validate a ``username_template`` at configure time."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(
            f"is not a valid template ({exc}); use placeholders such as {{role}}"
        ) from exc
    unknown = fields - set(PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )
    if "random" not in fields:
        raise ValueError("must contain {random}, or names issued in the same second collide")
    static = string.Formatter().parse(template)
    for literal, *_ in static:
        bad = [c for c in literal if not NAME_CHARS.fullmatch(c)]
        if bad:
            raise ValueError(
                f"contains {bad[0]!r}; IAM names allow only letters, digits and +=,.@_-"
            )
    render(template, role="r" * 64, mount="m" * 64, unix_time=2**31, limit=USER_NAME_MAX)
    return template


def federation_template(template: str) -> str:
    """The template federation token names are rendered from."""
    return FEDERATION_DEFAULT_TEMPLATE if template == DEFAULT_TEMPLATE else template


def render_federation_name(template: str, *, role: str, mount: str, unix_time: int) -> str:
    return render(
        federation_template(template),
        role=role,
        mount=mount,
        unix_time=unix_time,
        limit=FEDERATION_NAME_MAX,
        cuts=RANDOM_FIRST,
    )


def federation_problem(template: str) -> str | None:
    """Why ``template`` cannot name a federation token (32 characters), or None."""
    try:
        render_federation_name(template, role="r", mount="m", unix_time=2**31)
    except ValueError as exc:
        return str(exc)
    return None


def static_prefix(template: str) -> str:
    """The literal text before the first placeholder: used to find our users for tidy."""
    first = next(iter(string.Formatter().parse(template)), None)
    return first[0] if first else ""


#: IAM tag values: [\p{L}\p{Z}\p{N}_.:/=+\-@], at most 256 characters.
TAG_VALUE_MAX = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
#: STS SourceIdentity: 2-64 of [\w+=,.@-] (ASCII, as in AWS's Java pattern).
SOURCE_IDENTITY_MAX = 64


def actor_tag(actor: str) -> str:
    """``actor`` as an IAM tag value: each other character becomes ``_``, cut to 256."""
    import unicodedata

    return "".join(
        c if c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LZN" else "_"
        for c in actor[:TAG_VALUE_MAX]
    )


def source_identity(actor: str) -> str | None:
    """``actor`` as an STS SourceIdentity: accents dropped (NFKD), each other character
    outside [A-Za-z0-9_+=,.@-] made ``_``, cut to 64; None when fewer than 2 remain
    (AWS refuses those, and a lone ``_`` would name nobody)."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", actor) if not unicodedata.combining(c))
    value = "".join(c if NAME_CHARS.fullmatch(c) else "_" for c in plain)[:SOURCE_IDENTITY_MAX]
    if len(value) < 2 or not value.strip("_"):
        return None
    return value
