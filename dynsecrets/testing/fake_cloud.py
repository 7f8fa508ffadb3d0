"""The fake cloud: in-memory IAM-like users, keys and tokens, with fault injection.
The state behind :class:`~dynsecrets.testing.FakeProvider`."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import attrs

from .._names import random_base62
from ..clock import Clock, SystemClock

__all__ = ["TRANSIENT_CODES", "FakeCloud", "FakeCloudError", "FakeUser"]

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
    key_created: dict[str, float] = attrs.field(factory=dict)


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
    - ``rate_limit(rate, burst=...)``: ``Throttling`` above ``rate`` calls per second
      of the cloud's clock (a token bucket); ``admitted``/``throttled`` count calls.
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
        self._bucket: list[float] | None = None  # [rate, burst, tokens, last refill]
        #: Calls let through and calls answered ``Throttling`` by :meth:`rate_limit`.
        self.admitted = 0
        self.throttled = 0
        #: Permissions the root key lacks (``verify`` reports them), e.g. {"fake:CreateUser"}.
        self.denied: set[str] = set()

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

    def rate_limit(self, rate: float | None, *, burst: float | None = None) -> None:
        """Answer ``Throttling`` to calls above ``rate`` per second (a token bucket
        of ``burst`` tokens, default ``rate``, on the cloud's clock), as real clouds
        do; ``None`` lifts the limit."""
        with self._lock:
            if rate is None:
                self._bucket = None
            else:
                size = rate if burst is None else burst
                self._bucket = [rate, size, size, self.clock.now()]

    def _take_token(self) -> bool:
        bucket = self._bucket
        if bucket is None:
            return True
        rate, size, tokens, last = bucket
        now = self.clock.now()
        tokens = min(size, tokens + (now - last) * rate)
        bucket[3] = now
        if tokens >= 1:
            bucket[2] = tokens - 1
            self.admitted += 1
            return True
        bucket[2] = tokens
        self.throttled += 1
        return False

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
            if not self._take_token():
                raise FakeCloudError("Throttling", f"rate exceeded for {op}")
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
            user.key_created[key_id] = self.clock.now()
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

    def key_dates(self, name: str) -> dict[str, float]:
        """Key ids and creation times (one ``list_keys`` call, as IAM returns dates)."""
        self._enter("list_keys")
        with self._lock:
            user = self._user(name)
            return {k: user.key_created.get(k, 0.0) for k in user.keys}

    def key_works(self, name: str, key_id: str, secret: str) -> bool:
        """Whether a key is accepted (tests use it as a separate client would)."""
        with self._lock:
            user = self.users.get(name)
            return user is not None and user.keys.get(key_id) == secret

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
