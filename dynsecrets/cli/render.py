"""What the verbs print: Vault's Key/Value table, its JSON shape, and ``export`` lines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from dynsecrets.output import format_table, format_value, lease_rows
from dynsecrets.ttl import format_time

from .messages import CommandFailed

if TYPE_CHECKING:
    from dynsecrets.models import Lease, LeaseInfo

__all__ = [
    "envelope",
    "go_duration",
    "info_rows",
    "iso",
    "lease_environ",
    "lease_field",
    "lease_field_names",
    "lookup_data",
    "no_field",
    "print_data",
    "print_json",
    "print_keys",
    "print_lease",
]

_LEASE_FIELDS = ("lease_id", "lease_duration", "lease_renewable")


def envelope(
    *,
    lease_id: str = "",
    lease_duration: int = 0,
    renewable: bool = False,
    data: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Vault's response shape, which scripts written for ``vault -format=json`` parse."""
    return {
        "request_id": _request_id(),
        "lease_id": lease_id,
        "lease_duration": int(lease_duration),
        "renewable": renewable,
        "data": None if data is None else dict(data),
        "warnings": list(warnings) or None,
    }


def print_json(value: Any, out: TextIO) -> None:
    print(json.dumps(value, indent=2, default=str), file=out)


def go_duration(seconds: int) -> str:
    """A duration as Vault's API prints one (Go's ``time.Duration``): ``768h0m0s``."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def iso(ts: float) -> str:
    return format_time(ts)


def lease_environ(lease: Lease, *, keep_files: bool = False) -> dict[str, str]:
    """The lease's environment for a child process or ``-format=env``.

    Adds ``AWS_DEFAULT_REGION`` next to ``AWS_REGION``: boto3 and AWS CLI v1 read
    only the former and stop with "You must specify a region" without it. Adds
    ``DYNSECRETS_LEASE_ID`` so that a script can renew or revoke what it was given.
    """
    env = lease.environ(keep_files=keep_files)
    if "AWS_REGION" in env:
        env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    env["DYNSECRETS_LEASE_ID"] = lease.lease_id
    return env


def _env_lines(values: Mapping[str, Any]) -> str:
    return "\n".join(f"export {k}={_quote(str(v))}" for k, v in values.items() if v is not None)


def no_field(field: str, names: Sequence[str], *, revoked: bool = False) -> CommandFailed:
    tail = "; the lease was revoked" if revoked else ""
    return CommandFailed(
        f"no field {field!r} in the response; its fields are: {', '.join(names)}{tail}"
    )


def lease_field(lease: Lease, field: str) -> Any:
    """The value ``-field`` prints; raises KeyError if the lease has no such field."""
    if field not in lease.data and field not in _LEASE_FIELDS:
        raise KeyError(field)
    return dict(lease_rows(lease))[field]


def lease_field_names(lease: Lease) -> list[str]:
    return [*_LEASE_FIELDS, *lease.data]


def print_lease(lease: Lease, fmt: str, field: str | None, out: TextIO, err: TextIO) -> None:
    """A lease as ``read``/``write`` print it. An unknown ``-field`` must be checked
    (and the lease revoked) by the caller first, with :func:`lease_field`."""
    if field:
        print(format_value(lease_field(lease, field)), file=out)
    elif fmt == "json":
        print_json(
            envelope(
                lease_id=lease.lease_id,
                lease_duration=lease.lease_duration,
                renewable=lease.renewable,
                data=lease.data,
                warnings=lease.warnings,
            ),
            out,
        )
        return  # the warnings are in the JSON
    elif fmt == "env":
        # The shell that sources these outlives this process: the key file stays.
        env = lease_environ(lease, keep_files=True)
        print(_env_lines(env), file=out)
        if "GOOGLE_APPLICATION_CREDENTIALS" in env:
            print(
                f"NOTE: the key file {env['GOOGLE_APPLICATION_CREDENTIALS']} stays until you "
                "delete it (or revoke the lease)",
                file=err,
            )
    else:
        print(format_table(lease_rows(lease)), file=out)
    for warning in lease.warnings:
        print(f"WARNING! {warning}", file=err)


def print_data(data: Mapping[str, Any], fmt: str, field: str | None, out: TextIO) -> None:
    """Data that is not a lease (config, roles), in the same shapes."""
    if field:
        if field not in data:
            raise no_field(field, list(data))
        print(format_value(data[field]), file=out)
    elif fmt == "json":
        print_json(envelope(data=data), out)
    elif fmt == "env":
        print(_env_lines({k.upper(): format_value(v) for k, v in data.items()}), file=out)
    else:
        print(format_table(sorted(data.items())), file=out)


def print_keys(names: Sequence[str], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print_json(list(names), out)
    else:
        print("\n".join(["Keys", "----", *names]), file=out)


def info_rows(info: LeaseInfo, now: float) -> list[tuple[str, Any]]:
    """A stored lease as ``lease lookup`` shows it."""
    from dynsecrets.ttl import format_duration

    rows: list[tuple[str, Any]] = [
        ("id", info.lease_id),
        ("issue_time", iso(info.issued_at)),
        ("expire_time", iso(info.expires_at)),
        ("ttl", format_duration(info.ttl(now))),
        ("renewable", info.renewable),
        ("revocable", info.revocable),
        ("state", info.state),
        ("actor", info.actor or "-"),
        ("age", format_duration(info.age(now))),
    ]
    if info.attempts:
        rows += [("attempts", info.attempts), ("last_error", info.last_error)]
    return rows


def lookup_data(info: LeaseInfo, now: float) -> dict[str, Any]:
    """Vault's ``sys/leases/lookup`` data (``ttl`` in seconds), plus our states."""
    data: dict[str, Any] = {
        "id": info.lease_id,
        "issue_time": iso(info.issued_at),
        "expire_time": iso(info.expires_at),
        "ttl": info.ttl(now),
        "renewable": info.renewable,
        "revocable": info.revocable,
        "state": info.state,
        "actor": info.actor,
        "age": info.age(now),
    }
    if info.attempts:
        data.update(attempts=info.attempts, last_error=info.last_error)
    return data


def _request_id() -> str:
    import uuid  # here: it costs a few ms that `exec` never needs

    return str(uuid.uuid4())


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
