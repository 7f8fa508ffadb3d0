"""Service-account keys: ``keys.create`` per lease, ``keys.delete`` on revoke.

How the provider accounts for keys (a key's id exists only after ``keys.create``,
and a key carries no label to hold a lease id):

- ``plan`` records the accounts the lease may use and ``not_before``: Google's
  time before any create (our clock corrected by the offset learned from earlier
  replies' ``valid_after_time``);
- this process serialises creates on one account (a lock per account) and keeps
  the ids of the keys it created, by lease, until revoked (``KeyLedger``);
- a create whose reply was lost (a transient error, a dropped connection) is
  reconciled before it is retried, and an issue that never finished
  (``revocation`` is None: rollback, or recovery after the process died) is
  undone, both by :func:`.reconcile.sweep`: the account's keys made since then
  that neither the ledger (for another lease) nor the store (through
  ``ProviderContext.leases``, read after the listing) accounts for are deleted,
  once no other process's issue on that account is in flight.
"""

from __future__ import annotations

import base64
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import DynSecretsError, PermanentProviderError, RevokeErrors
from ...providers.base import Issued, KnownLease
from ...retry import RetryPolicy
from .clients import GoogleClients, call_timeout
from .errors import google_errors
from .keycalls import stamp_seconds
from .reconcile import SKEW, list_user_keys, sweep
from .reconcile import delete_key as _delete

__all__ = ["SKEW", "KeyLedger", "issue_key", "list_user_keys", "revoke_key"]

KEY_TYPES = {"TYPE_GOOGLE_CREDENTIALS_FILE": 2, "TYPE_PKCS12_FILE": 1}
KEY_ALGORITHMS = {"KEY_ALG_RSA_2048": 2, "KEY_ALG_RSA_1024": 1}


class KeyLedger:
    """Keys this process created and still accounts for (key name -> lease id), a
    lock per account, and the engine's view of the store's leases (``leases``)."""

    def __init__(self, leases: Callable[[str], Sequence[KnownLease]] | None = None) -> None:
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._live: dict[str, str] = {}
        #: Google's clock minus ours, learned from each new key's valid_after_time.
        self.offset = 0.0
        #: ``ProviderContext.leases``: what the store accounts for (reconcile only).
        self.leases = leases

    def google_now(self) -> float:
        return time.time() + self.offset

    def learn(self, stamp: float | None, local: float) -> None:
        """``stamp``: a new key's valid_after_time (epoch seconds), seen at ``local``."""
        if stamp:
            # Whole seconds on Google's side: keep the offset within a second.
            seen = stamp - local
            if abs(seen - self.offset) > 1.0:
                self.offset = seen

    def lock(self, account: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(account, threading.Lock())

    def add(self, key_name: str, lease_id: str = "") -> None:
        with self._lock:
            self._live[key_name] = lease_id

    def discard(self, key_name: str) -> None:
        with self._lock:
            self._live.pop(key_name, None)

    def owner(self, key_name: str) -> str | None:
        """The lease this process created the key for; None if it did not."""
        with self._lock:
            return self._live.get(key_name)

    def __contains__(self, key_name: object) -> bool:
        with self._lock:
            return key_name in self._live


def _name(email: str) -> str:
    return f"projects/-/serviceAccounts/{email}"


def issue_key(
    clients: GoogleClients,
    retry: RetryPolicy,
    ledger: KeyLedger,
    plan: Mapping[str, Any],
    now: Any,
) -> Issued:
    """Create one key on the first of the plan's accounts that has room."""
    accounts: list[str] = list(plan["accounts"])
    full: list[str] = []
    for email in accounts:
        with ledger.lock(email):
            key = _create_one(clients, retry, ledger, email, plan, now)
        if key is None:
            full.append(email)
            continue
        return _issued(key, email, plan)
    exc = PermanentProviderError(
        f"every account of the role ({len(accounts)}) holds Google's maximum of 10 "
        "user-managed keys; revoke leases of this role, or raise the roleset's "
        "max_accounts to spread keys over more accounts",
        operation="CreateServiceAccountKey",
        code="KEY_LIMIT",
    )
    exc.nothing_created = True
    raise exc


def _create_one(
    clients: GoogleClients,
    retry: RetryPolicy,
    ledger: KeyLedger,
    email: str,
    plan: Mapping[str, Any],
    now: Any,
) -> Any | None:
    """The new key (a raw ``ServiceAccountKey``), or None when the account is full
    (FAILED_PRECONDITION)."""
    started: list[float] = []
    name = _name(email)
    key_type = KEY_TYPES[plan["key_type"]]
    algorithm = KEY_ALGORITHMS[plan["key_algorithm"]]

    def once() -> Any:
        if started:
            # The last attempt may have created a key whose reply we lost:
            # reconcile before creating again, never after (the lock keeps this
            # process's other creates out of the window).
            sweep(clients, retry, ledger, email, started[-1], plan)
        started.append(now())
        with google_errors("CreateServiceAccountKey"):  # token refresh included
            key = clients.keys.create_service_account_key(
                name, key_type, algorithm, timeout=call_timeout()
            )
        ledger.add(key.name, plan["lease_id"])
        ledger.learn(stamp_seconds(key), time.time())
        return key

    try:
        return retry.call(once)
    except PermanentProviderError as exc:
        if exc.code == "FAILED_PRECONDITION":  # Google's 10-key limit (or a disabled account)
            return None
        exc.nothing_created = not started[:-1]  # a refused first create made nothing
        raise


def _issued(key: Any, email: str, plan: Mapping[str, Any]) -> Issued:
    data = {
        "private_key_data": base64.b64encode(key.private_key_data).decode(),
        "key_algorithm": plan["key_algorithm"],
        "key_type": plan["key_type"],
        "service_account_email": email,
    }
    return Issued(
        data=data,
        secret_keys=frozenset({"private_key_data"}),
        revocation={"account": email, "key_name": key.name},
        # GOOGLE_APPLICATION_CREDENTIALS needs a file: Lease.environ() writes it.
    )


def _sweep_since_plan(
    clients: GoogleClients,
    retry: RetryPolicy,
    ledger: KeyLedger,
    email: str,
    plan: Mapping[str, Any],
) -> int:
    return sweep(clients, retry, ledger, email, float(plan["not_before"]), plan)


def revoke_key(
    clients: GoogleClients,
    retry: RetryPolicy,
    ledger: KeyLedger,
    plan: Mapping[str, Any],
    revocation: Mapping[str, Any] | None,
) -> None:
    if revocation is not None:
        retry.call(lambda: _delete(clients, revocation["key_name"]))
        ledger.discard(revocation["key_name"])
        return
    errors: list[DynSecretsError] = []
    for email in plan["accounts"]:
        try:
            with ledger.lock(email):
                retry.call(
                    functools.partial(_sweep_since_plan, clients, retry, ledger, email, plan)
                )
        except DynSecretsError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else RevokeErrors(errors)
