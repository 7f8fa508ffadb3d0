"""Enabling and tuning mounts: the checks on their TTLs, description and lease cap."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._names import check_mount_path
from ..errors import InvalidTTL, ValidationError
from ..models import MountInfo
from ..store.base import MountRecord
from ..ttl import DEFAULT_MAX_TTL, DEFAULT_TTL, parse_duration

if TYPE_CHECKING:
    from ..lifecycle.core import Core

__all__ = ["enable", "info", "mount_ttls", "tune"]

log = logging.getLogger("dynsecrets")


def enable(
    core: Core,
    path: str,
    provider: str,
    *,
    default_ttl: Any,
    max_ttl: Any,
    description: Any,
    max_leases: Any,
) -> str:
    path = check_mount_path(path)
    if not isinstance(provider, str) or not provider:
        raise ValidationError("provider", "name a provider, such as 'aws'")
    core.registry.get(provider)  # unknown names fail here, before anything is stored
    default, maximum = mount_ttls(default_ttl, max_ttl)
    check_description(description)
    max_leases = check_max_leases(max_leases)
    core.store.create_mount(
        MountRecord(
            path=path,
            provider=provider,
            default_ttl=default,
            max_ttl=maximum,
            description=description,
            max_leases=max_leases,
            created_at=core.clock.now(),
        )
    )
    log.info("enabled %s secrets engine at %s/", provider, path)
    core.events.record(
        "mount.enable", f"{path}/", provider=provider, default_ttl=default, max_ttl=maximum
    )
    return path


def tune(
    core: Core,
    path: str,
    *,
    default_ttl: Any = None,
    max_ttl: Any = None,
    description: Any = None,
    max_leases: Any = None,
) -> MountInfo:
    rec = core.mount_record(path)
    default, maximum = mount_ttls(
        rec.default_ttl if default_ttl is None else default_ttl,
        rec.max_ttl if max_ttl is None else max_ttl,
    )
    changes: dict[str, Any] = {"default_ttl": default, "max_ttl": maximum}
    if description is not None:
        check_description(description)
        changes["description"] = description
    if max_leases is not None:
        changes["max_leases"] = check_max_leases(max_leases)
    core.store.update_mount(rec.path, **changes)
    core.events.record("mount.tune", f"{rec.path}/", **changes)
    return info(core.mount_record(rec.path))


def info(rec: MountRecord) -> MountInfo:
    return MountInfo(
        path=rec.path,
        provider=rec.provider,
        default_ttl=rec.default_ttl,
        max_ttl=rec.max_ttl,
        description=rec.description,
        max_leases=rec.max_leases,
        configured=rec.config is not None,
    )


def check_description(description: Any) -> None:
    if not isinstance(description, str) or len(description) > 1024:
        raise ValidationError("description", "must be a string of at most 1024 characters")
    if not description.isprintable():
        raise ValidationError("description", "must not contain control characters")


def check_max_leases(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError("max_leases", "must be a positive integer, or None for no cap")
    return value


def mount_ttls(default_ttl: Any, max_ttl: Any) -> tuple[int, int]:
    default = (
        DEFAULT_TTL
        if default_ttl in (None, "")
        else parse_duration(default_ttl, field="default_ttl")
    )
    maximum = DEFAULT_MAX_TTL if max_ttl in (None, "") else parse_duration(max_ttl, field="max_ttl")
    if default == 0:
        default = DEFAULT_TTL
    if maximum == 0:
        maximum = DEFAULT_MAX_TTL
    if max_ttl not in (None, "") and default_ttl in (None, "") and maximum < default:
        default = maximum
    if default > maximum:
        raise InvalidTTL(
            "default_ttl",
            f"{default}s is longer than max_ttl ({maximum}s); lower default_ttl or raise max_ttl",
        )
    return default, maximum
