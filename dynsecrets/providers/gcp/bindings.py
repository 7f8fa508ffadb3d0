"""Role bindings: Vault's HCL-ish text, JSON text or a dict, to one canonical form.

``resource "NAME" { roles = ["roles/viewer", ...] }`` blocks (as Vault reads them,
also base64-encoded), or ``{"NAME": ["roles/viewer"]}``. The canonical form maps
each resource's full name to its sorted roles, stored as compact JSON text.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from .resources import resolve

__all__ = ["canonical", "parse", "to_text"]

_BLOCK = re.compile(
    r'resource\s+"(?P<name>[^"]+)"\s*\{\s*roles\s*=\s*\[(?P<roles>[^\]]*)\]\s*,?\s*\}', re.S
)
_ROLE = re.compile(
    r"(roles/[A-Za-z0-9_.]+|(projects|organizations)/[a-z0-9-]+/roles/[A-Za-z0-9_.]+)"
)
MAX_RESOURCES = 100
MAX_ROLES = 100


def _strip_comments(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith(("#", "//"))
    )


def _hcl(text: str) -> dict[str, list[str]]:
    body = _strip_comments(text)
    out: dict[str, list[str]] = {}
    end = 0
    for m in _BLOCK.finditer(body):
        if body[end : m.start()].strip():
            raise ValidationError(
                "bindings",
                f"cannot read {body[end : m.start()].strip()[:40]!r}; "
                'write resource "NAME" { roles = ["roles/..."] }',
            )
        roles = re.findall(r'"([^"]*)"', m.group("roles"))
        out.setdefault(m.group("name"), []).extend(roles)
        end = m.end()
    if body[end:].strip() or not out:
        raise ValidationError(
            "bindings",
            'cannot read the bindings; write resource "NAME" { roles = ["roles/..."] } blocks '
            'or JSON {"NAME": ["roles/..."]}',
        )
    return out


def parse(value: Any) -> dict[str, list[str]]:
    """Canonical bindings: full resource name -> sorted unique roles."""
    raw: Mapping[str, Any]
    if isinstance(value, Mapping):
        raw = value
    elif isinstance(value, str):
        text = value.strip()
        if text and text[0] not in "{r":
            # Vault accepts the HCL base64-encoded.
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                text = base64.b64decode(text, validate=True).decode().strip()
        if text.startswith("{"):
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise ValidationError("bindings", f"is not valid JSON ({exc.args[0]})") from None
            if not isinstance(loaded, dict):
                raise ValidationError("bindings", "must be a JSON object of resource -> roles")
            raw = loaded
        else:
            raw = _hcl(text)
    else:
        raise ValidationError("bindings", "expected HCL or JSON text, or a dict")
    if len(raw) > MAX_RESOURCES:
        raise ValidationError("bindings", f"names more than {MAX_RESOURCES} resources")
    out: dict[str, list[str]] = {}
    for name, roles in raw.items():
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not roles:
            raise ValidationError("bindings", f"{name!r}: give a non-empty list of roles")
        if len(roles) > MAX_ROLES:
            raise ValidationError("bindings", f"{name!r}: more than {MAX_ROLES} roles")
        for role in roles:
            if not isinstance(role, str) or not _ROLE.fullmatch(role):
                raise ValidationError(
                    "bindings",
                    f"{name!r}: {str(role)[:80]!r} is not a role name (roles/..., "
                    "projects/P/roles/... or organizations/O/roles/...)",
                )
        full = resolve(str(name)).full_name
        out[full] = sorted(set(out.get(full, [])) | set(roles))
    return dict(sorted(out.items()))


def to_text(bindings: Mapping[str, list[str]]) -> str:
    return json.dumps(dict(bindings), sort_keys=True, separators=(",", ":"))


def canonical(value: Any) -> str:
    return to_text(parse(value))
