"""Tidy's provider side for rolesets: the service accounts this mount created, as
their descriptions tag them (``dynsecrets mount=<m> role=<r> store=<id>``), and
deleting one of them.

Not wired into ``Provider.list_managed`` yet: the engine's tidy treats an identity
without a lease as an orphan, and a roleset's account is owned by its role, not
by a lease; wiring it now would let ``tidy -apply`` delete live rolesets'
accounts. It needs the engine to treat ``details["role"]`` as the owner (an
orphan only when that role no longer lists the account, and no pending role
operation names it). Keys carry no label at all, so a key whose lease record was
lost cannot be found this way; recovery's sweep by creation time handles those.
"""

from __future__ import annotations

from typing import Any

from ...errors import PermanentProviderError
from ...providers.base import ManagedIdentity
from ...retry import RetryPolicy
from .accounts import delete_account
from .clients import GoogleClients, call_timeout
from .errors import google_errors
from .names import parse_description

__all__ = ["delete_roleset_account", "roleset_accounts"]


def roleset_accounts(
    clients: GoogleClients, retry: RetryPolicy, project: str, mount: str
) -> list[ManagedIdentity]:
    """Accounts in ``project`` tagged with ``mount`` (every store's: tidy keeps
    only its own store's)."""
    found: list[ManagedIdentity] = []
    token = ""
    while True:

        def page(token: str = token) -> Any:
            clients.ensure_token("ListServiceAccounts")
            with google_errors("ListServiceAccounts"):
                # The pager's attributes are the first reply's; we page ourselves so
                # that each page gets the retry policy and the deadline.
                return clients.iam.list_service_accounts(
                    request={"name": f"projects/{project}", "page_size": 100, "page_token": token},
                    retry=None,
                    timeout=call_timeout(),
                )

        reply = retry.call(page)
        for account in reply.accounts:
            tags = parse_description(account.description)
            if tags.get("mount") != mount:
                continue
            found.append(
                ManagedIdentity(
                    id=account.email,
                    details={"kind": "roleset account", "role": tags.get("role", "")},
                    store_id=tags.get("store") or None,
                )
            )
        token = reply.next_page_token
        if not token:
            return found


def delete_roleset_account(
    clients: GoogleClients, retry: RetryPolicy, identity: ManagedIdentity
) -> None:
    """Delete one account found above (its keys go with it); refuses anything that
    is not a roleset account. NOT_FOUND is success."""
    if identity.details.get("kind") != "roleset account":
        raise PermanentProviderError(
            f"{identity.id} is not a roleset account this provider listed",
            operation="tidy",
            code="NOT_OURS",
        )
    delete_account(clients, retry, identity.id)
