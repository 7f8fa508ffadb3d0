"""RAM user credentials: a RAM user with Custom policies made from the role's
inline policies, attached System/Custom policies, and one access key.

Issue order: CreateUser (the lease and store named in DisplayName and Comments, in
the one call) -> per inline policy CreatePolicy + AttachPolicyToUser -> per remote
policy AttachPolicyToUser -> CreateAccessKey. Revoke accepts a user in any state of
that, and detaches before it deletes: Vault deletes an inline policy that is still
attached, RAM refuses (DeleteConflict.Policy.User), and the user is never deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ...errors import DynSecretsError, PermanentProviderError, ProviderError, TransientProviderError
from ...providers.base import Issued, ManagedIdentity, RevokeErrors
from .actor import comments as actor_comments
from .actor import parse as parse_actor
from .api import Api
from .names import policy_prefix

#: Marks a RAM user as created by dynsecrets (its Comments field).
MARK = "dynsecrets"


def comments(store_id: str, mount: str, actor: str = "") -> str:
    """``dynsecrets store=<id> mount=<mount>``, then `` actor=<who asked>`` in what is
    left of RAM's 128 characters (17 + 32 (store id) + 7 + 64 (mount) fit without it)."""
    return actor_comments(f"{MARK} store={store_id} mount={mount}", actor)


def display_name(mount: str, lease_id: str) -> str:
    """The lease id after ``<mount>/`` with ``/`` as ``@`` (role names never hold ``@``):
    ``creds@<role>@<24 random>``, at most 95 characters of RAM's 128."""
    return lease_id[len(mount) + 1 :].replace("/", "@")


def parse_comments(text: str) -> dict[str, str] | None:
    """The tags of our Comments (and ``actor`` when there is one); None: not ours.
    The actor is free text, so the tags are read only from what comes before it."""
    head, actor = parse_actor(text or "")
    words = head.split(" ")
    if not words or words[0] != MARK:
        return None
    tags = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    if actor is not None:
        tags["actor"] = actor
    return tags


def _gone(exc: ProviderError) -> bool:
    """Not found is success when deleting (EntityNotExist.User, .User.AccessKey, ...)."""
    return isinstance(exc, PermanentProviderError) and str(exc.code or "").startswith(
        "EntityNotExist"
    )


def issue(api: Api, plan: Mapping[str, Any]) -> Issued:
    user = plan["user_name"]

    def create() -> None:
        try:
            api.attempt(
                "CreateUser",
                {
                    "UserName": user,
                    "DisplayName": plan["display_name"],
                    "Comments": plan["comments"],
                },
            )
        except PermanentProviderError as exc:
            if exc.code != "EntityAlreadyExists.User":
                raise
            # A retried CreateUser whose first attempt reached RAM: ours if it names our lease.
            found = api.attempt("GetUser", {"UserName": user}).get("User", {})
            if found.get("DisplayName") != plan["display_name"]:
                raise

    try:
        api.retry.call(create)
    except PermanentProviderError as exc:
        # RAM refused the first create outright (no permission, bad key): nothing exists.
        exc.nothing_created = exc.code != "EntityAlreadyExists.User"
        raise
    for policy in plan["inline"]:
        _create_policy(api, policy)
        _attach(api, "Custom", policy["name"], user)
    for kind, name in plan["remote"]:
        _attach(api, kind, name, user)
    key = create_access_key(api, user)
    access_key, secret_key = key["AccessKeyId"], key["AccessKeySecret"]
    return Issued(
        data={"access_key": access_key, "secret_key": secret_key, "security_token": None},
        secret_keys=frozenset({"secret_key"}),
        revocation={"user_name": user, "access_key_id": access_key},
        env={
            "ALIBABA_CLOUD_ACCESS_KEY_ID": access_key,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret_key,
        },
    )


def _create_policy(api: Api, policy: Mapping[str, Any]) -> None:
    def create() -> None:
        try:
            api.attempt(
                "CreatePolicy",
                {
                    "PolicyName": policy["name"],
                    "PolicyDocument": policy["document"],
                    "Description": policy["description"],
                },
            )
        except PermanentProviderError as exc:
            if exc.code != "EntityAlreadyExists.Policy":
                raise
            # Ours (a retried create that landed) only if it carries our lease's description.
            got = api.attempt("GetPolicy", {"PolicyType": "Custom", "PolicyName": policy["name"]})
            if got.get("Policy", {}).get("Description") != policy["description"]:
                raise

    api.retry.call(create)


def _attach(api: Api, kind: str, name: str, user: str) -> None:
    def attach() -> None:
        try:
            api.attempt(
                "AttachPolicyToUser", {"PolicyType": kind, "PolicyName": name, "UserName": user}
            )
        except PermanentProviderError as exc:
            # A retried attach whose first attempt landed.
            if exc.code != "EntityAlreadyExists.User.Policy":
                raise

    api.retry.call(attach)


