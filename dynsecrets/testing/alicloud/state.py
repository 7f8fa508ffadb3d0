"""A fake Alibaba Cloud account: its state and the RAM and STS actions on it.

Actions, parameters, responses and error codes follow Alibaba Cloud's RAM
(2015-05-01) and STS (2015-04-01) API reference. They live by subject in
:mod:`.ram_users`, :mod:`.ram_groups`, :mod:`.ram_policies` and :mod:`.sts`; the records and the
parameter checks they share in :mod:`.records`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from .ram_groups import GroupActions
from .ram_policies import PolicyActions
from .ram_users import UserActions
from .records import ApiError, Key, Policy, Session, User
from .sts import StsActions

__all__ = ["Account", "ApiError", "Key", "Policy", "Session", "User"]


class Account(UserActions, GroupActions, PolicyActions, StsActions):
    """One Alibaba Cloud account: RAM users, policies, groups, roles, access keys.
    Thread-safe: the fake server calls it from a thread per connection."""

    # -- setup helpers (tests) -----------------------------------------------------
    def add_role(self, name: str, max_session: int = 3600) -> str:
        with self.lock:
            self.roles[name] = max_session
            return f"acs:ram::{self.account_id}:role/{name}"

    def attach(self, user: str, *policies: str, kind: str = "System") -> None:
        """Attach policies to a user, as an administrator would by hand."""
        with self.lock:
            for name in policies:
                self.handle(
                    "AttachPolicyToUser",
                    {"UserName": user, "PolicyType": kind, "PolicyName": name},
                    "",
                )

    def secret_for(self, key_id: str) -> str | None:
        with self.lock:
            key = self.keys.get(key_id)
            if key is not None:
                return key.secret
            session = self.sessions.get(key_id)
            return session.secret if session else None

    def check_token(self, key_id: str, token: str | None) -> None:
        """After the signature holds: STS credentials need their own, unexpired
        security token; a RAM user's key must not send one."""
        with self.lock:
            session = self.sessions.get(key_id)
        if session is None:
            if token:
                raise ApiError(
                    400,
                    "InvalidSecurityToken.MismatchWithAccessKey",
                    "The security token does not match the access key.",
                )
            return
        if not token:
            raise ApiError(400, "MissingSecurityToken", "The security token is mandatory.")
        if not hmac.compare_digest(token, session.token):
            raise ApiError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "The security token does not match the access key.",
            )
        if time.time() >= session.expires:
            raise ApiError(400, "InvalidSecurityToken.Expired", "The security token has expired.")

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, action: str, params: Mapping[str, str], caller: str) -> dict[str, Any]:
        fn: Callable[[Mapping[str, str], str], dict[str, Any]] | None = getattr(
            self, f"_{action}", None
        )
        if fn is None:
            raise ApiError(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")
        with self.lock:
            return fn(params, caller)
