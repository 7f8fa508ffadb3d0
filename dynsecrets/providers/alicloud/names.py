"""Names of what dynsecrets creates in RAM and STS: unique, within Alibaba's limits,
checked before any call."""

from __future__ import annotations

import os
import re
import string

from ...errors import ValidationError
from .actor import session_part

#: RAM user names: 1-64 of letters, digits and . _ @ -
USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
#: RAM policy names: 1-128 of letters, digits and - (no dot, no underscore).
POLICY_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")
#: STS RoleSessionName: 2-64 ASCII letters, digits and . _ @ -
SESSION_NAME = re.compile(r"[A-Za-z0-9_.@-]{2,64}")
PREFIX = "dynsecrets-"
RANDOM_LEN = 12
# RAM names are case-insensitive: lowercase random keeps the counted entropy honest
# (12 characters of 36: 62 bits, so names made in the same second never collide).
_ALPHABET = string.ascii_lowercase + string.digits
# A random byte under 252 (7 * 36) picks a character uniformly; the rest are dropped.
_PICK = bytes(_ALPHABET[b % 36].encode()[0] for b in range(256))
_DROP = bytes(range(252, 256))


def _random() -> str:
    """12 uniformly random characters, from one ``urandom`` call mapped in C
    (``secrets.choice`` per character was 12 calls, a measurable part of an issue)."""
    out = b""
    while len(out) < RANDOM_LEN:  # 16 bytes keep fewer than 12 once in ~280,000
        out += os.urandom(16).translate(_PICK, _DROP)
    return out[:RANDOM_LEN].decode()


_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9._@-]")  # what user and session names share


def _clean(text: str) -> str:
    return _NOT_NAME_CHAR.sub("-", text)


def user_name(role: str) -> str:
    """``dynsecrets-<role, cut to fit>-<12 random>``, at most 64 characters."""
    room = 64 - len(PREFIX) - 1 - RANDOM_LEN
    name = f"{PREFIX}{_clean(role)[:room]}-{_random()}"
    return check(name, USER_NAME, "user name", "1-64 letters, digits and . _ @ -")


def session_name(role: str, actor: str = "") -> str:
    """``dynsecrets-<role>-<12 random>``, or with an actor
    ``dynsecrets-<role>-<12 random>-<actor>``: the actor gets at least 23 of the 64
    characters (the role name is cut first), so ActionTrail shows who asked. STS
    leases are neither revoked nor tidied by name, so nothing parses it."""
    room = 64 - len(PREFIX) - 1 - RANDOM_LEN
    role_part, who = _clean(role), session_part(actor)
    if who:
        room -= 1  # the "-" before the actor
        who = who[: max(23, room - len(role_part))]
        role_part = role_part[: room - len(who)]
        name = f"{PREFIX}{role_part}-{_random()}-{who}"
    else:
        name = f"{PREFIX}{role_part[:room]}-{_random()}"
    return check(name, SESSION_NAME, "role session name", "2-64 letters, digits and . _ @ -")


def policy_names(user: str, count: int) -> list[str]:
    """One Custom policy name per inline policy: the user's name (dots and underscores,
    which policy names may not hold, become hyphens) and the policy's index."""
    names = [f"{policy_prefix(user)}{i}" for i in range(count)]
    for name in names:
        check(name, POLICY_NAME, "policy name", "1-128 letters, digits and -")
    return names


def policy_prefix(user: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", user) + "-p"


def check(name: str, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if not pattern.fullmatch(name):
        raise ValidationError("role", f"cannot make a valid {what} from it ({rule})")
    return name
