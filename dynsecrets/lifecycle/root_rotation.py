"""Scheduled rotation of a mount's root credential (Vault Enterprise's automated
root rotation, free here).

Config fields the engine takes before the provider sees the rest:
``rotation_period`` (every so often) or ``rotation_schedule`` (a cron line, UTC)
with an optional ``rotation_window`` (a scheduled rotation that cannot start within
the window is skipped until the next one), and ``disable_automated_rotation``.
They live in the role table's ``config/root-rotation`` row, with when the root
credential was set and last rotated; the rotation itself is a task
(:mod:`.tasks`) the worker runs with the provider's prove-before-persist
``rotate_root``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..schema import Field, Schema
from ..ttl import format_time
from . import tasks

if TYPE_CHECKING:
    from .core import Core

__all__ = [
    "FIELDS",
    "ROW",
    "merged",
    "next_due",
    "record_rotation",
    "split",
    "status",
    "validate",
    "write",
]

log = logging.getLogger("dynsecrets")

ROW = "config/root-rotation"
MIN_PERIOD = 3600
MIN_WINDOW = 3600


def _cron(value: str) -> str:
    if not value:
        return value  # "" is unset, as a read shows it
    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, dt.datetime.now(dt.timezone.utc))
    except CronSimError as exc:
        raise ValueError(f"is not a cron line ({exc}); e.g. '0 3 * * SAT'") from None
    return value


FIELDS = Schema(
    {
        "rotation_period": Field(
            "duration", doc="rotate the root credential this often (at least 1h)"
        ),
        "rotation_schedule": Field(
            "str", max_length=256, check=_cron, doc="rotate at these times (cron, UTC)"
        ),
        "rotation_window": Field(
            "duration", doc="with rotation_schedule: how long after the time it may still start"
        ),
        "disable_automated_rotation": Field("bool", default=False, doc="no scheduled rotation"),
    },
    what="config",
)


#: What ``read <mount>/config`` adds and a write ignores (a client may write back
#: what it read).
READ_ONLY = frozenset(
    {
        "last_rotated",
        "next_rotation",
        "root_credential_age",
        "rotation_state",
        "rotation_error",
        "rotation_attempts",
    }
)


def split(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the engine's rotation fields, the provider's config fields)."""
    ours = {k: v for k, v in fields.items() if k in FIELDS.fields}
    rest = {k: v for k, v in fields.items() if k not in FIELDS.fields and k not in READ_ONLY}
    return ours, rest


