"""A fake cloud and the provider that speaks to it.

``FakeCloud`` behaves like a small IAM: users, attached policies and keys, with
the cloud's rules (a user with keys cannot be deleted; names are unique) and its
error codes. ``FakeProvider`` is written exactly as a real provider is: it maps
the cloud's errors to dynsecrets errors, retries throttling and revokes
idempotently. Tests inspect ``cloud`` and inject faults into it.
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import attrs

from .._names import random_base62
from ..clock import Clock, SystemClock
from ..errors import DynSecretsError, PermanentProviderError, TransientProviderError
from ..models import Capabilities
from ..providers.base import Issued, IssueRequest, ManagedIdentity, Provider, RevokeErrors
from ..schema import Field, Schema

__all__ = ["FakeCloud", "FakeCloudError", "FakeProvider"]

T = TypeVar("T")

TRANSIENT_CODES = frozenset({"Throttling", "ServiceUnavailable", "InternalError"})


class FakeCloudError(Exception):
    """What the fake cloud's "SDK" raises; providers must never let it escape."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {message}" if message else code)


@attrs.define
class FakeUser:
    name: str
    tags: dict[str, str]
    policies: list[str] = attrs.field(factory=list)
    keys: dict[str, str] = attrs.field(factory=dict, repr=False)
    created_at: float = 0.0


@attrs.define
class _Fault:
    op: str
    nth: int
    times: int
    code: str
    seen: int = 0
    after: bool = False  # the call takes effect, then its reply is lost


