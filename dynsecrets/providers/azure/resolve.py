"""Role names and group names to ids. A name must match exactly one object, or it
is an error naming the candidates: assigning "the first match" would grant a role
or group nobody chose. Results are cached briefly (role and group ids do not change
under their names often, and issue should cost the fewest calls)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...errors import PermanentProviderError
from ...retry import RetryPolicy

CACHE_SECONDS = 300.0


class Resolver:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > self.clock.now():
            return hit[1]
        return None

    def _store(self, key: tuple[str, ...], value: str) -> str:
        with self._lock:
            self._cache[key] = (self.clock.now() + CACHE_SECONDS, value)
        return value

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def role_definition(self, arm: Any, retry: RetryPolicy, entry: Mapping[str, str]) -> str:
        """The full role definition id for an ``azure_roles`` entry."""
        if entry.get("role_id"):
            return str(arm.role_definition_id(entry["role_id"]))
        scope, name = entry["scope"], entry["role_name"]
        key = ("role", arm.subscription_id, scope.lower(), name.lower())
        hit = self._cached(key)
        if hit:
            return hit
        found = retry.call(lambda: arm.find_role_definitions(scope, name))
        exact = [d for d in found if d["role_name"].lower() == name.lower()]
        if len(exact) != 1:
            shown = ", ".join(f"{d['role_name']} ({d['name']})" for d in exact) or "none"
            raise PermanentProviderError(
                f"role_name {name!r} at {scope} matches {len(exact)} role definitions "
                f"({shown}); give role_id instead",
                operation="ListRoleDefinitions",
                code="RoleNameAmbiguous" if exact else "RoleDefinitionDoesNotExist",
            )
        return self._store(key, arm.role_definition_id(exact[0]["name"]))

    def group(self, graph: Any, retry: RetryPolicy, entry: Mapping[str, str]) -> str:
        if entry.get("object_id"):
            return entry["object_id"]
        name = entry["group_name"]
        key = ("group", graph.base, name)
        hit = self._cached(key)
        if hit:
            return hit
        found = retry.call(lambda: graph.find_groups(name))
        if len(found) != 1:
            shown = ", ".join(str(g.get("id")) for g in found) or "none"
            raise PermanentProviderError(
                f"group_name {name!r} matches {len(found)} groups ({shown}); give object_id "
                "instead",
                operation="ListGroups",
                code="GroupNameAmbiguous" if found else "GroupNotFound",
            )
        return self._store(key, str(found[0]["id"]))
