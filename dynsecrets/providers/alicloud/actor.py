"""Who asked for a credential, written where Alibaba Cloud keeps it: the RAM user's
``Comments`` (any text, at most 128 characters) and the STS ``RoleSessionName``
(2-64 of ``[A-Za-z0-9_.@-]``; it is the last part of the session's ARN, so
ActionTrail shows it with every call made with the token).

The actor is sanitised first: control and format characters (newlines, NUL, bidi
overrides) are dropped, runs of white space become one space, and what does not
fit is cut with an ellipsis; the value is never the reason a request fails.
"""

from __future__ import annotations

import re
import unicodedata

#: Comments: RAM's limit.
COMMENTS_MAX = 128
#: Written last in Comments, so that an actor holding " mount=" cannot pose as a tag.
ACTOR_TAG = " actor="
ELLIPSIS = "\u2026"
_SESSION_CHAR = re.compile(r"[^A-Za-z0-9_.@-]")


def clean(actor: str) -> str:
    """Drop control, format, surrogate and unassigned characters; fold white space."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in actor
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join(kept.split())


def fit(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, an ellipsis marking the cut."""
    if len(text) <= room:
        return text
    return text[: max(0, room - 1)] + ELLIPSIS if room > 0 else ""


def comments(base: str, actor: str) -> str:
    """``base`` (the tags tidy reads) plus `` actor=<actor>`` in what is left of 128
    characters; ``base`` alone when there is no actor or no room for one."""
    who = clean(actor)
    room = COMMENTS_MAX - len(base) - len(ACTOR_TAG)
    if not who or room < 2:
        return base
    return f"{base}{ACTOR_TAG}{fit(who, room)}"


def parse(text: str) -> tuple[str, str | None]:
    """Comments -> (the tags part, the actor or None)."""
    head, sep, actor = text.partition(ACTOR_TAG)
    return head, (actor if sep else None)


def session_part(actor: str) -> str:
    """The actor in RoleSessionName's alphabet: other characters become ``-``, runs
    of them one ``-``, none at either end."""
    text = _SESSION_CHAR.sub("-", clean(actor).replace(" ", "-"))
    return re.sub(r"-{2,}", "-", text).strip("-")
