"""RAM actions on policies and their attachments to users, with RAM's refusals:
DeletePolicy while the policy is attached (``DeleteConflict.Policy.User``), a
policy attached twice (``EntityAlreadyExists.User.Policy``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .records import (
    POLICY_DOCUMENT_MAX,
    POLICY_NAME,
    SYSTEM_POLICIES,
    AccountData,
    ApiError,
    Policy,
    need,
    now,
    policy_type,
    user_name,
)

__all__ = ["PolicyActions"]


class PolicyActions(AccountData):
    def _CreatePolicy(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = need(p, "PolicyName")
        if not POLICY_NAME.fullmatch(name):
            raise ApiError(
                400, "InvalidParameter.PolicyName.InvalidChars", "The policy name is invalid."
            )
        document = need(p, "PolicyDocument")
        if len(document) > POLICY_DOCUMENT_MAX:
            raise ApiError(400, "LimitExceeded.Policy.Document", "The policy document is too long.")
        try:
            doc = json.loads(document)
        except ValueError as exc:
            raise ApiError(
                400, "MalformedPolicyDocument", "The policy document is not JSON."
            ) from exc
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise ApiError(400, "MalformedPolicyDocument", "The policy has no Statement.")
        if len(p.get("Description", "")) > 1024:
            raise ApiError(400, "InvalidParameter.Description.Length", "Description is too long.")
        if name in self.policies or name in SYSTEM_POLICIES:
            raise ApiError(409, "EntityAlreadyExists.Policy", f"The policy already exists: {name}.")
        policy = Policy(name=name, document=document, description=p.get("Description", ""))
        self.policies[name] = policy
        return {
            "Policy": {
                "PolicyName": name,
                "PolicyType": "Custom",
                "Description": policy.description,
                "DefaultVersion": "v1",
                "CreateDate": policy.created,
            }
        }

    def _GetPolicy(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = policy_type(p), need(p, "PolicyName")
        if not self.policy_exists(kind, name):
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        policy = self.policies.get(name) if kind == "Custom" else None
        return {
            "Policy": {
                "PolicyName": name,
                "PolicyType": kind,
                "Description": policy.description if policy else "",
                "DefaultVersion": "v1",
                "AttachmentCount": policy.attachments if policy else 0,
            },
            "DefaultPolicyVersion": {
                "VersionId": "v1",
                "IsDefaultVersion": True,
                "PolicyDocument": policy.document if policy else SYSTEM_POLICIES[name],
            },
        }

    def _DeletePolicy(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = need(p, "PolicyName")
        policy = self.policies.get(name)
        if policy is None:
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        if any(("Custom", name) in g for g in self.group_policies.values()):
            raise ApiError(409, "DeleteConflict.Policy.Group", "The policy is attached to a group.")
        if policy.attachments:
            raise ApiError(409, "DeleteConflict.Policy.User", "The policy is attached to a user.")
        del self.policies[name]
        return {}

    def _AttachPolicyToUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = policy_type(p), need(p, "PolicyName")
        user = self.get_user(user_name(p))
        if not self.policy_exists(kind, name):
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        if (kind, name) in user.policies:
            raise ApiError(
                409, "EntityAlreadyExists.User.Policy", "The policy is already attached."
            )
        user.policies[(kind, name)] = now()
        if kind == "Custom":
            self.policies[name].attachments += 1
        return {}

    def _DetachPolicyFromUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = policy_type(p), need(p, "PolicyName")
        user = self.get_user(user_name(p))
        if (kind, name) not in user.policies:
            raise ApiError(
                404, "EntityNotExist.User.Policy", "The policy is not attached to the user."
            )
        del user.policies[(kind, name)]
        if kind == "Custom" and name in self.policies:
            self.policies[name].attachments -= 1
        return {}

    def _ListPoliciesForUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        items = []
        for (kind, name), date in sorted(user.policies.items()):
            desc = self.policies[name].description if kind == "Custom" else ""
            items.append(
                {
                    "PolicyName": name,
                    "PolicyType": kind,
                    "Description": desc,
                    "DefaultVersion": "v1",
                    "AttachDate": date,
                }
            )
        return {"Policies": {"Policy": items}}
