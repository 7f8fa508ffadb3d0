"""Who may do what in the fake: IAM permissions per principal, and
``testIamPermissions`` as Google answers it.

By default every principal holds every permission (the fake is a sandbox).
``restrict(principal, permissions)`` limits a principal (the root service account,
say) to the given permissions everywhere; ``deny(principal, *permissions)`` takes some
away; ``grant(principal, permissions, on=...)`` adds permissions on one resource only (a service account's email, ``projects/p``,
``b/bucket``), as a role binding on that resource would. A call lacking its
permission fails with PERMISSION_DENIED and Google's message; ``testIamPermissions``
returns the subset of the asked permissions the caller holds on the resource, and
refuses permissions that do not apply to the resource's type (INVALID_ARGUMENT),
as Google does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

__all__ = ["Access"]

_PERMISSION = re.compile(r"[a-z][a-zA-Z0-9]*\.[a-zA-Z0-9]+\.[a-zA-Z0-9]+")
#: Google's limit on permissions per testIamPermissions call.
MAX_TESTED = 100


def _applies(resource: str, permission: str) -> bool:
    """Whether ``permission`` can be tested on ``resource`` (by its type)."""
    if "@" in resource:  # a service account
        return permission.startswith(("iam.serviceAccounts.", "iam.serviceAccountKeys."))
    if resource.startswith("b/"):
        return permission.startswith("storage.")
    if (
        resource.startswith(("projects/", "folders/", "organizations/"))
        and resource.count("/") == 1
    ):
        return True  # a container: any permission can be granted on it
    service = {"topics": "pubsub.", "subscriptions": "pubsub.", "secrets": "secretmanager."}
    kind = resource.split("/")[-2] if "/" in resource else ""
    return permission.startswith(service.get(kind, ""))


class Access:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._only: dict[str, set[str]] = {}
        self._on: dict[tuple[str, str], set[str]] = {}
        self._denied: dict[str, set[str]] = {}

    def restrict(self, principal: str, permissions: Iterable[str]) -> None:
        """``principal`` holds only ``permissions`` (on every resource) from now on."""
        with self._lock:
            self._only[principal] = set(permissions)

    def deny(self, principal: str, *permissions: str) -> None:
        """Take ``permissions`` away from ``principal`` on every resource."""
        with self._lock:
            self._denied.setdefault(principal, set()).update(permissions)

    def grant(self, principal: str, permissions: Iterable[str], *, on: str) -> None:
        """Add ``permissions`` for ``principal`` on one resource."""
        with self._lock:
            self._on.setdefault((principal, on), set()).update(permissions)

    def reset(self) -> None:
        with self._lock:
            self._only.clear()
            self._on.clear()
            self._denied.clear()

    def allows(self, principal: str, permission: str, resource: str = "") -> bool:
        with self._lock:
            if permission in self._denied.get(principal, ()):
                return False
            only = self._only.get(principal)
            if only is None or permission in only:
                return True
            return permission in self._on.get((principal, resource), set())

    def test(self, principal: str, resource: str, permissions: list[str]) -> list[str]:
        """What ``testIamPermissions`` returns; raises ValueError for a bad request."""
        if len(permissions) > MAX_TESTED:
            raise ValueError(f"at most {MAX_TESTED} permissions per request")
        for p in permissions:
            if not _PERMISSION.fullmatch(p) or not _applies(resource, p):
                raise ValueError(f"Permission {p} is not valid for this resource.")
        return [p for p in permissions if self.allows(principal, p, resource)]
