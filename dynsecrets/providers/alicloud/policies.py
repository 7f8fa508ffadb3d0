"""Role policy fields: ``inline_policies`` (policy documents dynsecrets creates as
Custom policies per user) and ``remote_policies`` (existing System or Custom
policies it attaches), in Vault's forms and a structured one, checked against
RAM's own rules before anything is created."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

#: RAM's limit on one policy document, in characters.
POLICY_DOCUMENT_MAX = 6144
POLICY_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")
POLICY_TYPES = {"system": "System", "custom": "Custom"}
_SHOW = 40


def _check_statement(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ValueError(f"{where} must be a JSON object with a Statement")
    statement = doc.get("Statement")
    if not statement or not isinstance(statement, (list, dict)):
        raise ValueError(f"{where} has no Statement; a RAM policy needs one")
    for item in statement if isinstance(statement, list) else [statement]:
        if not isinstance(item, dict) or item.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"{where}: every statement needs Effect Allow or Deny")
        if "Action" not in item and "NotAction" not in item:
            raise ValueError(f"{where}: every statement needs an Action")
    version = doc.get("Version", "1")
    if str(version) != "1":
        raise ValueError(f'{where} has Version {str(version)[:_SHOW]!r}; RAM policies use "1"')
    return doc


def check_inline(text: str) -> str:
    """One document or a list of them (Vault's form) -> a compact JSON list."""
    value = json.loads(text)
    docs = value if isinstance(value, list) else [value]
    if not docs:
        raise ValueError("is an empty list; give at least one policy document, or leave it out")
    out = []
    for i, doc in enumerate(docs):
        where = f"policy {i + 1}" if len(docs) > 1 else "the policy"
        compact = json.dumps(_check_statement(doc, where), separators=(",", ":"))
        if len(compact) > POLICY_DOCUMENT_MAX:
            raise ValueError(
                f"{where} is {len(compact)} characters compacted; RAM allows "
                f"{POLICY_DOCUMENT_MAX} per policy: split it into several documents"
            )
        out.append(json.loads(compact))
    return json.dumps(out, separators=(",", ":"))


def inline_documents(stored: str | None) -> tuple[str, ...]:
    """The stored list as one compact JSON text per policy (what CreatePolicy takes).
    Parsed once per stored text: every issue of a role would parse the same JSON."""
    if not stored:
        return ()
    return _documents(stored)


@functools.lru_cache(maxsize=256)
def _documents(stored: str) -> tuple[str, ...]:
    return tuple(json.dumps(d, separators=(",", ":")) for d in json.loads(stored))


def _one_remote(item: Mapping[str, Any]) -> str:
    unknown = set(item) - {"name", "type"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r}; a remote policy has name and type")
    name, kind = str(item.get("name") or ""), str(item.get("type") or "")
    if not POLICY_NAME.fullmatch(name):
        raise ValueError(
            f"policy name {name[:_SHOW]!r} must be 1-128 letters, digits and - (RAM's rule)"
        )
    if kind.lower() not in POLICY_TYPES:
        raise ValueError(f"policy {name!r} needs type:System or type:Custom")
    return f"name:{name},type:{POLICY_TYPES[kind.lower()]}"


def structured_remote(value: Any) -> Any:
    """Accept the structured form (a dict, a list of dicts, or their JSON text) and
    turn it into Vault's ``name:X,type:Y`` strings; anything else is left for the schema."""
    if isinstance(value, str) and value.lstrip().startswith(("[{", "{")):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return [_one_remote(v) for v in value]  # ValueError: the caller names the field
    return value


def check_remote(values: list[str]) -> list[str]:
    """Vault's form is one ``name:X,type:Y`` string per policy; a comma-split CLI value
    arrives as ``name:X``, ``type:Y`` pieces, which are joined back here."""
    pieces = [p.strip() for v in values for p in v.split(",") if p.strip()]
    out: list[str] = []
    current: dict[str, str] = {}
    for piece in pieces:
        key, sep, val = piece.partition(":")
        key = key.strip().lower()
        if not sep or key not in ("name", "type"):
            raise ValueError(
                f"{piece[:_SHOW]!r} is not name:X or type:Y; write name:AliyunOSSReadOnlyAccess,type:System"
            )
        if key in current:
            out.append(_one_remote(current))
            current = {}
        current[key] = val.strip()
    if current:
        out.append(_one_remote(current))
    if len(set(out)) != len(out):
        raise ValueError("lists the same policy twice")
    return out


def parse_remote(item: str) -> tuple[str, str]:
    """``name:X,type:Y`` -> (type, name)."""
    fields = dict(p.split(":", 1) for p in item.split(","))
    return fields["type"], fields["name"]
