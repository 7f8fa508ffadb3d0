"""Who is asking, and may they: the token from the request headers, its policies.

The token is read from ``X-Vault-Token`` or ``Authorization: Bearer``. It is looked up
in the store on every request (one indexed read), so a revoked token stops working
at once on every node. Parsed policies are cached by their text: an edited policy
applies to the next request.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import attrs

from ..errors import ValidationError
from ..store.base import TokenRecord
from .policies import ACL, ROOT, Rule, check_policy_name, parse_policy
from .responses import ApiError
from .tokens import Tokens

__all__ = ["Caller", "Policies", "authenticate", "token_from_headers"]


@attrs.frozen
class Caller:
    token: TokenRecord
    acl: ACL

    @property
    def actor(self) -> str:
        """Who this caller is, for the audit log and the clouds' tags: the token's
        display name with its accessor, never the token."""
        name = self.token.display_name
        accessor = f"token:{self.token.accessor}"
        return f"{name} ({accessor})" if name else accessor


class Policies:
    """Policies in the store, parsed once per distinct text."""

    def __init__(self, tokens: Tokens) -> None:
        self.store = tokens.store
        self.clock = tokens.engine.clock
        self._parsed: dict[str, list[Rule]] = {}
        self._lock = threading.Lock()

    def write(self, name: str, text: str) -> None:
        name = check_policy_name(name)
        if name == ROOT:
            raise ValidationError("name", "'root' is built in and cannot be changed")
        self._rules(text)  # refuse what does not parse before storing it
        self.store.put_policy(name, text, self.clock.now())

    def read(self, name: str) -> str | None:
        return self.store.get_policies([check_policy_name(name)]).get(name)

    def names(self) -> list[str]:
        return [ROOT, *self.store.list_policies()]

    def delete(self, name: str) -> bool:
        if check_policy_name(name) == ROOT:
            raise ValidationError("name", "'root' is built in and cannot be deleted")
        return self.store.delete_policy(name)

    def acl(self, names: tuple[str, ...]) -> ACL:
        if ROOT in names:
            return ACL((), root=True)
        texts = self.store.get_policies(list(names))
        rules: list[Rule] = []
        for text in texts.values():
            rules.extend(self._rules(text))
        return ACL(rules)

    def _rules(self, text: str) -> list[Rule]:
        with self._lock:
            cached = self._parsed.get(text)
        if cached is None:
            cached = parse_policy(text)
            with self._lock:
                if len(self._parsed) > 1024:  # bounded: policies are few, edits are rare
                    self._parsed.clear()
                self._parsed[text] = cached
        return cached


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    token = headers.get("x-vault-token")
    if token:
        return token.strip()
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(tokens: Tokens, policies: Policies, headers: Mapping[str, str]) -> Caller:
    """The caller, or ApiError(403): Vault answers a missing, unknown, revoked or
    expired token alike, so a probe learns nothing about which it was."""
    value = token_from_headers(headers)
    if value is None:
        raise ApiError(403, "permission denied (missing client token)")
    rec = tokens.lookup(value)
    if rec is None:
        raise ApiError(403, "permission denied")
    return Caller(rec, policies.acl(rec.policies))
