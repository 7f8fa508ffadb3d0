"""Dispatch of one request: authenticate, check the policy, call the engine.

Every path outside ``sys/`` and ``auth/`` goes to the engine's path API
(``engine.read/write/list/delete``) unchanged, so a provider's own paths (a GCP
``roleset/<name>/key``, an Azure ``rotate-root``) are served without a change
here. This module holds no lease logic: it maps HTTP to the library and back.
Everything in it is synchronous and runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ..errors import ValidationError
from ..models import Lease
from .auth import Caller, Policies, authenticate
from .responses import ApiError, Reply, envelope, error_reply, lease_reply
from .routes_sys import SysRoutes, health, iso, seal_status
from .tokens import Tokens

if TYPE_CHECKING:
    from ..engine import Engine


__all__ = ["Api", "Call"]

T = TypeVar("T")

#: What each operation needs from a policy (any one of them).
NEEDS: dict[str, tuple[str, ...]] = {
    "GET": ("read",),
    "LIST": ("list",),
    "POST": ("create", "update"),
    "DELETE": ("delete",),
}
_NOT_SERVED = ("auth/", "identity/", "cubbyhole/")
_OPEN: dict[str, Callable[[Engine], dict[str, Any]]] = {
    "sys/health": health,
    "sys/seal-status": lambda _engine: seal_status(),
    # No HA here: every node serves (the store coordinates them), none forwards.
    "sys/leader": lambda _engine: {
        "ha_enabled": False,
        "is_self": True,
        "leader_address": "",
        "leader_cluster_address": "",
        "performance_standby": False,
    },
}


@attrs.frozen
class Call:
    """One request, decoded: ``method`` is GET, LIST, POST (PUT too), DELETE or other
    (HEAD only reaches ``sys/health``: it must never issue a credential)."""

    method: str
    path: str
    query: Mapping[str, Any] = attrs.field(factory=dict)
    body: Mapping[str, Any] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)


class Api:
    """The server's handlers over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tokens = Tokens(engine)
        self.policies = Policies(self.tokens)
        self.sys = SysRoutes(self)

    def dispatch(self, call: Call) -> tuple[Reply, str | None]:
        """The reply, and the actor to audit (a token's accessor, never the token)."""
        actor: str | None = None
        try:
            path = call.path
            if path in _OPEN:  # unauthenticated, as in Vault
                if call.method not in ("GET", "HEAD"):
                    raise ApiError(405, "unsupported operation")
                return Reply(200, _OPEN[path](self.engine)), None
            caller = authenticate(self.tokens, self.policies, call.headers)
            actor = caller.actor
            with self.engine.acting_as(actor):
                if path.startswith("sys/"):
                    return self.sys.handle(call, caller), actor
                if path.startswith("auth/token/"):
                    return self._token(call, caller), actor
                if path.startswith(_NOT_SERVED) or path in ("sys", "auth"):
                    raise ApiError(404, f'no handler for route "{path}"; route entry not found')
                return self._path(call, caller), actor
        except Exception as exc:
            return error_reply(exc), actor

    # -- helpers shared with sys routes ------------------------------------------------------
    @staticmethod
    def need(caller: Caller, path: str, *caps: str, sudo: bool = False) -> None:
        if not caller.acl.allows(path, *caps, sudo=sudo):
            raise ApiError(403, "permission denied")

    def as_owner(self, caller: Caller, fn: Callable[[], T]) -> T:
        """Run ``fn`` so that leases it issues or renews do not outlive the caller's
        token (orphan tokens own no leases, so theirs are not cut)."""
        if caller.token.orphan:
            return fn()
        with self.engine.expiring_by(caller.token.expires_at):
            return fn()

    # -- the engine's path API ---------------------------------------------------------
    def _path(self, call: Call, caller: Caller) -> Reply:
        method = call.method
        if method == "GET" and str(call.query.get("list", "")).lower() in ("true", "1"):
            method = "LIST"
        needs = NEEDS.get(method)
        if needs is None:
            raise ApiError(405, "unsupported operation")
        path = call.path.strip("/")
        if not path:
            raise ApiError(404, "no handler for route; name a path under a mount")
        listing = method == "LIST"
        if not (
            caller.acl.allows(path, *needs) or (listing and caller.acl.allows(path + "/", *needs))
        ):
            raise ApiError(403, "permission denied")
        fields = dict(call.body if method == "POST" else call.query)
        fields.pop("list", None)
        if "path" in fields:  # the path API's own argument
            raise ValidationError("path", "is not a field of any path; remove it from the data")
        engine = self.engine
        if method == "LIST":
            keys = engine.list(path)
            if not keys:
                return Reply(404, {"errors": []})
            return Reply(200, envelope({"keys": list(keys)}))
        if method == "DELETE":
            engine.delete(path)
            return Reply(204)
        op = engine.read if method == "GET" else engine.write
        result = self.as_owner(caller, lambda: op(path, **fields))
        if isinstance(result, Lease):
            self.tokens.record_lease(caller.token, result.lease_id)
            return lease_reply(result)
        if result is None:
            return Reply(404, {"errors": []}) if method == "GET" else Reply(204)
        if isinstance(result, Mapping):
            return Reply(200, envelope(dict(result)))
        return Reply(200, envelope({"value": result}))

    # -- auth/token -----------------------------------------------------------------------
    def _token(self, call: Call, caller: Caller) -> Reply:
        op = call.path[len("auth/token/") :].strip("/")
        if op == "lookup-self":
            if call.method not in ("GET", "POST"):
                raise ApiError(405, "unsupported operation")
            return Reply(200, envelope(self._token_data(caller)))
        if call.method != "POST":
            raise ApiError(405, "unsupported operation")
        if op == "revoke-self":
            self.tokens.revoke(caller.token.accessor)
            return Reply(204)
        if op in ("create", "create-orphan"):
            return self._create_token(call, caller, orphan_path=op == "create-orphan")
        if op in ("revoke-accessor", "lookup-accessor"):
            self.need(caller, call.path, "update")
            accessor = call.body.get("accessor")
            if not isinstance(accessor, str) or not accessor:
                raise ValidationError("accessor", "name the token's accessor")
            if op == "revoke-accessor":
                self.tokens.revoke(accessor)
                return Reply(204)
            rec = self.tokens.by_accessor(accessor)
            return Reply(200, envelope(self._token_data(Caller(rec, caller.acl))))
        raise ApiError(404, f'no handler for route "{call.path}"; route entry not found')

    def _create_token(self, call: Call, caller: Caller, *, orphan_path: bool) -> Reply:
        path = call.path.strip("/")
        # An orphan escapes its parent's revocation: Vault asks for sudo (or root).
        self.need(caller, path, "create", "update", sudo=orphan_path)
        body = call.body
        policies = body.get("policies", list(caller.token.policies))
        if isinstance(policies, str):
            policies = [p.strip() for p in policies.split(",") if p.strip()]
        if not isinstance(policies, list):
            raise ValidationError("policies", "expected a list of policy names")
        orphan = orphan_path or bool(body.get("no_parent", False))
        if orphan and not orphan_path and "root" not in caller.token.policies:
            raise ApiError(400, "root or sudo privileges required to create orphan token")
        display = body.get("display_name", "")
        new = self.tokens.create(
            policies,
            ttl=body.get("ttl"),
            display_name=display if isinstance(display, str) else "",
            orphan=orphan,
            parent=caller.token,
        )
        rec = new.record
        auth = {
            "client_token": new.token,
            "accessor": rec.accessor,
            "policies": list(rec.policies),
            "token_policies": list(rec.policies),
            "metadata": None,
            "lease_duration": rec.ttl,
            "renewable": False,
            "entity_id": "",
            "token_type": "service",
            "orphan": rec.orphan,
            "num_uses": 0,
        }
        return Reply(200, envelope(None, auth=auth))

    def _token_data(self, caller: Caller) -> dict[str, Any]:
        rec = caller.token
        now = self.engine.clock.now()
        return {
            "accessor": rec.accessor,
            "creation_time": int(rec.created_at),
            "creation_ttl": rec.ttl,
            "display_name": rec.display_name or "token",
            "entity_id": "",
            "expire_time": iso(rec.expires_at),
            "explicit_max_ttl": 0,
            # Vault echoes the token itself here; this server never sends a token
            # anywhere but to the one who created it, once.
            "id": "",
            "issue_time": iso(rec.created_at),
            "meta": None,
            "num_uses": 0,
            "orphan": rec.orphan,
            "path": "auth/token/create",
            "policies": list(rec.policies),
            "renewable": False,
            "ttl": max(0, int(rec.expires_at - now)),
            "type": "service",
        }
