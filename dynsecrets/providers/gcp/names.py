"""Service-account names: ids Google accepts, unique without coordination."""

from __future__ import annotations

import re
import secrets
import string

__all__ = ["ACCOUNT_ID", "EMAIL", "account_id", "description", "display_name", "with_actor"]

#: Google's rule for account ids: 6-30 characters, a letter first, no trailing '-'.
ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
EMAIL = re.compile(
    r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com|[^@\s]+@[^@\s]+"
)
_RANDOM = 8  # 36**8 ~ 2.8e12: two rolesets written in the same second never collide
_PREFIX = "ds-"
#: What a managed account's description starts with (tidy and recovery look for it).
MARK = "dynsecrets"


def account_id(role: str) -> str:
    """``ds-<role, cut>-<8 random>``: at most 30 characters. Vault names accounts by
    the unix second, and two rolesets written in the same second collide (409)."""
    rnd = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(_RANDOM))
    part = re.sub(r"[^a-z0-9]+", "-", role.lower()).strip("-")
    part = part[: 30 - len(_PREFIX) - 1 - _RANDOM].rstrip("-")
    made = f"{_PREFIX}{part}-{rnd}" if part else f"{_PREFIX}{rnd}"
    assert ACCOUNT_ID.fullmatch(made), made
    return made


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes (Google counts bytes), never half a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def display_name(mount: str, role: str) -> str:
    return _cut(f"dynsecrets {mount}/{role}", 100)


def _clean(actor: str) -> str:
    # One token of the description: no spaces, '=' or control characters.
    return "".join(
        "_" if c.isspace() or c == "=" else c for c in actor if c.isprintable() or c.isspace()
    )


def with_actor(text: str, actor: str) -> str:
    """The description with ``actor=<who asked>`` last (cut first when too long),
    so ``parse_description`` still reads the tags before it."""
    who = _clean(actor)
    return _cut(f"{text} actor={who}", 256) if who else text


def description(mount: str, role: str, store_id: str) -> str:
    """Tags in the description (accounts have no labels): tidy deletes only its own
    store's accounts."""
    return _cut(f"{MARK} mount={mount} role={role} store={store_id}", 256)


def parse_description(text: str) -> dict[str, str]:
    if not text.startswith(MARK + " "):
        return {}
    return dict(p.split("=", 1) for p in text.split()[1:] if "=" in p)
