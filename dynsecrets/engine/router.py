"""The Vault-style path API: ``engine.read("aws/creds/ec2")`` and friends, routed
through the routes the mount's provider declares (:mod:`dynsecrets.providers.routes`)
to the mount, role and lease operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._names import check_text, show
from ..errors import PathNotFound, RoleNotFound, ValidationError
from ..providers.routes import STATIC_ROUTES, Route, match
from ..ttl import parse_duration

if TYPE_CHECKING:
    from .facade import Engine
    from .mount import Mount

__all__ = ["Router"]

_Names = list[str]  # `list` is a method name below

_SYSTEM = frozenset({"sys", "auth", "identity", "cubbyhole"})
_VERBS = {
    "read": frozenset({"config", "lease_config", "role", "issue", "static_role", "static_creds"}),
    "write": frozenset(
        {"config", "lease_config", "rotate_root", "role", "issue", "role_action"}
        | {"static_role", "static_rotate"}
    ),
    "list": frozenset({"roles", "static_roles"}),
    "delete": frozenset({"config", "role", "static_role"}),
}


def _flag(value: Any) -> bool:
    """``verify=true`` as the path API and the CLI pass it (a bool or its text)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no", ""):
        return value.lower() in ("true", "1", "yes")
    raise ValidationError("verify", "must be true or false")


class Router:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, path: str, **fields: Any) -> Any:
        return self._dispatch("read", path, fields)

    def write(self, path: str, **fields: Any) -> Any:
        return self._dispatch("write", path, fields)

    def list(self, path: str) -> _Names:
        result: _Names = self._dispatch("list", path, {})
        return result

    def delete(self, path: str) -> None:
        self._dispatch("delete", path, {})

    def _dispatch(self, verb: str, path: str, fields: dict[str, Any]) -> Any:
        mount, route, role, rest = self.route(path)
        if route.action not in _VERBS[verb]:
            raise PathNotFound(f"cannot {verb} {show(path)}; {self._hint(mount)}")
        handler = getattr(self, f"_{route.action}")
        return handler(verb, mount, route, role, rest, fields)

    # -- actions ------------------------------------------------------------------------
    def _config(
        self, verb: str, mount: Mount, route: Route, role: Any, rest: Any, fields: Any
    ) -> Any:
        if verb == "read":
            return mount.read_config()
        if verb == "write":
            # As Vault: a write updates the fields it names and keeps the others (so
            # `hvac ...configure(4 fields)` keeps the endpoints written before).
            if mount.info.configured:
                fields = {**mount.root_config(), **fields}
            verify = fields.pop("verify", False)
            mount.configure(verify=_flag(verify), **fields)
            return None
        mount.delete_config()
        return None

    def _lease_config(
        self, verb: str, mount: Mount, route: Route, role: Any, rest: Any, fields: Any
    ) -> Any:
        if verb == "read":
            return mount.read_lease_config()
        unknown = set(fields) - {"lease", "lease_max"}
        if unknown:
            raise ValidationError(
                sorted(unknown)[0], "unknown field; config/lease takes lease and lease_max"
            )
        lease, lease_max = fields.get("lease"), fields.get("lease_max")
        self.engine.tune(
            mount.path,
            default_ttl=None if lease in (None, "") else parse_duration(lease, field="lease"),
            max_ttl=None
            if lease_max in (None, "")
            else parse_duration(lease_max, field="lease_max"),
        )
        return None

    def _rotate_root(self, verb: str, mount: Mount, *_: Any) -> Any:
        return mount.rotate_root()

    # -- static roles (the engine's own paths, STATIC_ROUTES) -----------------------------
    def _static_roles(self, verb: str, mount: Mount, *_: Any) -> _Names:
        return mount.static.names()

    def _static_role(
        self, verb: str, mount: Mount, route: Route, role: str, rest: Any, fields: Any
    ) -> Any:
        if verb == "write":
            return mount.static.write(role, **fields)
        if verb == "read":
            return mount.static.read(role)
        mount.static.delete(role)
        return None

    def _static_creds(self, verb: str, mount: Mount, route: Route, role: str, *_: Any) -> Any:
        return mount.static.creds(role)

    def _static_rotate(self, verb: str, mount: Mount, route: Route, role: str, *_: Any) -> Any:
        return mount.static.rotate(role)

    def _roles(self, verb: str, mount: Mount, route: Route, *_: Any) -> _Names:
        if route.kind is None:
            return mount.roles()
        field = mount.provider.role_kind_field
        return [n for n in mount.roles() if mount.read_role(n).fields.get(field) == route.kind]

    def _role(
        self, verb: str, mount: Mount, route: Route, role: str, rest: Any, fields: Any
    ) -> Any:
        if verb == "write":
            if route.kind is not None:
                fields = {**fields, mount.provider.role_kind_field: route.kind}
            verify = fields.pop("verify", False)
            mount.write_role(role, verify=_flag(verify), **fields)
            return None
        found = self._role_of_kind(mount, route, role)
        if verb == "read":
            return {**found, "name": role}
        mount.delete_role(role)
        return None

    def _issue(
        self, verb: str, mount: Mount, route: Route, role: str, rest: _Names, fields: Any
    ) -> Any:
        ttl = fields.pop("ttl", None)
        for key, fixed in route.options.items():
            if key in fields and fields[key] != fixed:
                raise ValidationError(
                    key,
                    f"is {fixed!r} on {'/'.join(rest)}; leave it out or use that path's sibling",
                )
        return self.engine._issue(
            mount.path,
            role,
            ttl,
            {**fields, **route.options},
            lease_path="/".join(rest),
            kind=route.kind,
        )

    def _role_action(
        self, verb: str, mount: Mount, route: Route, role: str, rest: Any, fields: Any
    ) -> Any:
        self._role_of_kind(mount, route, role)
        return mount.role_action(role, route.name or route.pattern.rsplit("/", 1)[-1], **fields)

    @staticmethod
    def _role_of_kind(mount: Mount, route: Route, role: str) -> dict[str, Any]:
        fields = mount.read_role(role).fields
        if route.kind is not None and fields.get(mount.provider.role_kind_field) != route.kind:
            raise RoleNotFound(f"no {route.kind} {role!r} at {mount.path}/")
        return dict(fields)

    # -- routing --------------------------------------------------------------------------
    def route(self, path: str) -> tuple[Mount, Route, str | None, _Names]:
        if not isinstance(path, str):
            raise ValidationError("path", "expected a string")
        check_text(path, "path")
        parts = path.strip("/").split("/")
        if parts[0] in _SYSTEM:
            raise PathNotFound(
                f"{parts[0]}/ paths are not served by the path API; use the lease and mount "
                "methods (engine.leases, engine.revoke, engine.mounts) instead"
            )
        if len(parts) < 2:
            raise PathNotFound(
                f"{show(path)} is not a path under a mount; try <mount>/roles/<name>"
            )
        mount = self.engine.mount(parts[0])
        found = match(mount.provider.routes + STATIC_ROUTES, parts[1:])
        if found is None:
            raise PathNotFound(f"{show(path)} is not a known path; {self._hint(mount)}")
        route, role = found
        return mount, route, role, parts[1:]

    @staticmethod
    def _hint(mount: Mount) -> str:
        routes = mount.provider.routes
        if mount.provider.static_role_schema is not None:
            routes += STATIC_ROUTES
        shown = [
            "<mount>/" + r.pattern.replace("{role}", "<role>" if r.action == "issue" else "<name>")
            for r in routes
            if r.shown
        ]
        listed = ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]
        return f"use {listed}"
