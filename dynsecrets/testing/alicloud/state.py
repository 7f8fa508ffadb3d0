"""The state of a fake Alibaba Cloud account and the RAM and STS actions on it.

Actions, parameters, responses and error codes follow Alibaba Cloud's RAM
(2015-05-01) and STS (2015-04-01) API reference, including the refusals a real
account gives: DeleteUser while the user still has access keys, policies or
groups (``DeleteConflict.User.*``), DeletePolicy while the policy is attached
(``DeleteConflict.Policy.User``), a third access key (``LimitExceeded.User.AccessKey``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Account", "ApiError"]

USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
POLICY_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")
SESSION_NAME = re.compile(r"[A-Za-z0-9._@-]{2,64}")
ROLE_ARN = re.compile(r"acs:ram::(\d+):role/([A-Za-z0-9._-]{1,64})")
POLICY_DOCUMENT_MAX = 6144
MAX_KEYS_PER_USER = 2
#: A few of Alibaba's system policies, enough for tests.
SYSTEM_POLICIES = (
    "AliyunOSSReadOnlyAccess",
    "AliyunRDSReadOnlyAccess",
    "AliyunECSReadOnlyAccess",
    "ReadOnlyAccess",
)
_B62 = string.ascii_letters + string.digits


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _rand(n: int, alphabet: str = _B62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@attrs.define
class User:
    name: str
    user_id: str
    display_name: str = ""
    comments: str = ""
    created: str = attrs.field(factory=_now)
    keys: list[str] = attrs.field(factory=list)
    policies: dict[tuple[str, str], str] = attrs.field(factory=dict)  # (type, name) -> date
    groups: set[str] = attrs.field(factory=set)
    login_profile: bool = False
    mfa_device: str | None = None

    def view(self) -> dict[str, Any]:
        return {
            "UserName": self.name,
            "UserId": self.user_id,
            "DisplayName": self.display_name,
            "Comments": self.comments,
            "CreateDate": self.created,
            "UpdateDate": self.created,
        }


@attrs.define
class Policy:
    name: str
    document: str
    description: str = ""
    created: str = attrs.field(factory=_now)
    attachments: int = 0


@attrs.define
class Key:
    key_id: str
    secret: str
    user: str
    created: str = attrs.field(factory=_now)


def _need(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError(400, f"MissingParameter.{name}", f"{name} is mandatory for this action.")
    return value


def _user_name(params: Mapping[str, str]) -> str:
    name = _need(params, "UserName")
    if not USER_NAME.fullmatch(name):
        code = "Length" if not 1 <= len(name) <= 64 else "InvalidChars"
        raise ApiError(
            400, f"InvalidParameter.UserName.{code}", "The parameter UserName is invalid."
        )
    return name


def _policy_type(params: Mapping[str, str]) -> str:
    kind = _need(params, "PolicyType")
    if kind not in ("System", "Custom"):
        raise ApiError(400, "InvalidParameter.PolicyType", "PolicyType must be System or Custom.")
    return kind


class Account:
    """One Alibaba Cloud account: RAM users, policies, groups, roles, access keys.
    Thread-safe: the fake server calls it from a thread per connection."""

    def __init__(self, account_id: str = "1234567890123456") -> None:
        self.account_id = account_id
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.policies: dict[str, Policy] = {}
        self.groups: set[str] = set()
        #: role name -> MaxSessionDuration (seconds)
        self.roles: dict[str, int] = {}
        self.keys: dict[str, Key] = {}

    # -- setup helpers (tests) -----------------------------------------------------
    def add_user(self, name: str) -> User:
        with self.lock:
            user = User(name=name, user_id=_rand(16, string.digits))
            self.users[name] = user
            return user

    def add_key(self, user: str) -> Key:
        with self.lock:
            key = Key(key_id="LTAI" + _rand(20), secret=_rand(30), user=user)
            self.keys[key.key_id] = key
            self.users[user].keys.append(key.key_id)
            return key

    def add_role(self, name: str, max_session: int = 3600) -> str:
        with self.lock:
            self.roles[name] = max_session
            return f"acs:ram::{self.account_id}:role/{name}"

    def secret_for(self, key_id: str) -> str | None:
        with self.lock:
            key = self.keys.get(key_id)
            return key.secret if key else None

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, action: str, params: Mapping[str, str], caller: str) -> dict[str, Any]:
        fn: Callable[[Mapping[str, str], str], dict[str, Any]] | None = getattr(
            self, f"_{action}", None
        )
        if fn is None:
            raise ApiError(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")
        with self.lock:
            return fn(params, caller)

    def _get(self, name: str) -> User:
        user = self.users.get(name)
        if user is None:
            raise ApiError(404, "EntityNotExist.User", f"The user does not exist: {name}.")
        return user

    # -- users -----------------------------------------------------------------------------
    def _CreateUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = _user_name(p)
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
        return {"User": self._get(_user_name(p)).view()}

    def _ListUsers(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        names = sorted(self.users)
        start = int(p.get("Marker") or 0)
        size = int(p.get("MaxItems") or 100)
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
        user = self._get(_user_name(p))
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
        user = self._get(_user_name(p))
        if not user.login_profile:
            raise ApiError(
                404, "EntityNotExist.User.LoginProfile", "The login profile does not exist."
            )
        user.login_profile = False
        return {}

    def _GetUserMFAInfo(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
        if not user.mfa_device:
            raise ApiError(404, "EntityNotExist.User.MFADevice", "The user has no MFA device.")
        return {"MFADevice": {"SerialNumber": user.mfa_device, "Type": "VMFA"}}

    def _UnbindMFADevice(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
        if not user.mfa_device:
            raise ApiError(404, "EntityNotExist.User.MFADevice", "The user has no MFA device.")
        serial, user.mfa_device = user.mfa_device, None
        return {"MFADevice": {"SerialNumber": serial}}

    def _ListGroupsForUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
        groups = [{"GroupName": g, "Comments": "", "JoinDate": _now()} for g in sorted(user.groups)]
        return {"Groups": {"Group": groups}}

    def _RemoveUserFromGroup(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
        group = _need(p, "GroupName")
        if group not in user.groups:
            raise ApiError(404, "EntityNotExist.User.Group", "The user is not in the group.")
        user.groups.discard(group)
        return {}

    # -- access keys -------------------------------------------------------------------------
    def _CreateAccessKey(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
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
        user = self._get(_user_name(p))
        key_id = _need(p, "UserAccessKeyId")
        if key_id not in user.keys:
            raise ApiError(404, "EntityNotExist.User.AccessKey", "The access key does not exist.")
        user.keys.remove(key_id)
        del self.keys[key_id]
        return {}

    def _ListAccessKeys(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
        keys = [
            {"AccessKeyId": k, "Status": "Active", "CreateDate": self.keys[k].created}
            for k in user.keys
        ]
        return {"AccessKeys": {"AccessKey": keys}}

    # -- policies ----------------------------------------------------------------------------
    def _CreatePolicy(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = _need(p, "PolicyName")
        if not POLICY_NAME.fullmatch(name):
            raise ApiError(
                400, "InvalidParameter.PolicyName.InvalidChars", "The policy name is invalid."
            )
        document = _need(p, "PolicyDocument")
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
        kind, name = _policy_type(p), _need(p, "PolicyName")
        if not self._exists(kind, name):
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
                "PolicyDocument": policy.document if policy else "{}",
            },
        }

    def _DeletePolicy(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        name = _need(p, "PolicyName")
        policy = self.policies.get(name)
        if policy is None:
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        if policy.attachments:
            raise ApiError(409, "DeleteConflict.Policy.User", "The policy is attached to a user.")
        del self.policies[name]
        return {}

    def _exists(self, kind: str, name: str) -> bool:
        return name in SYSTEM_POLICIES if kind == "System" else name in self.policies

    def _AttachPolicyToUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = _policy_type(p), _need(p, "PolicyName")
        user = self._get(_user_name(p))
        if not self._exists(kind, name):
            raise ApiError(404, "EntityNotExist.Policy", f"The policy does not exist: {name}.")
        if (kind, name) in user.policies:
            raise ApiError(
                409, "EntityAlreadyExists.User.Policy", "The policy is already attached."
            )
        user.policies[(kind, name)] = _now()
        if kind == "Custom":
            self.policies[name].attachments += 1
        return {}

    def _DetachPolicyFromUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        kind, name = _policy_type(p), _need(p, "PolicyName")
        user = self._get(_user_name(p))
        if (kind, name) not in user.policies:
            raise ApiError(
                404, "EntityNotExist.User.Policy", "The policy is not attached to the user."
            )
        del user.policies[(kind, name)]
        if kind == "Custom" and name in self.policies:
            self.policies[name].attachments -= 1
        return {}

    def _ListPoliciesForUser(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self._get(_user_name(p))
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

    # -- STS ----------------------------------------------------------------------------------
    def _GetCallerIdentity(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        user = self.keys[caller].user
        return {
            "AccountId": self.account_id,
            "UserId": self.users[user].user_id,
            "PrincipalId": self.users[user].user_id,
            "IdentityType": "RAMUser",
            "Arn": f"acs:ram::{self.account_id}:user/{user}",
        }

    def _AssumeRole(self, p: Mapping[str, str], caller: str) -> dict[str, Any]:
        arn = _need(p, "RoleArn")
        session = _need(p, "RoleSessionName")
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
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        role_id = "3" + _rand(18, string.digits)
        return {
            "Credentials": {
                "AccessKeyId": "STS." + _rand(24),
                "AccessKeySecret": _rand(40),
                "SecurityToken": _rand(120),
                "Expiration": expires,
            },
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{self.account_id}:role/{match.group(2).lower()}/{session}",
                "AssumedRoleId": f"{role_id}:{session}",
            },
        }
