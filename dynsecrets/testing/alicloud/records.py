"""What a fake Alibaba Cloud account holds (users, policies, access keys) and the
parameter checks its RAM and STS actions share, with RAM's own error codes."""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["AccountData", "ApiError", "Key", "Policy", "Session", "User"]

USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
POLICY_NAME = re.compile(r"[A-Za-z0-9-]{1,128}")
SESSION_NAME = re.compile(r"[A-Za-z0-9._@-]{2,64}")
ROLE_ARN = re.compile(r"acs:ram::(\d+):role/([A-Za-z0-9._-]{1,64})")
POLICY_DOCUMENT_MAX = 6144
MAX_KEYS_PER_USER = 2


def _allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


#: A few of Alibaba's system policies and their documents, enough for tests.
SYSTEM_POLICIES = {
    "AdministratorAccess": _allow("*"),
    "ReadOnlyAccess": _allow("*:Describe*", "*:List*", "*:Get*", "*:Query*"),
    "AliyunRAMFullAccess": _allow("ram:*"),
    "AliyunRAMReadOnlyAccess": _allow("ram:Get*", "ram:List*"),
    "AliyunSTSAssumeRoleAccess": _allow("sts:AssumeRole"),
    "AliyunOSSReadOnlyAccess": _allow("oss:Get*", "oss:List*"),
    "AliyunRDSReadOnlyAccess": _allow("rds:Describe*"),
    "AliyunECSReadOnlyAccess": _allow("ecs:Describe*"),
}
_B62 = string.ascii_letters + string.digits


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def rand(n: int, alphabet: str = _B62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


@attrs.define
class User:
    name: str
    user_id: str
    display_name: str = ""
    comments: str = ""
    created: str = attrs.field(factory=now)
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
    created: str = attrs.field(factory=now)
    attachments: int = 0


@attrs.define
class Key:
    key_id: str = attrs.field()
    secret: str = attrs.field(repr=False)
    user: str
    created: str = attrs.field(factory=now)


@attrs.define
class Session:
    """STS credentials from AssumeRole: usable until ``expires`` (epoch seconds) with
    their security token."""

    key_id: str
    secret: str = attrs.field(repr=False)
    token: str = attrs.field(repr=False)
    role: str
    name: str
    role_id: str
    expires: float


def need(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ApiError(400, f"MissingParameter.{name}", f"{name} is mandatory for this action.")
    return value


def user_name(params: Mapping[str, str]) -> str:
    name = need(params, "UserName")
    if not USER_NAME.fullmatch(name):
        code = "Length" if not 1 <= len(name) <= 64 else "InvalidChars"
        raise ApiError(
            400, f"InvalidParameter.UserName.{code}", "The parameter UserName is invalid."
        )
    return name


def policy_type(params: Mapping[str, str]) -> str:
    kind = need(params, "PolicyType")
    if kind not in ("System", "Custom"):
        raise ApiError(400, "InvalidParameter.PolicyType", "PolicyType must be System or Custom.")
    return kind


class AccountData:
    """The account's state; the action classes (users, policies, STS) work on it.
    Every action runs under ``lock`` (see ``Account.handle``)."""

    def __init__(self, account_id: str = "1234567890123456") -> None:
        self.account_id = account_id
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.policies: dict[str, Policy] = {}
        self.groups: set[str] = set()
        #: group name -> {(policy type, policy name): attach date}
        self.group_policies: dict[str, dict[tuple[str, str], str]] = {}
        #: role name -> MaxSessionDuration (seconds)
        self.roles: dict[str, int] = {}
        #: role name -> RoleId
        self.role_ids: dict[str, str] = {}
        self.keys: dict[str, Key] = {}
        #: STS access key id -> its session
        self.sessions: dict[str, Session] = {}

    def add_user(self, name: str) -> User:
        with self.lock:
            user = User(name=name, user_id=rand(16, string.digits))
            self.users[name] = user
            return user

    def add_key(self, user: str) -> Key:
        """A new access key of RAM user ``user``; ``""``: of the account itself (its
        root identity, which RAM policies do not bind)."""
        with self.lock:
            key = Key(key_id="LTAI" + rand(20), secret=rand(30), user=user)
            self.keys[key.key_id] = key
            if user:
                self.users[user].keys.append(key.key_id)
            return key

    def get_user(self, name: str) -> User:
        user = self.users.get(name)
        if user is None:
            raise ApiError(404, "EntityNotExist.User", f"The user does not exist: {name}.")
        return user

    def policy_exists(self, kind: str, name: str) -> bool:
        return name in SYSTEM_POLICIES if kind == "System" else name in self.policies
