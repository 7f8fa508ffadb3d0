"""RAM actions on groups: creating one, adding users, attaching and listing its
policies (what ``verify`` reads when the root user's permissions come by group)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .records import AccountData, ApiError, need, now, policy_type, user_name

__all__ = ["GroupActions"]

GROUP_NAME = re.compile(r"[A-Za-z0-9.-]{1,64}")


class GroupActions(AccountData):
    def _group(self, p: Mapping[str, str]) -> str:
        name = need(p, "GroupName")
        if not GROUP_NAME.fullmatch(name):
            raise ApiError(400, "InvalidParameter.GroupName", "The parameter GroupName is invalid.")
        if name not in self.groups:
            raise ApiError(404, "EntityNotExist.Group", f"The group does not exist: {name}.")
        return name

    def _CreateGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = need(p, "GroupName")
        if not GROUP_NAME.fullmatch(name):
            raise ApiError(400, "InvalidParameter.GroupName", "The parameter GroupName is invalid.")
        if name in self.groups:
            raise ApiError(409, "EntityAlreadyExists.Group", f"The group already exists: {name}.")
        self.groups.add(name)
        self.group_policies[name] = {}
        return {
            "Group": {"GroupName": name, "Comments": p.get("Comments", ""), "CreateDate": now()}
        }

    def _AddUserToGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        group = self._group(p)
        user = self.get_user(user_name(p))
        if group in user.groups:
            raise ApiError(409, "EntityAlreadyExists.User.Group", "The user is already in it.")
        user.groups.add(group)
        return {}

    def _AttachPolicyToGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = policy_type(p), need(p, "PolicyName")
        group = self._group(p)
        if not self.policy_exists(kind, name):
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        attached = self.group_policies.setdefault(group, {})
        if (kind, name) in attached:
            raise ApiError(
                409, "EntityAlreadyExists.Group.Policy", "The policy is already attached."
            )
        attached[(kind, name)] = now()
        return {}

    def _DetachPolicyFromGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = policy_type(p), need(p, "PolicyName")
        attached = self.group_policies.setdefault(self._group(p), {})
        if attached.pop((kind, name), None) is None:
            raise ApiError(
                404, "EntityNotExist.Group.Policy", "The policy is not attached to the group."
            )
        return {}

    def _ListPoliciesForGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        attached = self.group_policies.get(self._group(p), {})
        items = [
            {
                "PolicyName": name,
                "PolicyType": kind,
                "Description": self.policies[name].description if kind == "Custom" else "",
                "DefaultVersion": "v1",
                "AttachDate": date,
            }
            for (kind, name), date in sorted(attached.items())
        ]
        return {"Policies": {"Policy": items}}
