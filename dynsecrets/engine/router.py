"""The Vault-style path API: ``engine.read("aws/creds/ec2")`` and friends, routed to
the mount, role and lease operations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._names import check_text, show
from ..errors import PathNotFound, ValidationError
from ..ttl import parse_duration

if TYPE_CHECKING:
    from .facade import Engine
    from .mount import Mount

__all__ = ["Router"]

_SYSTEM = frozenset({"sys", "auth", "identity", "cubbyhole"})


class Router:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, path: str, **fields: Any) -> Any:
        mount, kind, name = self.route(path)
        if kind == "config/root":
            return mount.read_config()
        if kind == "config/lease":
            return mount.read_lease_config()
        if kind == "roles" and name:
            return {**mount.read_role(name).fields, "name": name}
        if kind in ("creds", "sts") and name:
            ttl = fields.pop("ttl", None)
            return self.engine._issue(mount.path, name, ttl, fields, kind=kind)
        raise PathNotFound(f"cannot read {show(path)}; see the paths listed in engine.read's docs")

    def write(self, path: str, **fields: Any) -> Any:
        mount, kind, name = self.route(path)
        if kind == "config/root":
            mount.configure(**fields)
            return None
        if kind == "config/lease":
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
        if kind == "roles" and name:
            mount.write_role(name, **fields)
            return None
        if kind in ("creds", "sts") and name:
            ttl = fields.pop("ttl", None)
            return self.engine._issue(mount.path, name, ttl, fields, kind=kind)
        if kind in ("config/rotate-root", "rotate-root"):
            return mount.rotate_root()
        raise PathNotFound(f"cannot write {show(path)}")

    def list(self, path: str) -> list[str]:
        mount, kind, name = self.route(path)
        if kind == "roles" and not name:
            return mount.roles()
        raise PathNotFound(f"cannot list {show(path)}; try <mount>/roles")

    def delete(self, path: str) -> None:
        mount, kind, name = self.route(path)
        if kind == "roles" and name:
            mount.delete_role(name)
            return
        if kind == "config/root":
            self.engine.store.update_mount(mount.path, config=None)
            self.engine.core.events.record("config.delete", f"{mount.path}/config/root")
            return
        raise PathNotFound(f"cannot delete {show(path)}")

    def route(self, path: str) -> tuple[Mount, str, str | None]:
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
        rest = parts[1:]
        if rest[0] == "config" and len(rest) == 2 and rest[1] in ("root", "lease", "rotate-root"):
            return mount, f"config/{rest[1]}", None
        if rest == ["rotate-root"]:
            return mount, "rotate-root", None
        if rest[0] in ("roles", "creds", "sts") and len(rest) <= 2:
            return mount, rest[0], rest[1] if len(rest) == 2 else None
        raise PathNotFound(
            f"{show(path)} is not a known path; use <mount>/config/root, <mount>/config/lease, "
            "<mount>/roles/<name> or <mount>/creds/<role>"
        )
