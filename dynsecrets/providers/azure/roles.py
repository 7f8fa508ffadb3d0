"""Role fields (``<mount>/roles/<name>``) and the rules Azure itself enforces, checked
when the role is written so a bad role never reaches the cloud."""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ValidationError
from ...schema import Field, Schema
from .config import GUID

SIGN_IN_AUDIENCES = (
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
)
#: Limits Azure documents: resource group and management group names 1-90 characters
#: of letters, digits, ``-_.()`` not ending in ``.``; Graph tags at most 256 characters.
_RG = r"[-\w.()]{0,89}[-\w()]"
_SEGMENT = r"[^/\s?#]{1,260}"
SCOPE = re.compile(
    rf"/|/providers/Microsoft\.Management/managementGroups/{_RG}"
    rf"|/subscriptions/{GUID.pattern}"
    rf"(/resourceGroups/{_RG}(/providers/[A-Za-z][\w.]{{0,99}}(/{_SEGMENT}/{_SEGMENT})+)?)?",
    re.IGNORECASE,
)
ROLE_ID = re.compile(
    rf"(?:(?:/subscriptions/{GUID.pattern})?/providers/Microsoft\.Authorization/"
    rf"roleDefinitions/)?({GUID.pattern})",
    re.IGNORECASE,
)
MAX_ITEMS = 100
#: What a lease's data holds besides the role's metadata.
CREDENTIAL_KEYS = ("client_id", "client_secret", "tenant_id", "subscription_id")
TAG_MAX = 256
MIN_PASSWORD_LIFETIME = 60


def _no_controls(value: str) -> bool:
    return all(c.isprintable() for c in value)


ROLE_SCHEMA = Schema(
    {
        "azure_roles": Field(
            "json",
            doc='JSON list of {"role_name" or "role_id", "scope"}: RBAC roles the new '
            "service principal gets",
        ),
        "azure_groups": Field(
            "json", doc='JSON list of {"group_name" or "object_id"}: groups it joins'
        ),
        "application_object_id": Field(
            "str",
            max_length=36,
            pattern=GUID.pattern,
            doc="an existing application's object id: only add and remove a password",
        ),
        "persist_app": Field(
            "bool",
            default=False,
            doc="one application per role, made when the role is written and deleted with "
            "it; each lease only adds a password to it",
        ),
        "permanently_delete": Field(
            "bool",
            doc="purge deleted apps from the directory's deleted items (default true; "
            "never applies to application_object_id)",
        ),
        "sign_in_audience": Field(
            "str",
            default="AzureADMyOrg",
            choices=SIGN_IN_AUDIENCES,
            doc="who may sign in to the new application",
        ),
        "tags": Field("list", default=[], max_length=TAG_MAX, doc="tags on the new application"),
        "metadata": Field("map", default={}, doc="returned beside the credentials (string values)"),
        "explicit_max_ttl": Field(
            "duration",
            doc="the password's own lifetime: it stops working then even if revocation "
            "never runs (default: the lease's max TTL)",
        ),
    },
    what="role",
)


def _items(field: str, raw: str | None) -> list[dict[str, Any]]:
    if raw is None:
        return []
    value = json.loads(raw)
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValidationError(field, "must be a JSON list of objects")
    if len(value) > MAX_ITEMS:
        raise ValidationError(field, f"has {len(value)} entries; at most {MAX_ITEMS}")
    return value


