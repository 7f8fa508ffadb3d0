"""Which of an account's user-managed keys nobody accounts for, and deleting them:
after a ``keys.create`` whose reply was lost (before it is retried), and for an
issue that never finished (rollback, or recovery after the process died).

A key's id exists only in the create's reply, and a key carries no label, so the
provider cannot tell from Google which lease a key is for. It learns what is
accounted for without touching the store (the contract, docs/plugins.md):

1. list the account's user-managed keys, first;
2. then take what is accounted for: the keys this provider instance made for
   *other* leases (the ``KeyLedger``, by lease id: creates on one account are
   serialised in the process), and, from the engine (``ProviderContext.leases``,
   read after the listing), the key of every stored lease that has revocation data;
3. the candidates are the keys made since ``since`` (less ``SKEW``) that nothing
   accounts for. Why reading the store after the listing is enough: an issuer
   stores its pending lease before its create, so any key in the listing belongs
   to a lease whose row existed before the listing; at the later read that row is
   active (its key is accounted for), gone (its revoke deleted the key first), or
   still pending;
4. a lease still pending and held by another engine's issuer (``in_flight``) on
   this account may own one of the candidates, indistinguishably: then wait, with
   store reads only, within the operation's deadline, until none is left, and
   re-check. When the deadline passes nothing is deleted: a transient error, and
   rollback or the worker tries again later. Otherwise delete the candidates.

So with many concurrent leases on one account, only the orphan is deleted. Without
an engine (``leases`` is None) only the ledger counts, and another process's key
made in the window would be deleted too (failing closed: its holder's key is
refused, never a working key left unaccounted for).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import DynSecretsError, TransientProviderError
from ...providers.base import KnownLease
from ...retry import RetryPolicy, remaining
from .clients import GoogleClients, call_timeout
from .errors import google_errors

if TYPE_CHECKING:
    from .keys import KeyLedger

__all__ = ["SKEW", "delete_key", "list_user_keys", "sweep"]

SKEW = 1.0  # Google stamps keys to the second; allow that and a little drift

Leases = Callable[[str], Sequence[KnownLease]]


def _name(email: str) -> str:
    return f"projects/-/serviceAccounts/{email}"


def list_user_keys(clients: GoogleClients, email: str) -> list[Any]:
    """The account's user-managed keys (one ListServiceAccountKeys call)."""
    clients.ensure_token("ListServiceAccountKeys")
    with google_errors("ListServiceAccountKeys"):
        reply = clients.iam.list_service_account_keys(
            request={"name": _name(email), "key_types": [1]},  # USER_MANAGED
            retry=None,
            timeout=call_timeout(),
        )
    return list(reply.keys)


def delete_key(clients: GoogleClients, key_name: str) -> None:
    try:
        with google_errors("DeleteServiceAccountKey"):  # token refresh included
            clients.keys.delete_service_account_key(key_name, timeout=call_timeout())
    except DynSecretsError as exc:
        if getattr(exc, "code", None) != "NOT_FOUND":  # gone already: success
            raise


def sweep(
    clients: GoogleClients,
    retry: RetryPolicy,
    ledger: KeyLedger,
    email: str,
    since: float,
    plan: Mapping[str, Any],
) -> int:
    """Delete the keys of ``email`` made since ``since`` that nothing accounts for,
    for the lease ``plan`` names (its own key, if the ledger holds it, included)."""
    try:
        keys = list_user_keys(clients, email)
    except DynSecretsError as exc:
        if getattr(exc, "code", None) == "NOT_FOUND":  # the account is gone, and its keys
            return 0
        raise
    me = str(plan.get("lease_id") or "")
    floor = math.floor(since) - SKEW
    candidates = {
        k.name
        for k in keys
        if (k.valid_after_time.timestamp() if k.valid_after_time else 0.0) >= floor
        and ledger.owner(k.name) in (None, me)
    }
    leases = ledger.leases
    if candidates and leases is not None and plan.get("mount"):
        candidates = _unaccounted(retry, leases, str(plan["mount"]), email, me, candidates)
    for name in sorted(candidates):
        delete_key(clients, name)
        ledger.discard(name)
    return len(candidates)


def _unaccounted(
    retry: RetryPolicy, leases: Leases, mount: str, email: str, me: str, candidates: set[str]
) -> set[str]:
    """Step 4: the candidates no stored lease holds, once no other engine's issue
    that may use ``email`` is in flight."""
    clock = retry.clock
    deadline = clock.now() + (remaining() or retry.budget)
    attempt = 0
    while True:
        known = [k for k in leases(mount) if k.lease_id != me]
        held = {str(k.revocation.get("key_name")) for k in known if k.revocation}
        left = candidates - held
        busy = [
            k.lease_id
            for k in known
            if k.in_flight
            and k.plan.get("type") == "key"
            and email in (k.plan.get("accounts") or [])
        ]
        if not left or not busy:
            return left
        wait = retry.delay(attempt)
        if clock.now() + wait > deadline:
            raise TransientProviderError(
                f"{len(left)} key(s) of {email} made since this lease was planned are not "
                f"accounted for, and {len(busy)} issue(s) by another process on that account "
                "are in flight and may own them; nothing was deleted: retried once those "
                "finish",
                operation="ListServiceAccountKeys",
                code="IN_FLIGHT",
            )
        clock.sleep(wait)
        attempt += 1
