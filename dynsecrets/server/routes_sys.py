"""``sys/``: mounts, leases, capabilities and what Vault's clients ask on their own.

Each operation needs an explicit grant on its ``sys/`` path (deny by default); the
bulk lease operations (``revoke-prefix``, ``revoke-force``, listing leases) also need
``sudo``, as in Vault.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import LeaseNotFound, MountNotFound, ValidationError
from ..models import MountInfo
from ..ttl import format_time
from .auth import Caller
from .responses import ApiError, Reply, envelope

if TYPE_CHECKING:
    from ..engine import Engine
    from .routes import Api, Call

__all__ = ["SysRoutes", "health", "iso", "seal_status"]

# Vault's older lease paths, which some clients still call.
_ALIASES = {"sys/renew": "sys/leases/renew", "sys/revoke": "sys/leases/revoke"}


def iso(ts: float) -> str:
    return format_time(ts)


def health(engine: Engine) -> dict[str, Any]:
    return {
        "initialized": True,
        "sealed": False,
        "standby": False,
        "server_time_utc": int(engine.clock.now()),
        "version": f"dynsecrets {__version__}",
    }


def seal_status() -> dict[str, Any]:
    # dynsecrets has no seal: config is sealed with the store key, which the process
    # holds from start. Clients (the CLI's status, Terraform) only need "unsealed".
    return {
        "type": "shamir",
        "initialized": True,
        "sealed": False,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": f"dynsecrets {__version__}",
    }


def _ttl_field(body: Mapping[str, Any], key: str) -> Any:
    value = body.get(key)
    return None if value in (None, "", 0, "0", "system") else value


class SysRoutes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.engine = api.engine

    def handle(self, call: Call, caller: Caller) -> Reply:
        path = call.path.rstrip("/")
        path = next(
            (new + path[len(old) :] for old, new in _ALIASES.items() if path.startswith(old)), path
        )
        method = call.method
        if method == "GET" and str(call.query.get("list", "")).lower() in ("true", "1"):
            method = "LIST"
        if path == "sys/mounts":
            if method != "GET":
                raise ApiError(405, "unsupported operation")
            self.api.need(caller, path, "read")
            return self._mounts()
        if path.startswith("sys/mounts/"):
            return self._mount(method, path, call.body, caller)
        if path.startswith("sys/leases/"):
            return self._leases(method, path, call.body, caller)
        if path == "sys/capabilities-self":
            if method != "POST":
                raise ApiError(405, "unsupported operation")
            return self._capabilities(call.body, caller)
        if path == "sys/internal/ui/mounts" or path.startswith("sys/internal/ui/mounts/"):
            if method != "GET":
                raise ApiError(405, "unsupported operation")
            return self._ui_mounts(path[len("sys/internal/ui/mounts") :].strip("/"), caller)
        raise ApiError(
            404, f'no handler for route "{call.path}"; dynsecrets serves no such sys/ path'
        )

    # -- mounts ---------------------------------------------------------------------------
    def _entry(self, info: MountInfo) -> dict[str, Any]:
        seed = f"{self.engine.store_id}/{info.path}"
        return {
            "accessor": f"{info.provider}_{hashlib.sha256(seed.encode()).hexdigest()[:8]}",
            "config": {
                "default_lease_ttl": info.default_ttl,
                "force_no_cache": False,
                "max_lease_ttl": info.max_ttl,
            },
            "description": info.description,
            "external_entropy_access": False,
            "local": False,
            "options": None,
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
            "seal_wrap": False,
            "type": info.provider,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, seed)),
        }

    def _mounts(self) -> Reply:
        data = {f"{m.path}/": self._entry(m) for m in self.engine.mounts()}
        # Vault also repeats the mounts at the top level (older clients read them there).
        return Reply(200, {**data, **envelope(data)})

    def _find(self, path: str) -> MountInfo:
        found = next((m for m in self.engine.mounts() if m.path == path), None)
        if found is None:
            raise MountNotFound(f"no secrets engine is mounted at {path}/")
        return found

    def _mount(self, method: str, path: str, body: Mapping[str, Any], caller: Caller) -> Reply:
        rest = path[len("sys/mounts/") :]
        if rest.endswith("/tune"):
            mount = rest[: -len("/tune")]
            if method == "GET":
                self.api.need(caller, path, "read")
                info = self._find(mount)
                data = {
                    "default_lease_ttl": info.default_ttl,
                    "max_lease_ttl": info.max_ttl,
                    "force_no_cache": False,
                    "description": info.description,
                }
                return Reply(200, {**data, **envelope(data)})
            if method != "POST":
                raise ApiError(405, "unsupported operation")
            self.api.need(caller, path, "update")
            description = body.get("description")
            self.engine.tune(
                mount,
                default_ttl=_ttl_field(body, "default_lease_ttl"),
                max_ttl=_ttl_field(body, "max_lease_ttl"),
                description=description,
            )
            return Reply(204)
        if method == "GET":
            self.api.need(caller, path, "read")
            return Reply(200, envelope(self._entry(self._find(rest))))
        if method == "DELETE":
            self.api.need(caller, path, "delete")
            # Vault revokes a mount's leases when it is disabled; gone is not an error.
            with contextlib.suppress(MountNotFound):
                self.engine.disable(rest, revoke=True)
            return Reply(204)
        if method != "POST":
            raise ApiError(405, "unsupported operation")
        self.api.need(caller, path, "create", "update")
        kind = body.get("type") or body.get("plugin_name")
        if not isinstance(kind, str) or not kind:
            raise ValidationError("type", "name the secrets engine type, such as aws")
        config = body.get("config") or {}
        if not isinstance(config, Mapping):
            raise ValidationError("config", "expected an object")
        description = body.get("description") or ""
        self.engine.enable(
            rest,
            kind,
            default_ttl=_ttl_field(config, "default_lease_ttl"),
            max_ttl=_ttl_field(config, "max_lease_ttl"),
            description=description,
        )
        return Reply(204)

    # -- leases ---------------------------------------------------------------------------
    def _lease_id(self, path: str, op: str, body: Mapping[str, Any]) -> str:
        lease_id = path[len(op) :].strip("/") or body.get("lease_id")
        if not isinstance(lease_id, str) or not lease_id:
            raise ValidationError("lease_id", "name the lease (lease_id)")
        return lease_id

    def _leases(self, method: str, path: str, body: Mapping[str, Any], caller: Caller) -> Reply:
        engine = self.engine
        if path.startswith("sys/leases/lookup/") or (
            method == "LIST" and path == "sys/leases/lookup"
        ):
            if method != "LIST":
                raise ApiError(405, "unsupported operation")
            self.api.need(caller, path, "list", sudo=True)
            return self._list_leases(path[len("sys/leases/lookup") :].strip("/"))
        if method != "POST":
            raise ApiError(405, "unsupported operation")
        if path == "sys/leases/lookup":
            self.api.need(caller, path, "update")
            info = engine.lookup(self._lease_id(path, "sys/leases/lookup", body))
            now = engine.clock.now()
            data = {
                "id": info.lease_id,
                "issue_time": iso(info.issued_at),
                "expire_time": iso(info.expires_at),
                "last_renewal": None,
                "renewable": info.renewable,
                "ttl": info.ttl(now),
                "actor": info.actor,
                "age": info.age(now),
            }
            return Reply(200, envelope(data))
        if path.startswith("sys/leases/renew"):
            self.api.need(caller, "sys/leases/renew", "update")
            return self._renew(self._lease_id(path, "sys/leases/renew", body), body)
        if path.startswith("sys/leases/revoke-prefix/") or path.startswith(
            "sys/leases/revoke-force/"
        ):
            force = path.startswith("sys/leases/revoke-force/")
            self.api.need(caller, path, "update", sudo=True)
            prefix = path.split("/", 3)[3]
            summary = engine.revoke_prefix(prefix, force=force)
            if summary.failed:
                raise ApiError(
                    502,
                    f"{len(summary.failed)} lease(s) under {prefix} could not be revoked; they "
                    "stay in the store and are retried (revoke-force drops them)",
                )
            return Reply(204)
        if path.startswith("sys/leases/revoke"):
            self.api.need(caller, "sys/leases/revoke", "update")
            lease_id = self._lease_id(path, "sys/leases/revoke", body)
            # As Vault: revoking a lease that is gone succeeds.
            with contextlib.suppress(LeaseNotFound):
                engine.revoke(lease_id)
            self.api.tokens.forget_lease(lease_id)
            return Reply(204)
        if path == "sys/leases/tidy":
            self.api.need(caller, path, "update")
            revoked = engine.expire_due()
            note = f"tidy revoked {revoked} lease(s) that were due"
            return Reply(202, envelope(None, warnings=[note]))
        raise ApiError(404, f'no handler for route "{path}"')

    def _renew(self, lease_id: str, body: Mapping[str, Any]) -> Reply:
        increment = body.get("increment")
        if increment is not None and (
            isinstance(increment, bool) or not isinstance(increment, (int, str))
        ):
            raise ValidationError("increment", "expected seconds or a duration such as 1h")
        store = self.engine.store
        owner = store.lease_owner(lease_id)
        token = None if owner is None else store.get_token_by_accessor(owner)
        if token is not None:
            # Renewing never carries a lease past the token that owns it.
            with self.engine.expiring_by(token.expires_at):
                info = self.engine.renew(lease_id, increment=increment or None)
        else:
            info = self.engine.renew(lease_id, increment=increment or None)
        ttl = info.ttl(self.engine.clock.now())
        return Reply(
            200,
            envelope(None, lease_id=info.lease_id, lease_duration=ttl, renewable=info.renewable),
        )

    def _list_leases(self, prefix: str) -> Reply:
        base = f"{prefix}/" if prefix else ""
        keys: set[str] = set()
        for info in self.engine.leases(base):
            rest = info.lease_id[len(base) :]
            head, sep, _ = rest.partition("/")
            keys.add(head + sep)
        if not keys:
            return Reply(404, {"errors": []})
        return Reply(200, envelope({"keys": sorted(keys)}))

    # -- what clients ask on their own ----------------------------------------------------------
    def _capabilities(self, body: Mapping[str, Any], caller: Caller) -> Reply:
        paths = body.get("paths", body.get("path"))
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ValidationError("paths", "expected a list of paths")
        data: dict[str, Any] = {}
        for p in paths:
            caps = caller.acl.capabilities(p)
            data[p] = sorted(caps) if caps else ["deny"]
        if len(paths) == 1:
            data["capabilities"] = data[paths[0]]
        return Reply(200, {**data, **envelope(data)})

    def _ui_mounts(self, path: str, caller: Caller) -> Reply:
        mounts = self.engine.mounts()
        if not path:
            visible = {
                f"{m.path}/": {"type": m.provider, "description": m.description, "options": None}
                for m in mounts
                if caller.acl.may_see_mount(m.path)
            }
            return Reply(200, envelope({"secret": visible, "auth": {}}))
        first = path.split("/")[0]
        found = next((m for m in mounts if m.path == first), None)
        if found is None or not caller.acl.may_see_mount(found.path):
            # Vault answers the same for "no such mount" and "not yours".
            raise ApiError(403, "permission denied")
        return Reply(200, envelope({**self._entry(found), "path": f"{found.path}/"}))
