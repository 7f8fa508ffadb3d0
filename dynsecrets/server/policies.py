"""Vault's ACL policies: HCL documents of ``path "<glob>" { capabilities = [...] }``.

Parsed with python-hcl2 (Amplify Education's HCL2 parser, on lark): it is maintained
and typed, and Vault's policy syntax (quoted block labels, string lists, comments)
is a subset of HCL2. The older ``pyhcl`` (HCL1) has had no release since 2023.

Matching follows Vault's rules. A request path uses the rule whose pattern matches
it most specifically; an exact pattern beats any glob. Between globs, the one whose
first wildcard comes later wins, then one not ending in ``*``, then fewer ``+``
segments, then the longer, then the lexically greater. Capabilities of one pattern
across a token's policies are merged, and ``deny`` in any of them wins. Nothing is
allowed unless a rule says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ..errors import ValidationError

__all__ = ["ACL", "CAPABILITIES", "ROOT", "Rule", "check_policy_name", "parse_policy"]

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny"})
#: The built-in policy that allows everything; it cannot be written or deleted.
ROOT = "root"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_MAX_RULES = 1000


def check_policy_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            "name", "a policy name is 1-128 letters, digits, '.', '_' or '-', such as 'ec2-read'"
        )
    return name


@attrs.frozen
class Rule:
    pattern: str
    capabilities: frozenset[str]

    @property
    def glob(self) -> bool:
        return self.pattern.endswith("*")

    @property
    def exact(self) -> bool:
        return not self.glob and "+" not in self.pattern.split("/")

    def matches(self, path: str) -> bool:
        pattern = self.pattern[:-1] if self.glob else self.pattern
        p_parts = pattern.split("/")
        if "+" not in p_parts:
            return path.startswith(pattern) if self.glob else path == pattern
        parts = path.split("/")
        if len(parts) < len(p_parts) or (not self.glob and len(parts) != len(p_parts)):
            return False
        for i, seg in enumerate(p_parts):
            last = i == len(p_parts) - 1
            if seg == "+":
                continue
            if last and self.glob:
                # The final segment of a glob is a prefix of the path's segment;
                # whatever follows belongs to the glob.
                return "/".join(parts[i:]).startswith(seg)
            if parts[i] != seg:
                return False
        return True

    def priority(self) -> tuple[int, int, int, int, str]:
        """Larger is more specific (Vault's ordering for overlapping globs)."""
        wild = [i for i, ch in enumerate(self.pattern) if ch in "*+"]
        first = wild[0] if wild else len(self.pattern)
        plus = self.pattern.split("/").count("+")
        return (first, 0 if self.glob else 1, -plus, len(self.pattern), self.pattern)


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_policy(text: str) -> list[Rule]:
    """The rules of one policy document. Raises ValidationError naming what is wrong;
    fields that would narrow a grant (``allowed_parameters``, ...) are refused rather
    than ignored, so a policy never allows more than it says."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("policy", "empty policy; write at least one path block")
    try:
        import hcl2
        from hcl2.utils import SerializationOptions
    except ImportError as exc:
        from ..errors import MissingDependency

        raise MissingDependency(
            "policies need python-hcl2; install it with: pip install 'dynsecrets[server]'"
        ) from exc
    try:
        doc = hcl2.loads(
            text,
            serialization_options=SerializationOptions(
                with_comments=False, explicit_blocks=False, strip_string_quotes=True
            ),
        )
    except Exception as exc:  # lark's errors carry the line and column
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError("policy", f"not valid HCL: {first[:200]}") from exc
    unknown = sorted(set(doc) - {"path"})
    if unknown:
        raise ValidationError(unknown[0], "unknown policy block; a policy holds path blocks")
    blocks = doc.get("path", [])
    if isinstance(blocks, Mapping):
        blocks = [blocks]
    rules: dict[str, set[str]] = {}
    for block in blocks:
        if not isinstance(block, Mapping):
            raise ValidationError("path", 'write path "<glob>" { capabilities = [...] }')
        for raw_pattern, body in block.items():
            pattern = _check_pattern(_unquote(raw_pattern))
            rules.setdefault(pattern, set()).update(_capabilities(pattern, body))
    if not rules:
        raise ValidationError("path", "the policy has no path blocks")
    if len(rules) > _MAX_RULES:
        raise ValidationError("path", f"at most {_MAX_RULES} path blocks per policy")
    return [Rule(p, frozenset(c)) for p, c in rules.items()]


def _check_pattern(pattern: Any) -> str:
    if not isinstance(pattern, str) or not pattern or len(pattern) > 512:
        raise ValidationError("path", "a path pattern is a non-empty string")
    pattern = pattern.lstrip("/")
    if "*" in pattern[:-1]:
        raise ValidationError("path", f"{pattern!r}: '*' may only end a pattern")
    if not pattern.isprintable():
        raise ValidationError("path", f"{pattern!r}: control characters")
    return str(pattern)


def _capabilities(pattern: str, body: Any) -> set[str]:
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, Mapping):
        raise ValidationError("path", f"{pattern!r}: expected a block")
    unknown = sorted(set(body) - {"capabilities"})
    if unknown:
        raise ValidationError(
            unknown[0], f"{pattern!r}: not supported by dynsecrets; only capabilities is"
        )
    caps = body.get("capabilities")
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        raise ValidationError("capabilities", f"{pattern!r}: expected a list of strings")
    found = {_unquote(c) for c in caps}
    bad = sorted(found - CAPABILITIES)
    if bad:
        raise ValidationError(
            "capabilities",
            f"{pattern!r}: unknown capability {bad[0]!r}; use {sorted(CAPABILITIES)}",
        )
    return found


class ACL:
    """The merged rules of a token's policies."""

    def __init__(self, rules: Iterable[Rule], *, root: bool = False) -> None:
        merged: dict[str, set[str]] = {}
        for rule in rules:
            merged.setdefault(rule.pattern, set()).update(rule.capabilities)
        self.root = root
        self._exact: dict[str, frozenset[str]] = {}
        self._globs: list[Rule] = []
        for pattern, caps in merged.items():
            rule = Rule(pattern, frozenset({"deny"}) if "deny" in caps else frozenset(caps))
            if rule.exact:
                self._exact[pattern] = rule.capabilities
            else:
                self._globs.append(rule)
        self._globs.sort(key=Rule.priority, reverse=True)

    def capabilities(self, path: str) -> frozenset[str]:
        """What this ACL allows on ``path`` (``{"root"}`` for a root token)."""
        if self.root:
            return frozenset({"root"})
        path = path.lstrip("/")
        caps = self._exact.get(path)
        if caps is None:
            caps = next((r.capabilities for r in self._globs if r.matches(path)), frozenset())
        return frozenset() if "deny" in caps else caps

    def allows(self, path: str, *needed: str, sudo: bool = False) -> bool:
        """True when the path grants any of ``needed`` (and sudo, if asked)."""
        if self.root:
            return True
        caps = self.capabilities(path)
        if sudo and "sudo" not in caps:
            return False
        return any(c in caps for c in needed)

    def may_see_mount(self, mount: str) -> bool:
        """Whether any rule reaches under ``mount/`` (Vault's rule for a mount's
        details in ``sys/internal/ui/mounts``)."""
        if self.root:
            return True
        prefix = f"{mount}/"
        for pattern, caps in self._exact.items():
            if pattern.startswith(prefix) and caps - {"deny"}:
                return True
        for rule in self._globs:
            head = rule.pattern.rstrip("*")
            first = head.split("/")[0]
            if rule.capabilities - {"deny"} and (
                head.startswith(prefix) or prefix.startswith(head) or first == "+"
            ):
                return True
        return False
