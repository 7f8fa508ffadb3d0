"""A simple evaluation of RAM policy documents: is an action on a resource allowed?

RAM has no policy simulator (AWS's SimulatePrincipalPolicy), so ``verify`` reads the
caller's policies and decides here, by RAM's two rules: nothing is allowed unless a
statement allows it, and an explicit Deny wins over any Allow. ``Action``/``NotAction``
and ``Resource``/``NotResource`` are matched with ``*`` and ``?`` wildcards, ignoring
case. ``Condition`` blocks are not evaluated (a conditional statement counts as if its
condition held), so the answer is "allowed by some statement", not a promise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

#: Well-known system policies, by name: read without a GetPolicy call.
SYSTEM_POLICIES: Mapping[str, str] = {
    "AdministratorAccess": '{"Version":"1","Statement":[{"Effect":"Allow","Action":"*",'
    '"Resource":"*"}]}',
    "AliyunRAMFullAccess": '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ram:*",'
    '"Resource":"*"}]}',
    "AliyunRAMReadOnlyAccess": '{"Version":"1","Statement":[{"Effect":"Allow",'
    '"Action":["ram:Get*","ram:List*"],"Resource":"*"}]}',
    "AliyunSTSAssumeRoleAccess": '{"Version":"1","Statement":[{"Effect":"Allow",'
    '"Action":"sts:AssumeRole","Resource":"*"}]}',
}


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _any_match(patterns: Iterable[str], value: str) -> bool:
    return any(_pattern(p).fullmatch(value) for p in patterns)


def statements(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of a policy document (JSON text or parsed); [] when unreadable."""
    try:
        doc = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return []
    if not isinstance(doc, Mapping):
        return []
    found = doc.get("Statement") or []
    items = found if isinstance(found, list) else [found]
    return [s for s in items if isinstance(s, Mapping)]


def _applies(statement: Mapping[str, Any], action: str, resources: list[str]) -> bool:
    if "NotAction" in statement:
        if _any_match(_listed(statement["NotAction"]), action):
            return False
    elif not _any_match(_listed(statement.get("Action")), action):
        return False
    if "NotResource" in statement:
        excluded = _listed(statement["NotResource"])
        return not any(_any_match(excluded, r) for r in resources)
    if "Resource" not in statement:
        return True
    return any(_any_match(_listed(statement["Resource"]), r) for r in resources)


def decide(policies: Iterable[Mapping[str, Any]], action: str, resources: list[str]) -> str:
    """``"allow"``, ``"deny"`` (explicitly denied) or ``"none"`` (no statement allows
    it) for ``action`` on a resource known by any of ``resources`` (the same ARN
    written in its accepted forms)."""
    allowed = False
    for statement in policies:
        if not _applies(statement, action, resources):
            continue
        effect = str(statement.get("Effect", ""))
        if effect == "Deny":
            return "deny"
        if effect == "Allow":
            allowed = True
    return "allow" if allowed else "none"
