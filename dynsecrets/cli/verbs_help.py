"""``path-help`` (a mount's paths and each path's fields, from the provider's
schemas) and ``version``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import TextIO

from dynsecrets.schema import Field
from dynsecrets.ttl import format_duration

from .messages import UsageError
from .paths import open_engine, path_kind

__all__ = ["path_help", "version"]

# Role fields the engine applies to every provider's roles. The library keeps them in
# a schema of its own that is not public API; these mirror it for the help text.
_ENGINE_ROLE_FIELDS: Mapping[str, Field] = {
    "ttl": Field("duration", doc="default lease TTL for this role"),
    "max_ttl": Field("duration", doc="maximum lease TTL for this role"),
    "max_leases": Field("int", minimum=1, doc="cap on live leases of this role"),
}
_LEASE_FIELDS: Mapping[str, Field] = {
    "lease": Field("duration", doc="default lease TTL of the mount (as -default-lease-ttl)"),
    "lease_max": Field("duration", doc="maximum lease TTL of the mount (as -max-lease-ttl)"),
}
_TTL_FIELD: Mapping[str, Field] = {
    "ttl": Field("duration", doc="lease TTL, capped by the role's and the mount's max"),
}


def version(args: argparse.Namespace, out: TextIO) -> int:
    import dynsecrets

    print(f"dynsecrets {dynsecrets.__version__}", file=out)
    return 0


def path_help(args: argparse.Namespace, out: TextIO) -> int:
    mount, kind, name = path_kind(args.path)
    with open_engine(args) as engine:
        m = engine.mount(mount)
        provider = m.provider
        provider_name = m.info.provider
    if kind == "":
        print(_paths_text(mount, provider_name), file=out)
        return 0
    sections: list[tuple[str, Mapping[str, Field]]]
    if kind == "config/root":
        title = f"{mount}/config/root: the root credential (write, read; secrets never shown)"
        sections = [("", provider.config_schema.fields)]
    elif kind == "config/lease":
        title = f"{mount}/config/lease: the mount's lease TTLs (write, read)"
        sections = [("", _LEASE_FIELDS)]
    elif kind in ("config/rotate-root", "rotate-root"):
        print(f"{mount}/config/rotate-root: replace the root credential; no fields", file=out)
        print(f"  dynsecrets write -f {mount}/config/rotate-root", file=out)
        return 0
    elif kind == "roles":
        title = f"{mount}/roles/{name or '<name>'}: a role (write, read, list, delete)"
        sections = [
            ("", provider.role_schema.fields),
            ("Fields every role takes (applied by the engine):", _ENGINE_ROLE_FIELDS),
        ]
    elif kind in ("creds", "sts"):
        title = f"{mount}/{kind}/{name or '<role>'}: issue a credential as a lease (read, write)"
        sections = [("", {**_TTL_FIELD, **provider.request_schema.fields})]
    else:
        raise UsageError(
            f"{args.path!r} is not a path of {mount}/; run 'dynsecrets path-help {mount}' "
            "to see its paths"
        )
    lines = [title, ""]
    for heading, fields in sections:
        if heading:
            lines += ["", heading]
        lines += _fields_text(fields)
    print("\n".join(lines), file=out)
    return 0


def _paths_text(mount: str, provider: str) -> str:
    rows = [
        ("config/root", "the root credential: write, read (secrets never shown)"),
        ("config/lease", "the mount's default and max lease TTL: write, read"),
        ("config/rotate-root", "replace the root credential: write -f"),
        ("roles/<name>", f"roles: write, read, delete; list {mount}/roles"),
        ("creds/<role>", "issue a credential as a lease: read (or write)"),
        ("sts/<role>", "the same, for STS credential types"),
    ]
    width = max(len(mount) + 1 + len(p) for p, _ in rows) + 4
    lines = [f"{mount}/ is a {provider} secrets engine. Its paths:", ""]
    lines += [f"  {f'{mount}/{p}':<{width}}{what}" for p, what in rows]
    lines += ["", f"Run 'dynsecrets path-help {mount}/roles/x' to see a path's fields."]
    return "\n".join(lines)


def _fields_text(fields: Mapping[str, Field]) -> list[str]:
    lines: list[str] = []
    for name in sorted(fields):
        f = fields[name]
        traits: list[str] = [f.kind]
        if f.required:
            traits.append("required")
        if f.secret:
            traits.append("secret")
        if f.default not in (None, "", [], {}):
            traits.append(f"default {_default(f)}")
        lines.append(f"  {name} ({', '.join(traits)})")
        for rule in _rules(f):
            lines.append(f"      {rule}")
    return lines


def _default(f: Field) -> str:
    if f.kind == "duration" and isinstance(f.default, int):
        return format_duration(f.default)
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    if isinstance(f.default, (list, dict)):
        return json.dumps(f.default)
    return str(f.default)


def _rules(f: Field) -> list[str]:
    rules = [f.doc] if f.doc else []
    if f.choices:
        rules.append(f"one of: {', '.join(f.choices)}")
    if f.pattern:
        rules.append(f"{'each item ' if f.kind == 'list' else ''}must match: {f.pattern}")
    if f.max_length is not None:
        rules.append(f"at most {f.max_length} characters")
    if f.minimum is not None:
        rules.append(f"at least {f.minimum}")
    if f.kind == "duration":
        rules.append("seconds or a duration such as 15m, 1h or 768h")
    elif f.kind == "list":
        rules.append("repeat the key, or a comma-separated list, or a JSON array")
    elif f.kind == "map":
        rules.append("k=v (repeatable, or comma-separated) or a JSON object")
    elif f.kind == "json":
        rules.append("JSON text, or @file.json")
    return rules