def _check_roles(raw: str | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, item in enumerate(_items("azure_roles", raw)):
        where = f"entry {i}"
        unknown = sorted(set(item) - {"role_name", "role_id", "scope"})
        if unknown:
            raise ValidationError(
                "azure_roles",
                f"{where} has unknown key {unknown[0]!r}; use role_name or role_id, and scope",
            )
        name, rid, scope = item.get("role_name"), item.get("role_id"), item.get("scope")
        if bool(name) == bool(rid):
            raise ValidationError("azure_roles", f"{where}: give role_name or role_id (one)")
        if not isinstance(scope, str) or not SCOPE.fullmatch(scope) or len(scope) > 2048:
            raise ValidationError(
                "azure_roles",
                f"{where}: scope must be /subscriptions/<id>[/resourceGroups/<name>[/providers"
                "/<namespace>/<type>/<name>]], /providers/Microsoft.Management/"
                "managementGroups/<name> or /",
            )
        entry = {"scope": scope.rstrip("/") or "/"}
        if rid is not None:
            m = ROLE_ID.fullmatch(rid) if isinstance(rid, str) else None
            if m is None:
                raise ValidationError(
                    "azure_roles",
                    f"{where}: role_id must be a role definition GUID or "
                    "/subscriptions/<id>/providers/Microsoft.Authorization/roleDefinitions/<GUID>",
                )
            entry["role_id"] = m.group(1).lower()
        else:
            if not isinstance(name, str) or len(name) > 512 or not _no_controls(name):
                raise ValidationError(
                    "azure_roles", f"{where}: role_name must be text of at most 512 characters"
                )
            entry["role_name"] = name
        out.append(entry)
    return out


def _check_groups(raw: str | None) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i, item in enumerate(_items("azure_groups", raw)):
        where = f"entry {i}"
        unknown = sorted(set(item) - {"group_name", "object_id"})
        if unknown:
            raise ValidationError(
                "azure_groups",
                f"{where} has unknown key {unknown[0]!r}; use group_name or object_id",
            )
        name, oid = item.get("group_name"), item.get("object_id")
        if bool(name) == bool(oid):
            raise ValidationError("azure_groups", f"{where}: give group_name or object_id (one)")
        if oid is not None:
            if not isinstance(oid, str) or not GUID.fullmatch(oid):
                raise ValidationError("azure_groups", f"{where}: object_id must be a GUID")
            out.append({"object_id": oid.lower()})
        else:
            if not isinstance(name, str) or len(name) > 256 or not _no_controls(name):
                raise ValidationError(
                    "azure_groups", f"{where}: group_name must be text of at most 256 characters"
                )
            out.append({"group_name": name})
    return out


def check_role(name: str, role: dict[str, Any]) -> dict[str, Any]:
    roles = _check_roles(role.get("azure_roles"))
    groups = _check_groups(role.get("azure_groups"))
    existing = role.get("application_object_id")
    if existing:
        role["application_object_id"] = existing.lower()
        for field in ("azure_roles", "azure_groups"):
            if role.get(field) and json.loads(role[field]):
                raise ValidationError(
                    field,
                    "does not apply with application_object_id (an existing application only "
                    "gets a password); grant the app its roles and groups yourself",
                )
        if role.get("permanently_delete"):
            raise ValidationError(
                "permanently_delete", "never applies to an existing application, which is kept"
            )
        for field, default in (("sign_in_audience", "AzureADMyOrg"), ("tags", [])):
            if role.get(field) not in (None, default):
                raise ValidationError(field, "applies only to applications dynsecrets creates")
    elif not roles and not groups:
        raise ValidationError(
            "azure_roles",
            "give azure_roles or azure_groups (a new service principal with them), or "
            "application_object_id (an existing application)",
        )
    if existing and role.get("persist_app"):
        raise ValidationError(
            "persist_app",
            "does not apply with application_object_id (that application is already kept)",
        )
    # Stored normalised: role ids as bare GUIDs, keys checked, so issue trusts them.
    role["azure_roles"] = json.dumps(roles, separators=(",", ":")) if roles else None
    role["azure_groups"] = json.dumps(groups, separators=(",", ":")) if groups else None
    for tag in role.get("tags") or []:
        if not tag or not _no_controls(tag):
            raise ValidationError("tags", "a tag must be non-empty printable text")
        if tag.startswith("dynsecrets"):
            raise ValidationError("tags", f"{tag!r}: tags starting with 'dynsecrets' are reserved")
    metadata = role.get("metadata") or {}
    if not all(isinstance(v, (str, int, float, bool)) for v in metadata.values()):
        raise ValidationError("metadata", "values must be strings, numbers or booleans")
    clash = sorted(set(metadata) & set(CREDENTIAL_KEYS))
    if clash:
        raise ValidationError("metadata", f"key {clash[0]!r} is a credential field; rename it")
    explicit = role.get("explicit_max_ttl")
    if explicit is not None:
        if explicit < MIN_PASSWORD_LIFETIME:
            raise ValidationError(
                "explicit_max_ttl",
                f"must be at least {MIN_PASSWORD_LIFETIME}s (a password's end date must lie "
                "after its start)",
            )
        for field in ("ttl", "max_ttl"):
            if role.get(field) and role[field] > explicit:
                raise ValidationError(
                    field,
                    f"must not exceed explicit_max_ttl ({explicit}s), the password's lifetime",
                )
    return role


def roles_of(role: Any) -> list[dict[str, str]]:
    raw = role.get("azure_roles")
    return list(json.loads(raw)) if raw else []


def groups_of(role: Any) -> list[dict[str, str]]:
    raw = role.get("azure_groups")
    return list(json.loads(raw)) if raw else []
