"""``verify=true`` on config and role writes: ask the cloud, before anything is stored,
whether the root credential works and may make every call the provider will make."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import MissingPermissions

if TYPE_CHECKING:
    from ..providers.base import Provider

__all__ = ["check_permissions"]


def check_permissions(
    provider: Provider,
    config: Mapping[str, Any],
    role: Mapping[str, Any] | None,
    what: str,
) -> None:
    """Raise :class:`MissingPermissions` naming each call ``what`` needs and may not
    make; a credential that does not work at all raises the provider's error."""
    missing = provider.verify(config, role)
    if missing:
        raise MissingPermissions(sorted(set(missing)), what)