class FakeCloud:
    """In-memory cloud state, thread-safe, with fault injection.

    - ``fail(op, nth=1, times=1, code="AccessDenied")``: the ``nth`` call of ``op``
      and the ``times - 1`` after it raise ``code``.
    - ``throttle(op, times=3)``: the next ``times`` calls of ``op`` are throttled.
    - ``lose_reply(op, nth=1, times=1)``: the call takes effect, then fails with a
      5xx as if its reply was lost on the way back.
    - ``down = True``: every call fails with ServiceUnavailable until set back.
    - ``latency``: seconds each call waits, on the cloud's clock.
    - ``calls``: a Counter of calls per operation; ``deletions`` counts user deletions.
    """

    OPERATIONS = (
        "create_user",
        "delete_user",
        "list_users",
        "attach_policy",
        "detach_policy",
        "create_key",
        "delete_key",
        "list_keys",
        "issue_token",
        "renew",
        "rotate_root",
    )

    def __init__(self, clock: Clock | None = None, latency: float = 0.0) -> None:
        self.clock: Clock = clock or SystemClock()
        self.latency = latency
        self.down = False
        self.users: dict[str, FakeUser] = {}
        self.root_key = "root-" + random_base62(8)
        self.calls: Counter[str] = Counter()
        self.deletions: Counter[str] = Counter()
        self.renewals: list[tuple[str, float]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._on_call: list[Callable[[str], None]] = []

    # -- fault injection ----------------------------------------------------------
    def fail(self, op: str, *, nth: int = 1, times: int = 1, code: str = "AccessDenied") -> None:
        if op not in self.OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; one of {self.OPERATIONS}")
        self._faults.append(_Fault(op, nth, times, code))

    def lose_reply(self, op: str, *, nth: int = 1, times: int = 1) -> None:
        if op not in self.OPERATIONS:
            raise ValueError(f"unknown operation {op!r}; one of {self.OPERATIONS}")
        self._faults.append(_Fault(op, nth, times, "ServiceUnavailable", after=True))

    def _leave(self, op: str) -> None:
        with self._lock:
            for f in self._faults:
                if f.op == op and f.after:
                    f.seen += 1
                    if f.nth <= f.seen < f.nth + f.times:
                        raise FakeCloudError(f.code, f"reply to {op} call {f.seen} lost")

    def throttle(self, op: str, *, times: int = 3) -> None:
        self.fail(op, nth=1, times=times, code="Throttling")

    def on_call(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(op)`` before each operation (e.g. to crash a process mid-issue)."""
        self._on_call.append(hook)

    def reset_faults(self) -> None:
        self._faults.clear()
        self.down = False

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.down = True
        try:
            yield
        finally:
            self.down = False

    def _enter(self, op: str) -> None:
        for hook in self._on_call:
            hook(op)
        if self.latency:
            self.clock.sleep(self.latency)
        with self._lock:
            self.calls[op] += 1
            if self.down:
                raise FakeCloudError("ServiceUnavailable", "the fake cloud is down")
            for f in self._faults:
                if f.op != op or f.after:
                    continue
                f.seen += 1
                if f.nth <= f.seen < f.nth + f.times:
                    raise FakeCloudError(f.code, f"injected fault on {op} call {f.seen}")

    def _user(self, name: str) -> FakeUser:
        user = self.users.get(name)
        if user is None:
            raise FakeCloudError("NoSuchEntity", f"user {name} does not exist")
        return user

    # -- the cloud's API ----------------------------------------------------------
    def create_user(self, name: str, tags: Mapping[str, str]) -> None:
        self._enter("create_user")
        with self._lock:
            if name in self.users:
                raise FakeCloudError("EntityAlreadyExists", f"user {name} exists")
            if len(name) > 64:
                raise FakeCloudError("ValidationError", "user name longer than 64")
            self.users[name] = FakeUser(name, dict(tags), created_at=self.clock.now())

    def delete_user(self, name: str) -> None:
        self._enter("delete_user")
        with self._lock:
            user = self._user(name)
            if user.keys or user.policies:
                raise FakeCloudError("DeleteConflict", f"user {name} still has keys or policies")
            del self.users[name]
            self.deletions[name] += 1

    def list_users(self) -> list[FakeUser]:
        self._enter("list_users")
        with self._lock:
            return list(self.users.values())

    def attach_policy(self, name: str, policy: str) -> None:
        self._enter("attach_policy")
        with self._lock:
            user = self._user(name)
            if policy not in user.policies:
                user.policies.append(policy)

    def detach_policy(self, name: str, policy: str) -> None:
        self._enter("detach_policy")
        with self._lock:
            user = self._user(name)
            if policy not in user.policies:
                raise FakeCloudError("NoSuchEntity", f"{policy} is not attached to {name}")
            user.policies.remove(policy)

    def create_key(self, name: str) -> tuple[str, str]:
        self._enter("create_key")
        with self._lock:
            user = self._user(name)
            if len(user.keys) >= 2:
                raise FakeCloudError("LimitExceeded", "a user may hold 2 keys")
            key_id = "FAKE" + random_base62(16).upper()
            secret = secrets.token_urlsafe(30)
            user.keys[key_id] = secret
            self._leave("create_key")
            return key_id, secret

    def delete_key(self, name: str, key_id: str) -> None:
        self._enter("delete_key")
        with self._lock:
            user = self._user(name)
            if user.keys.pop(key_id, None) is None:
                raise FakeCloudError("NoSuchEntity", f"key {key_id} does not exist")

    def list_keys(self, name: str) -> list[str]:
        self._enter("list_keys")
        with self._lock:
            return list(self._user(name).keys)

    def issue_token(self, ttl: int) -> tuple[str, float]:
        self._enter("issue_token")
        return "tok-" + secrets.token_urlsafe(24), self.clock.now() + ttl

    def renew(self, name: str, until: float) -> None:
        self._enter("renew")
        with self._lock:
            self._user(name)
            self.renewals.append((name, until))

    def rotate_root(self, old: str) -> str:
        self._enter("rotate_root")
        with self._lock:
            if old != self.root_key:
                raise FakeCloudError("InvalidClientTokenId", "the root key is not valid")
            self.root_key = "root-" + random_base62(8)
            return self.root_key

    # -- inspection -----------------------------------------------------------------
    def managed_users(self, mount: str | None = None) -> list[str]:
        with self._lock:
            return sorted(
                u.name
                for u in self.users.values()
                if "dynsecrets-mount" in u.tags
                and (mount is None or u.tags["dynsecrets-mount"] == mount)
            )


def _map(op: str, exc: FakeCloudError) -> DynSecretsError:
    cls = TransientProviderError if exc.code in TRANSIENT_CODES else PermanentProviderError
    return cls(f"fake cloud {op} failed: {exc.code}", operation=op, code=exc.code)


class FakeProvider(Provider):
    """Provider ``fake``: IAM-like users with policies and keys, or unrevocable tokens.

    Role fields: ``credential_type`` (``user`` or ``token``), ``policies`` (names).
    Config: ``account`` and a secret ``api_key`` (checked against the cloud's root
    key when set, so rotate_root can be tested).
    """

    name: ClassVar[str] = "fake"
    config_schema = Schema(
        {
            "account": Field("str", default="fake-account", pattern=r"[a-z0-9-]{1,32}"),
            "api_key": Field("str", secret=True),
        },
        what="config",
    )
    role_schema = Schema(
        {
            "credential_type": Field("str", default="user", choices=("user", "token")),
            "policies": Field("list", default=[], pattern=r"[A-Za-z0-9][A-Za-z0-9:_.*-]{0,127}"),
        },
        what="role",
    )
    #: Longest lifetime the fake cloud gives a token, like STS's caps.
    TOKEN_MAX_TTL = 12 * 3600

    #: Set by :meth:`sharing` so that every instance talks to one cloud.
    shared_cloud: ClassVar[FakeCloud | None] = None

    def __init__(self, context: Any = None, cloud: FakeCloud | None = None) -> None:
        super().__init__(context)
        self.cloud = cloud or self.shared_cloud or FakeCloud(clock=self.context.clock)

    @classmethod
    def sharing(cls, cloud: FakeCloud) -> type[FakeProvider]:
        """A FakeProvider class whose instances all use ``cloud``: register it to let
        several engines (a restart, two workers) see the same fake cloud."""
        return type("SharedFakeProvider", (cls,), {"shared_cloud": cloud})

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return fn()
            except FakeCloudError as exc:
                raise _map(op, exc) from exc

        return self.context.retry.call(once)

    def _auth(self, config: Mapping[str, Any]) -> None:
        key = config.get("api_key")
        if key is not None and key != self.cloud.root_key:
            raise PermanentProviderError(
                "fake cloud rejected the api_key (InvalidClientTokenId)",
                operation="auth",
                code="InvalidClientTokenId",
            )

    def check_role(self, name: str, role: dict[str, Any]) -> dict[str, Any]:
        if role["credential_type"] == "token" and role["policies"]:
            from ..errors import ValidationError

            raise ValidationError(
                "policies", "tokens carry no policies; remove policies or use credential_type=user"
            )
        return role

    def capabilities(self, role: Mapping[str, Any]) -> Capabilities:
        if role.get("credential_type") == "token":
            return Capabilities(renewable=False, revocable=False)
        return Capabilities()

    def max_ttl(self, role: Mapping[str, Any]) -> int | None:
        return self.TOKEN_MAX_TTL if role.get("credential_type") == "token" else None

    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        if request.role.get("credential_type") == "token":
            return {"type": "token"}
        # 64 chars at most, like IAM; the role part is cut first, 12 random chars stay.
        user = f"fake-{request.role_name[:40]}-{random_base62(12)}"
        return {"type": "user", "user": user, "policies": list(request.role.get("policies", []))}

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        try:
            self._auth(config)
        except PermanentProviderError as exc:
            exc.nothing_created = True
            raise
        if plan["type"] == "token":
            token, expires = self._call("issue_token", lambda: self.cloud.issue_token(request.ttl))
            return Issued(data={"token": token}, expires_at=expires, env={"FAKE_TOKEN": token})
        user = plan["user"]
        tags = {
            "dynsecrets-mount": request.mount,
            "dynsecrets-lease": request.lease_id,
            "dynsecrets-store": request.store_id,
        }
        try:
            self._call("create_user", lambda: self.cloud.create_user(user, tags))
        except PermanentProviderError as exc:
            exc.nothing_created = exc.code != "EntityAlreadyExists"
            raise
        for policy in plan["policies"]:
            self._call("attach_policy", functools.partial(self.cloud.attach_policy, user, policy))
        key_id, secret = self._create_key(user)
        return Issued(
            data={"user": user, "access_key": key_id, "secret_key": secret},
            secret_keys=frozenset({"secret_key"}),
            revocation={"user": user, "key_id": key_id},
            env={"FAKE_ACCESS_KEY": key_id, "FAKE_SECRET_KEY": secret},
        )

    def _create_key(self, user: str) -> tuple[str, str]:
        # A create whose reply was lost may still have made a key nobody was given:
        # before creating again, delete every key the user holds (none is ours yet).
        tried = False

        def once() -> tuple[str, str]:
            nonlocal tried
            try:
                if tried:
                    for key_id in self.cloud.list_keys(user):
                        self.cloud.delete_key(user, key_id)
                tried = True
                return self.cloud.create_key(user)
            except FakeCloudError as exc:
                raise _map("create_key", exc) from exc

        return self.context.retry.call(once)

    def renew(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any],
        expires_at: float,
    ) -> None:
        if plan.get("type") == "user":
            self._call("renew", lambda: self.cloud.renew(plan["user"], expires_at))

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        if plan.get("type") != "user":
            return
        self._auth(config)
        user = plan["user"]
        errors: list[DynSecretsError] = []

        def step(op: str, fn: Callable[[], Any]) -> Any:
            try:
                return self._call(op, fn)
            except PermanentProviderError as exc:
                if exc.code == "NoSuchEntity":
                    return None
                errors.append(exc)
            except TransientProviderError as exc:
                errors.append(exc)
            return None

        # Keys are listed rather than taken from `revocation`: a crash after
        # create_key but before the lease was stored leaves a key we never saw.
        for key_id in step("list_keys", lambda: self.cloud.list_keys(user)) or []:
            step("delete_key", functools.partial(self.cloud.delete_key, user, key_id))
        for policy in plan.get("policies", []):
            step("detach_policy", functools.partial(self.cloud.detach_policy, user, policy))
        if not errors:
            step("delete_user", lambda: self.cloud.delete_user(user))
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise RevokeErrors(errors)

    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        old = config.get("api_key") or self.cloud.root_key
        new = {**config, "api_key": self._call("rotate_root", lambda: self.cloud.rotate_root(old))}
        persist(new)
        return new

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        users = self._call("list_users", self.cloud.list_users)
        return [
            ManagedIdentity(
                id=u.name,
                lease_id=u.tags.get("dynsecrets-lease"),
                created_at=u.created_at,
                store_id=u.tags.get("dynsecrets-store"),
            )
            for u in users
            if u.tags.get("dynsecrets-mount") == mount
        ]

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        user = self.cloud.users.get(identity.id)
        policies = list(user.policies) if user else []
        self.revoke(config, {"type": "user", "user": identity.id, "policies": policies}, None)