def merged(core: Core, mount: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The stored schedule with the fields a write names (a write keeps the others)."""
    row = core.store.get_role(mount, ROW) or {}
    return {**{k: row[k] for k in FIELDS.fields if row.get(k) is not None}, **given}


def validate(fields: Mapping[str, Any], can_rotate: bool) -> dict[str, Any]:
    sched = FIELDS.validate(fields)
    period, cron, window = (
        sched["rotation_period"],
        sched["rotation_schedule"],
        sched["rotation_window"],
    )
    sched["rotation_schedule"] = cron = cron or None
    sched["rotation_period"] = period = period or None
    sched["rotation_window"] = window = window or None
    if period and cron:
        raise ValidationError("rotation_schedule", "cannot be set with rotation_period; choose one")
    if period is not None and 0 < period < MIN_PERIOD:
        raise ValidationError("rotation_period", f"must be at least {MIN_PERIOD}s (1h)")
    if window is not None:
        if not cron:
            raise ValidationError("rotation_window", "needs rotation_schedule")
        if window < MIN_WINDOW:
            raise ValidationError("rotation_window", f"must be at least {MIN_WINDOW}s (1h)")
    if (period or cron) and not sched["disable_automated_rotation"] and not can_rotate:
        raise ValidationError(
            "rotation_period" if period else "rotation_schedule",
            "this root config cannot be rotated (its credential is not one dynsecrets "
            "can replace); remove the schedule or set disable_automated_rotation=true",
        )
    return sched


def next_due(row: Mapping[str, Any]) -> float:
    """When the next scheduled rotation is due (tasks.NEVER when none is)."""
    if row.get("disable_automated_rotation"):
        return tasks.NEVER
    base = max(float(row.get(k) or 0.0) for k in ("last_rotated", "configured_at", "skipped_at"))
    if row.get("rotation_period"):
        return base + float(row["rotation_period"])
    if row.get("rotation_schedule"):
        from cronsim import CronSim

        start = dt.datetime.fromtimestamp(base, dt.timezone.utc)
        return next(CronSim(str(row["rotation_schedule"]), start)).timestamp()
    return tasks.NEVER


def _latest(row: Mapping[str, Any], now: float) -> float:
    """The latest scheduled time at or before ``now`` (whose window may still be open)."""
    from cronsim import CronSim

    start = dt.datetime.fromtimestamp(now + 1, dt.timezone.utc)
    return next(CronSim(str(row["rotation_schedule"]), start, reverse=True)).timestamp()


def write(
    core: Core, mount: str, sched: Mapping[str, Any] | None, credential_changed: bool
) -> None:
    """Store the schedule (None: keep the stored one) and move the task to its due time."""
    row = dict(core.store.get_role(mount, ROW) or {})
    now = core.clock.now()
    if sched is not None:
        row.update({k: v for k, v in sched.items()})
    if credential_changed or "configured_at" not in row:
        row["configured_at"] = now
        row["last_rotated"] = None
    core.store.put_role(mount, ROW, row)
    tasks.schedule(core, mount, tasks.ROOT, "", next_due(row))


def record_rotation(core: Core, mount: str) -> float:
    """A rotation happened now (manual or scheduled): the clock restarts."""
    row = dict(core.store.get_role(mount, ROW) or {})
    now = core.clock.now()
    row["last_rotated"] = now
    row.setdefault("configured_at", now)
    core.store.put_role(mount, ROW, row)
    return next_due(row)


def status(core: Core, mount: str) -> dict[str, Any]:
    """What ``read <mount>/config`` adds: the schedule, last and next rotation, age."""
    row = core.store.get_role(mount, ROW) or {}
    now = core.clock.now()
    set_at = row.get("last_rotated") or row.get("configured_at")
    due = next_due(row) if row else tasks.NEVER
    return {
        "rotation_period": row.get("rotation_period") or 0,
        "rotation_schedule": row.get("rotation_schedule") or "",
        "rotation_window": row.get("rotation_window") or 0,
        "disable_automated_rotation": bool(row.get("disable_automated_rotation")),
        "last_rotated": _iso(row.get("last_rotated")),
        "next_rotation": None if due >= tasks.NEVER else _iso(due),
        "root_credential_age": None if set_at is None else max(0, round(now - float(set_at))),
        **tasks.health(core, mount, tasks.ROOT),
    }


def _iso(ts: Any) -> str | None:
    return None if ts is None else format_time(float(ts))


def run(core: Core, mount: str, _name: str) -> float:
    """The worker's run: rotate if the schedule says so (within its window)."""
    row = core.store.get_role(mount, ROW) or {}
    now = core.clock.now()
    due = next_due(row)
    if due > now:
        return due
    window = row.get("rotation_window")
    if window and row.get("rotation_schedule") and now > _latest(row, now) + float(window):
        log.warning("%s/: scheduled root rotation missed its window; waiting for the next", mount)
        # Skip: count from now, so the next cron time after now is due.
        core.store.put_role(mount, ROW, {**row, "skipped_at": now})
        return next_due({**row, "skipped_at": now})
    rotate(core, mount)
    return record_rotation(core, mount)


def rotate(core: Core, mount: str) -> dict[str, Any]:
    """Replace the root credential (the provider proves the new one before persisting)."""
    rec = core.mount_record(mount)
    provider = core.provider(rec)
    config = core.config(rec, provider)

    def persist(new: dict[str, Any]) -> None:
        core.store.update_mount(mount, config=core.seal(new, mount))

    with core.deadline("rotate_root"):
        return provider.rotate_root(config, persist)


tasks.RUNNERS[tasks.ROOT] = run
