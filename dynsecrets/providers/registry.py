"""Finding providers: explicit registrations first, then the ``dynsecrets.providers``
entry-point group, scanned once on first use (never at import time)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import ProviderLoadError, ProviderNotFound

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .base import Provider

__all__ = ["ENTRY_POINT_GROUP", "ProviderRegistry"]

ENTRY_POINT_GROUP = "dynsecrets.providers"

# Built-in providers, as pyproject.toml declares them in the entry-point group
# (a test keeps the two equal). Looked up here first: scanning every installed
# distribution's metadata costs 20-40 ms, too much for `dynsecrets exec` to pay on
# every command. Any other name, or a failed import, goes through the scan.
BUILTIN = {
    "aws": "dynsecrets.providers.aws:AWSProvider",
    "alicloud": "dynsecrets.providers.alicloud:AliCloudProvider",
}

# Built-in providers whose SDK comes with an extra: the hint for an unknown name.
_EXTRAS = {"aws": "aws", "gcp": "gcp", "azure": "azure", "alicloud": "alicloud"}


class ProviderRegistry:
    """Maps provider names to provider classes.

    ``register`` adds one explicitly (tests, applications that embed a private
    provider); everything else comes from installed distributions' entry points.
    """

    def __init__(self, *, entry_points: bool = True) -> None:
        self._explicit: dict[str, type[Provider]] = {}
        self._loaded: dict[str, type[Provider]] = {}
        self._eps: dict[str, EntryPoint] | None = None if entry_points else {}
        self._lock = threading.Lock()

    def register(self, provider: type[Provider], name: str | None = None) -> None:
        self._explicit[name or provider.name] = provider

    def unregister(self, name: str) -> None:
        self._explicit.pop(name, None)

    def _entry_points(self) -> dict[str, EntryPoint]:
        with self._lock:
            if self._eps is None:
                # Imported here, not at module level: it costs ~20 ms, paid only by
                # the first provider lookup.
                from importlib import metadata

                self._eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
            return self._eps

    def refresh(self) -> None:
        """Forget the entry-point scan, e.g. after installing a plugin at run time."""
        with self._lock:
            self._eps = None
            self._loaded.clear()

    def names(self) -> list[str]:
        return sorted(set(self._explicit) | set(self._entry_points()))

    def get(self, name: str) -> type[Provider]:
        if name in self._explicit:
            return self._explicit[name]
        if name in self._loaded:
            return self._loaded[name]
        if name in BUILTIN and self._eps is None:
            cls = self._builtin(name)
            if cls is not None:
                return cls
        ep = self._entry_points().get(name)
        if ep is None:
            installed = ", ".join(self.names()) or "none"
            hint = (
                f"; install it with: pip install 'dynsecrets[{_EXTRAS[name]}]'"
                if name in _EXTRAS
                else "; install the distribution that provides it"
            )
            raise ProviderNotFound(f"no provider named {name!r} (installed: {installed}){hint}")
        try:
            cls = ep.load()
        except Exception as exc:
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            raise ProviderLoadError(
                f"provider {name!r} from distribution {dist!r} failed to load "
                f"({type(exc).__name__}: {exc}); reinstall or upgrade {dist}"
            ) from exc
        self._loaded[name] = cls
        return cls  # type: ignore[no-any-return]

    def _builtin(self, name: str) -> type[Provider] | None:
        import importlib

        module, _, attr = BUILTIN[name].partition(":")
        try:
            cls: type[Provider] = getattr(importlib.import_module(module), attr)
        except Exception:  # the scan below reports it, with the distribution's name
            return None
        with self._lock:
            self._loaded[name] = cls
        return cls
