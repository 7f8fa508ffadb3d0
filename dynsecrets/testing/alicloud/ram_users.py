"""RAM actions on users and their access keys, login profiles, MFA devices and
group memberships, with RAM's refusals: DeleteUser while the user still has keys,
policies, groups or an MFA device (``DeleteConflict.User.*``), a third access key
(``LimitExceeded.User.AccessKey``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .records import MAX_KEYS_PER_USER, AccountData, ApiError, need, now, user_name

__all__ = ["UserActions"]


class UserActions(AccountData):
    # -- users -----------------------------------------------------------------------------
    def _CreateUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = user_name(p)
        for field in ("DisplayName", "Comments"):
            if len(p.get(field, "")) > 128:
                raise ApiError(400, f"InvalidParameter.{field}.Length", f"{field} is too long.")
        if name in self.users:
            raise ApiError(409, "EntityAlreadyExists.User", f"The user already exists: {name}.")
        user = self.add_user(name)
        user.display_name = p.get("DisplayName") or name
        user.comments = p.get("Comments", "")
        return {"User": user.view()}

    def _GetUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        return {"User": self.get_user(user_name(p)).view()}

    def _ListUsers(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        names = sorted(self.users)
        marker, size_text = p.get("Marker") or "0", p.get("MaxItems") or "100"
        if not marker.isdigit():  # only a Marker this fake handed out
            raise ApiError(400, "InvalidParameter.Marker", "The parameter Marker is invalid.")
        if not size_text.isdigit():
            raise ApiError(400, "InvalidParameter.MaxItems", "MaxItems must be 1-1000.")
        start, size = int(marker), int(size_text)
        if not 1 <= size <= 1000:
            raise ApiError(400, "InvalidParameter.MaxItems", "MaxItems must be 1-1000.")
        page = names[start : start + size]
        out: dict[str, Any] = {
            "Users": {"User": [self.users[n].view() for n in page]},
            "IsTruncated": start + size < len(names),
        }
        if out["IsTruncated"]:
            out["Marker"] = str(start + size)
        return out

    def _DeleteUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        if user.keys:
            raise ApiError(409, "DeleteConflict.User.AccessKey", "The user has access keys.")
        if user.policies:
            raise ApiError(409, "DeleteConflict.User.Policy", "The user has attached policies.")
        if user.groups:
            raise ApiError(409, "DeleteConflict.User.Group", "The user is in groups.")
        if user.mfa_device:
            raise ApiError(409, "DeleteConflict.User.MFADevice", "The user has an MFA device.")
        del self.users[user.name]
        return {}

    def _DeleteLoginProfile(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        if not user.login_profile:
            raise ApiError(
                404, "EntityNotExist.User.LoginProfile", "The login profile does not exist."
            )
        user.login_profile = False
        return {}

    def _GetUserMFAInfo(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        if not user.mfa_device:
            raise ApiError(404, "EntityNotExist.User.MFADevice", "The user has no MFA device.")
        return {"MFADevice": {"SerialNumber": user.mfa_device, "Type": "VMFA"}}

    def _UnbindMFADevice(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        if not user.mfa_device:
            raise ApiError(404, "EntityNotExist.User.MFADevice", "The user has no MFA device.")
        serial, user.mfa_device = user.mfa_device, None
        return {"MFADevice": {"SerialNumber": serial}}

    def _ListGroupsForUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        groups = [{"GroupName": g, "Comments": "", "JoinDate": now()} for g in sorted(user.groups)]
        return {"Groups": {"Group": groups}}

    def _RemoveUserFromGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        group = need(p, "GroupName")
        if group not in user.groups:
            raise ApiError(404, "EntityNotExist.User.Group", "The user is not in the group.")
        user.groups.discard(group)
        return {}

    # -- access keys -------------------------------------------------------------------------
    def _CreateAccessKey(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        if len(user.keys) >= MAX_KEYS_PER_USER:
            raise ApiError(
                409, "LimitExceeded.User.AccessKey", "The user already has two access keys."
            )
        key = self.add_key(user.name)
        return {
            "AccessKey": {
                "AccessKeyId": key.key_id,
                "AccessKeySecret": key.secret,
                "Status": "Active",
                "CreateDate": key.created,
            }
        }

    def _DeleteAccessKey(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        key_id = need(p, "UserAccessKeyId")
        if key_id not in user.keys:
            raise ApiError(404, "EntityNotExist.User.AccessKey", "The access key does not exist.")
        user.keys.remove(key_id)
        del self.keys[key_id]
        return {}

    def _ListAccessKeys(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.get_user(user_name(p))
        keys = [
            {"AccessKeyId": k, "Status": "Active", "CreateDate": self.keys[k].created}
            for k in user.keys
        ]
        return {"AccessKeys": {"AccessKey": keys}}
