"""Declarative field schemas for provider config and roles.

Providers describe their root config and role fields with :class:`Field`; the
engine and the CLI hand user input (Python values, or strings from the command
line) to :meth:`Schema.validate`, which coerces, checks and normalises it, and
raises :class:`~dynsecrets.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from .errors import ValidationError
from .ttl import parse_duration

__all__ = ["Field", "Schema"]

Kind = Literal["str", "int", "bool", "duration", "list", "map", "json"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_MAX_TEXT = 128 * 1024


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class Field:
    """One field of a schema.

    ``kind`` decides coercion: ``duration`` takes ``"1h"`` or seconds and stores
    seconds; ``list`` takes a list or a comma-separated string; ``map`` takes a
    dict or a JSON object; ``json`` takes a dict or JSON text and stores compact
    JSON text. ``check`` may raise ``ValueError`` with a message for the user.
    """

    kind: Kind = "str"
    default: Any = None
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    check: Callable[[Any], Any] | None = None
    doc: str = ""


def _check_text(name: str, value: Any) -> None:
    """Every string in ``value`` must encode as UTF-8: undecodable argv or file bytes
    arrive as lone surrogates, which SDK signers and database drivers refuse with
    their own exceptions at issue time. Refused here, without echoing the value."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                name, "is not valid text (undecodable bytes); check its encoding"
            ) from None
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_text(name, k)
            _check_text(name, v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_text(name, item)


def _coerce(name: str, f: Field, value: Any) -> Any:
    _check_text(name, value)
    if f.secret and isinstance(value, str):
        # Never echo a secret in an error message.
        if len(value) > (f.max_length or _MAX_TEXT):
            raise ValidationError(name, f"is longer than {f.max_length or _MAX_TEXT} characters")
        if f.pattern and not re.fullmatch(f.pattern, value):
            raise ValidationError(name, f"does not have the expected form ({f.pattern})")
        return value
    if f.kind == "str":
        if not isinstance(value, str):
            raise ValidationError(name, f"expected a string, got {type(value).__name__}")
        if len(value) > (f.max_length or _MAX_TEXT):
            raise ValidationError(name, f"is longer than {f.max_length or _MAX_TEXT} characters")
        if f.choices and value not in f.choices:
            raise ValidationError(name, f"must be one of {', '.join(f.choices)}; got {value!r}")
        if f.pattern and not re.fullmatch(f.pattern, value):
            raise ValidationError(name, f"{value!r} does not match {f.pattern}")
        return value
    if f.kind == "int":
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(name, f"expected an integer, got {type(value).__name__}")
        if f.minimum is not None and value < f.minimum:
            raise ValidationError(name, f"must be at least {f.minimum}")
        return value
    if f.kind == "bool":
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise ValidationError(name, f"expected true or false, got {type(value).__name__}")
        return value
    if f.kind == "duration":
        return parse_duration(value, field=name)
    if f.kind == "list":
        if isinstance(value, str) and value.lstrip().startswith("["):
            value = _load_json(name, value)
        elif isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValidationError(name, "expected a list of strings or a comma-separated string")
        for v in value:
            if len(v) > (f.max_length or _MAX_TEXT):
                raise ValidationError(name, f"an item is longer than {f.max_length} characters")
            if f.pattern and not re.fullmatch(f.pattern, v):
                raise ValidationError(name, f"{v!r} does not match {f.pattern}")
        return list(value)
    if f.kind == "map":
        if isinstance(value, str):
            value = _load_json(name, value)
        if not isinstance(value, Mapping):
            raise ValidationError(name, "expected a mapping or a JSON object")
        return {str(k): v for k, v in value.items()}
    if f.kind == "json":
        if isinstance(value, str):
            value = _load_json(name, value)
        if not isinstance(value, (Mapping, list)):
            raise ValidationError(name, "expected a JSON object (a dict or its JSON text)")
        return json.dumps(value, separators=(",", ":"), sort_keys=False)
    raise AssertionError(f"unknown field kind {f.kind}")  # pragma: no cover


def _load_json(name: str, text: str) -> Any:
    if len(text) > _MAX_TEXT:
        raise ValidationError(name, f"is larger than {_MAX_TEXT} bytes")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(name, f"is not valid JSON ({exc.msg} at line {exc.lineno})") from exc


@attrs.frozen(eq=False)  # never compared; skips generated __eq__/__hash__
class Schema:
    """A named set of fields. ``what`` appears in messages ("role", "config")."""

    fields: Mapping[str, Field]
    what: str = "input"

    def validate(self, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Return the normalised fields, with defaults filled in.

        Unknown fields, wrong types and missing required fields raise
        :class:`ValidationError`. ``None`` means "unset". With ``partial``,
        missing fields are left out instead of defaulted.
        """
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            shown = unknown[0] if len(unknown[0]) <= 64 else unknown[0][:61] + "..."
            raise ValidationError(
                shown.encode("utf-8", "replace").decode(),
                f"unknown {self.what} field; known fields are: {', '.join(sorted(self.fields))}",
            )
        out: dict[str, Any] = {}
        for name, f in self.fields.items():
            value = data.get(name)
            if value is None or (isinstance(value, str) and value == "" and f.kind != "str"):
                if name in data and partial:
                    out[name] = copy.deepcopy(f.default)
                    continue
                if f.required and not partial:
                    raise ValidationError(name, f"is required for this {self.what}")
                if not partial:
                    out[name] = copy.deepcopy(f.default)
                continue
            value = _coerce(name, f, value)
            if f.check is not None:
                try:
                    checked = f.check(value)
                except ValueError as exc:
                    raise ValidationError(name, str(exc)) from exc
                if checked is not None:
                    value = checked
            out[name] = value
        return out

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(n for n, f in self.fields.items() if f.secret)

    def masked(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` without secret values: secret fields are left out entirely."""
        return {k: v for k, v in data.items() if k not in self.secret_fields}

    def names(self) -> Iterable[str]:
        return self.fields.keys()
