"""Tidy's provider side for rolesets: the service accounts this mount created in
the config's project, as their descriptions tag them (``dynsecrets mount=<m>
role=<r> store=<id>``), each reported as owned by its roleset
(``ManagedIdentity.role``): the engine counts it as an orphan only when that role
no longer names it and no pending role operation does (a write, delete or rotate
in flight, whose plan names it).

Limits: only the config's project is listed (``project``, else the credentials'),
since an account whose plan was lost can be found nowhere else; deleting an
orphan leaves its former bindings to Google, which shows them as
``deleted:serviceAccount:...`` members granting nothing. Keys carry no label at
all, so a key whose lease record was lost is not found this way; rotating the
roleset removes it with its account.
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
            role = tags.get("role", "")
            found.append(
                ManagedIdentity(
                    id=account.email,
                    details={"kind": "roleset account", "role": role},
                    store_id=tags.get("store") or None,
                    role=role,
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