def create_access_key(api: Api, user: str, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """CreateAccessKey, never blindly retried: a failure whose request may have reached
    RAM (a 5xx, a dropped connection) could have made a key whose secret we never saw.
    Before each retry, every key the user holds that is not in ``keep`` is such a key,
    so it is deleted first."""
    tried = False

    def once() -> dict[str, Any]:
        nonlocal tried
        if tried:  # reconcile before creating again, never after: no create races it
            listed = api.attempt("ListAccessKeys", {"UserName": user})
            for item in listed.get("AccessKeys", {}).get("AccessKey", []):
                if item["AccessKeyId"] not in keep:
                    api.attempt(
                        "DeleteAccessKey",
                        {"UserName": user, "UserAccessKeyId": item["AccessKeyId"]},
                    )
        tried = True
        return dict(api.attempt("CreateAccessKey", {"UserName": user})["AccessKey"])

    return api.retry.call(once)


class _Steps:
    """Run every step; "not found" is success; collect the rest."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.errors: list[ProviderError] = []
        self.user_gone = False

    def run(self, action: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return self.api.call(action, params)
        except (PermanentProviderError, TransientProviderError) as exc:
            if _gone(exc):
                if exc.code == "EntityNotExist.User":
                    self.user_gone = True
                return None
            self.errors.append(exc)
        return None


def revoke(api: Api, plan: Mapping[str, Any], revocation: Mapping[str, Any] | None) -> None:
    if revocation is not None and _fast_revoke(api, plan, revocation):
        return
    raise_all(sweep(api, plan["user_name"], [p["name"] for p in plan["inline"]]))


def raise_all(errors: list[ProviderError]) -> None:
    if errors:
        raise errors[0] if len(errors) == 1 else RevokeErrors(list[DynSecretsError](errors))


def _fast_revoke(api: Api, plan: Mapping[str, Any], revocation: Mapping[str, Any]) -> bool:
    """Undo exactly what issue did, with no listing: the common case costs the minimum
    of calls. False (fall back to the sweep) on anything unexpected, such as
    DeleteConflict from a key, group or MFA device someone added by hand."""
    user = plan["user_name"]
    steps = _Steps(api)
    steps.run("DeleteAccessKey", {"UserName": user, "UserAccessKeyId": revocation["access_key_id"]})
    for policy in plan["inline"]:
        steps.run(
            "DetachPolicyFromUser",
            {"PolicyType": "Custom", "PolicyName": policy["name"], "UserName": user},
        )
        steps.run("DeletePolicy", {"PolicyName": policy["name"]})
    for kind, name in plan["remote"]:
        steps.run(
            "DetachPolicyFromUser", {"PolicyType": kind, "PolicyName": name, "UserName": user}
        )
    if steps.errors:
        return False
    steps.run("DeleteUser", {"UserName": user})
    return not steps.errors


def sweep(api: Api, user: str, inline: list[str]) -> list[ProviderError]:
    """Delete the user and whatever blocks DeleteUser, found by listing: access keys,
    attached policies (our Custom ones deleted too), groups, login profile, MFA device.
    Every step is attempted; returns the errors."""
    steps = _Steps(api)
    ours = set(inline)
    listed = steps.run("ListAccessKeys", {"UserName": user})
    if not steps.user_gone:
        for item in (listed or {}).get("AccessKeys", {}).get("AccessKey", []):
            steps.run("DeleteAccessKey", {"UserName": user, "UserAccessKeyId": item["AccessKeyId"]})
        attached = steps.run("ListPoliciesForUser", {"UserName": user}) or {}
        prefix = policy_prefix(user)
        for item in attached.get("Policies", {}).get("Policy", []):
            kind, name = item["PolicyType"], item["PolicyName"]
            steps.run(
                "DetachPolicyFromUser", {"PolicyType": kind, "PolicyName": name, "UserName": user}
            )
            if kind == "Custom" and name.startswith(prefix):
                ours.add(name)  # tidy has no plan: our policies are named after the user
        groups = steps.run("ListGroupsForUser", {"UserName": user}) or {}
        for item in groups.get("Groups", {}).get("Group", []):
            steps.run("RemoveUserFromGroup", {"UserName": user, "GroupName": item["GroupName"]})
        steps.run("DeleteLoginProfile", {"UserName": user})
        steps.run("UnbindMFADevice", {"UserName": user})
    # Policies are deleted even when the user is gone: a crash between CreatePolicy and
    # AttachPolicyToUser leaves a policy attached to nobody.
    for name in sorted(ours):
        steps.run("DeletePolicy", {"PolicyName": name})
    if not steps.user_gone:
        before = len(steps.errors)
        steps.run("DeleteUser", {"UserName": user})
        if len(steps.errors) == before:
            # The user is gone; earlier failures (a list we were denied) went with it,
            # unless they were about the policies, which outlive the user.
            return [e for e in steps.errors if e.operation == "DeletePolicy"]
    return steps.errors


def list_managed(api: Api, mount: str) -> list[ManagedIdentity]:
    found: list[ManagedIdentity] = []
    marker: str | None = None
    while True:
        params: dict[str, Any] = {"MaxItems": 1000}
        if marker:
            params["Marker"] = marker
        page = api.call("ListUsers", params)
        for user in page.get("Users", {}).get("User", []):
            tags = parse_comments(user.get("Comments", ""))
            if tags is None or tags.get("mount") != mount or not user.get("DisplayName"):
                continue
            found.append(
                ManagedIdentity(
                    id=user["UserName"],
                    lease_id=f"{mount}/{user['DisplayName'].replace('@', '/')}",
                    store_id=tags.get("store") or None,
                    created_at=timestamp(user.get("CreateDate")),
                    details={"actor": tags["actor"]} if "actor" in tags else {},
                )
            )
        if not page.get("IsTruncated"):
            return found
        marker = page.get("Marker")


def timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return (
            dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=dt.timezone.utc)
            .timestamp()
        )
    except ValueError:
        return None
