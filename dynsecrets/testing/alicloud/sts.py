"""STS actions: GetCallerIdentity and AssumeRole, with STS's parameter rules
(RoleSessionName 2-64 of ``[A-Za-z0-9._@-]``, DurationSeconds 900 to the role's
MaxSessionDuration). AssumeRole's credentials sign later calls with their security
token; GetCallerIdentity then answers for the assumed role and session."""

from __future__ import annotations

import json
import string
import time
from collections.abc import Mapping
from typing import Any

from .records import ROLE_ARN, SESSION_NAME, AccountData, ApiError, Session, need, rand

__all__ = ["StsActions"]


class StsActions(AccountData):
    def _GetCallerIdentity(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        session = self.sessions.get(caller)
        if session is not None:
            return {
                "AccountId": self.account_id,
                "PrincipalId": f"{session.role_id}:{session.name}",
                "RoleId": session.role_id,
                "IdentityType": "AssumedRoleUser",
                "Arn": f"acs:ram::{self.account_id}:assumed-role/{session.role}/{session.name}",
            }
        user = self.keys[caller].user
        if not user:  # the account's own key
            return {
                "AccountId": self.account_id,
                "UserId": self.account_id,
                "PrincipalId": self.account_id,
                "IdentityType": "Account",
                "Arn": f"acs:ram::{self.account_id}:root",
            }
        return {
            "AccountId": self.account_id,
            "UserId": self.users[user].user_id,
            "PrincipalId": self.users[user].user_id,
            "IdentityType": "RAMUser",
            "Arn": f"acs:ram::{self.account_id}:user/{user}",
        }

    def _AssumeRole(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        arn = need(p, "RoleArn")
        session = need(p, "RoleSessionName")
        if not SESSION_NAME.fullmatch(session):
            raise ApiError(
                400, "InvalidParameter.RoleSessionName", "The RoleSessionName is invalid."
            )
        match = ROLE_ARN.fullmatch(arn)
        if not match or match.group(1) != self.account_id or match.group(2) not in self.roles:
            raise ApiError(404, "EntityNotExist.Role", "The specified Role not exists.")
        max_session = self.roles[match.group(2)]
        try:
            seconds = int(p.get("DurationSeconds") or 3600)
        except ValueError as exc:
            raise ApiError(400, "InvalidParameter.DurationSeconds", "Not a number.") from exc
        if not 900 <= seconds <= max_session:
            raise ApiError(
                400,
                "InvalidParameter.DurationSeconds",
                f"DurationSeconds must be between 900 and {max_session}.",
            )
        if "Policy" in p:
            try:
                json.loads(p["Policy"])
            except ValueError as exc:
                raise ApiError(400, "InvalidParameter.PolicyGrammar", "Bad policy.") from exc
        until = int(time.time()) + seconds
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        role = match.group(2)
        role_id = self.role_ids.setdefault(role, "3" + rand(18, string.digits))
        creds = Session(
            key_id="STS." + rand(24),
            secret=rand(40),
            token=rand(120),
            role=role,
            name=session,
            role_id=role_id,
            expires=until,
        )
        self.sessions[creds.key_id] = creds  # usable, like any key, until it expires
        return {
            "Credentials": {
                "AccessKeyId": creds.key_id,
                "AccessKeySecret": creds.secret,
                "SecurityToken": creds.token,
                "Expiration": expires,
            },
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{self.account_id}:role/{match.group(2).lower()}/{session}",
                "AssumedRoleId": f"{role_id}:{session}",
            },
        }
