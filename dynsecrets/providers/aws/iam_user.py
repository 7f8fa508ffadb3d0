"""iam_user credentials: an IAM user with policies, groups and one access key.

Issue order: CreateUser (path, boundary and tags in the one call, so accounts
whose SCPs demand tags at creation work) -> AttachUserPolicy -> PutUserPolicy ->
AddUserToGroup -> CreateAccessKey. Revoke accepts a user in any state of that.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ...clock import Clock
from ...errors import DynSecretsError, PermanentProviderError, TransientProviderError
from ...providers.base import Issued, RevokeErrors
from ...retry import RetryPolicy
from .errors import aws_errors
from .roles import TAGS_MAX

TAG_MANAGED = "dynsecrets"
TAG_MOUNT = "dynsecrets:mount"
TAG_ROLE = "dynsecrets:role"
TAG_LEASE = "dynsecrets:lease-id"
TAG_STORE = "dynsecrets:store-id"
#: Who asked for the credential (IssueRequest.actor), omitted when unknown.
TAG_ACTOR = "dynsecrets:actor"
RESERVED_TAGS = (TAG_MANAGED, TAG_MOUNT, TAG_ROLE, TAG_LEASE, TAG_STORE, TAG_ACTOR)


def call(retry: RetryPolicy, operation: str, fn: Callable[[], Any]) -> Any:
    def once() -> Any:
        with aws_errors(operation):
            return fn()

    return retry.call(once)


def tags_for(plan: Mapping[str, Any]) -> list[dict[str, str]]:
    ours = {
        TAG_MANAGED: "true",
        TAG_MOUNT: plan["mount"],
        TAG_ROLE: plan["role"],
        TAG_LEASE: plan["lease_id"],
        TAG_STORE: plan.get("store_id", ""),
    }
    # AWS allows 50 tags per user; a role may use 45 (roles.RESERVED_TAGS), so the
    # actor goes in only while there is room.
    if plan.get("actor") and len(plan.get("tags", {})) + len(ours) < TAGS_MAX:
        ours[TAG_ACTOR] = plan["actor"]
    return [{"Key": k, "Value": v} for k, v in {**plan.get("tags", {}), **ours}.items()]


def issue(iam: Any, retry: RetryPolicy, plan: Mapping[str, Any]) -> Issued:
    user = plan["user_name"]
    kwargs: dict[str, Any] = {"UserName": user, "Path": plan["path"], "Tags": tags_for(plan)}
    if plan.get("permissions_boundary_arn"):
        kwargs["PermissionsBoundary"] = plan["permissions_boundary_arn"]

    def create() -> None:
        try:
            iam.create_user(**kwargs)
        except iam.exceptions.EntityAlreadyExistsException:
            # A retried CreateUser whose first attempt reached AWS: ours if it carries our lease tag.
            tags = iam.list_user_tags(UserName=user).get("Tags", [])
            if {"Key": TAG_LEASE, "Value": plan["lease_id"]} not in tags:
                raise

    try:
        call(retry, "CreateUser", create)
    except PermanentProviderError as exc:
        # AWS refused the first create outright (no permission, bad input): the
        # user does not exist, so there is nothing to roll back.
        exc.nothing_created = exc.code != "EntityAlreadyExists"
        raise
    for arn in plan["policy_arns"]:
        call(
            retry,
            "AttachUserPolicy",
            functools.partial(iam.attach_user_policy, UserName=user, PolicyArn=arn),
        )
    if plan.get("policy_document"):
        call(
            retry,
            "PutUserPolicy",
            lambda: iam.put_user_policy(
                UserName=user,
                PolicyName=plan["policy_name"],
                PolicyDocument=plan["policy_document"],
            ),
        )
    for group in plan["groups"]:
        call(
            retry,
            "AddUserToGroup",
            functools.partial(iam.add_user_to_group, UserName=user, GroupName=group),
        )
    key = create_access_key(iam, retry, user)
    access_key, secret_key = key["AccessKeyId"], key["SecretAccessKey"]
    return Issued(
        data={"access_key": access_key, "secret_key": secret_key, "security_token": None},
        secret_keys=frozenset({"secret_key"}),
        revocation={"user_name": user, "access_key_id": access_key},
        env={
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_REGION": plan["region"],
            # boto3 and AWS CLI v1 read only this one.
            "AWS_DEFAULT_REGION": plan["region"],
        },
    )


def create_access_key(iam: Any, retry: RetryPolicy, user: str) -> dict[str, Any]:
    """CreateAccessKey for a user we just made, never blindly retried: a failure
    whose request may have reached AWS (a 5xx, a dropped connection) could have
    made a key whose secret we never saw. Before each retry, every key the user
    holds is such a key (we account for none yet), so it is deleted first."""

    tried = False

    def once() -> dict[str, Any]:
        nonlocal tried
        if tried:  # reconcile before creating again, never after: no create races it
            _delete_unaccounted_keys(iam, user)
        tried = True
        with aws_errors("CreateAccessKey"):
            return dict(iam.create_access_key(UserName=user)["AccessKey"])

    return retry.call(once)


def _delete_unaccounted_keys(iam: Any, user: str) -> None:
    with aws_errors("ListAccessKeys"):
        listed = iam.list_access_keys(UserName=user).get("AccessKeyMetadata", [])
    for item in listed:
        with aws_errors("DeleteAccessKey"):
            iam.delete_access_key(UserName=user, AccessKeyId=item["AccessKeyId"])


# (list operation, its result key, delete operation, the delete's id parameter,
# the id's field in each listed item: None when the list returns bare names).
_Sweep = tuple[str, str, str, str, "str | None"]
_ATTACHED: tuple[_Sweep, ...] = (
    ("ListAccessKeys", "AccessKeyMetadata", "DeleteAccessKey", "AccessKeyId", "AccessKeyId"),
    ("ListUserPolicies", "PolicyNames", "DeleteUserPolicy", "PolicyName", None),
    ("ListAttachedUserPolicies", "AttachedPolicies", "DetachUserPolicy", "PolicyArn", "PolicyArn"),
    ("ListGroupsForUser", "Groups", "RemoveUserFromGroup", "GroupName", "GroupName"),
)
_EXTRAS: tuple[_Sweep, ...] = (
    ("ListMFADevices", "MFADevices", "DeactivateMFADevice", "SerialNumber", "SerialNumber"),
    (
        "ListSigningCertificates",
        "Certificates",
        "DeleteSigningCertificate",
        "CertificateId",
        "CertificateId",
    ),
    (
        "ListSSHPublicKeys",
        "SSHPublicKeys",
        "DeleteSSHPublicKey",
        "SSHPublicKeyId",
        "SSHPublicKeyId",
    ),
)


class _Steps:
    """Run every step; "not found" is success; collect the rest."""

    def __init__(self, retry: RetryPolicy) -> None:
        self.retry = retry
        self.errors: list[DynSecretsError] = []

    def run(self, operation: str, fn: Callable[[], Any]) -> Any:
        try:
            return call(self.retry, operation, fn)
        except PermanentProviderError as exc:
            if exc.code == "NoSuchEntity":
                return None
            self.errors.append(exc)
        except TransientProviderError as exc:
            self.errors.append(exc)
        return None

    def pages(self, operation: str, paginator: Any, key: str, **kwargs: Any) -> Iterable[Any]:
        items: list[Any] = []

        def collect() -> None:
            items.clear()
            for page in paginator.paginate(**kwargs):
                items.extend(page.get(key, []))

        self.run(operation, collect)
        return list(items)

    def delete_each(self, iam: Any, user: str, sweeps: tuple[_Sweep, ...]) -> None:
        """For each sweep: page through what the user holds, delete every item."""
        from botocore import xform_name  # ListSSHPublicKeys -> list_ssh_public_keys, as boto3 does

        for list_op, key, delete_op, param, field in sweeps:
            delete = getattr(iam, xform_name(delete_op))
            for item in self.pages(
                list_op, iam.get_paginator(xform_name(list_op)), key, UserName=user
            ):
                value = item if field is None else item[field]
                self.run(delete_op, functools.partial(delete, UserName=user, **{param: value}))


def revoke(
    iam: Any, retry: RetryPolicy, plan: Mapping[str, Any], revocation: Mapping[str, Any] | None
) -> None:
    user = plan["user_name"]
    if revocation is not None and _fast_revoke(iam, retry, plan, revocation):
        return
    steps = _Steps(retry)
    steps.delete_each(iam, user, _ATTACHED)
    if _delete_user(steps, iam, user):
        return
    # DeleteConflict: things a human may have added by hand, each of which makes
    # DeleteUser fail forever if left (Vault issue 16685). Rare, so only swept now.
    _sweep_extras(steps, iam, user)
    if _delete_user(steps, iam, user):
        return
    raise steps.errors[0] if len(steps.errors) == 1 else RevokeErrors(steps.errors)


def _delete_user(steps: _Steps, iam: Any, user: str) -> bool:
    """True when the user is gone. Earlier step errors (a list we were denied, an API
    an emulator lacks) no longer matter then: everything attached went with it."""
    before = len(steps.errors)
    steps.run("DeleteUser", lambda: iam.delete_user(UserName=user))
    return len(steps.errors) == before


def _sweep_extras(steps: _Steps, iam: Any, user: str) -> None:
    steps.run("DeleteLoginProfile", lambda: iam.delete_login_profile(UserName=user))
    steps.delete_each(iam, user, _EXTRAS)
    creds = (
        steps.run(
            "ListServiceSpecificCredentials",
            lambda: iam.list_service_specific_credentials(UserName=user),
        )
        or {}
    )
    for cred in creds.get("ServiceSpecificCredentials", []):
        steps.run(
            "DeleteServiceSpecificCredential",
            functools.partial(
                iam.delete_service_specific_credential,
                UserName=user,
                ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"],
            ),
        )


def _fast_revoke(
    iam: Any, retry: RetryPolicy, plan: Mapping[str, Any], revocation: Mapping[str, Any]
) -> bool:
    """Undo exactly what issue did, with no listing: the common case costs the
    minimum of calls. False (fall back to the full sweep) on anything unexpected,
    such as DeleteConflict from a key or login profile someone added by hand."""
    user = plan["user_name"]
    steps = _Steps(retry)
    steps.run(
        "DeleteAccessKey",
        lambda: iam.delete_access_key(UserName=user, AccessKeyId=revocation["access_key_id"]),
    )
    if plan.get("policy_document"):
        steps.run(
            "DeleteUserPolicy",
            lambda: iam.delete_user_policy(UserName=user, PolicyName=plan["policy_name"]),
        )
    for arn in plan["policy_arns"]:
        steps.run(
            "DetachUserPolicy",
            functools.partial(iam.detach_user_policy, UserName=user, PolicyArn=arn),
        )
    for group in plan["groups"]:
        steps.run(
            "RemoveUserFromGroup",
            functools.partial(iam.remove_user_from_group, UserName=user, GroupName=group),
        )
    if steps.errors:
        return False
    steps.run("DeleteUser", lambda: iam.delete_user(UserName=user))
    return not steps.errors


def wait_until_usable(sts: Any, clock: Clock, budget: float) -> bool:
    """Poll GetCallerIdentity with the new key until AWS accepts it (IAM is
    eventually consistent: new keys are refused for about 5-15 s). Polls at most
    0.5 s apart, so it returns within 0.5 s of the key becoming usable, and never
    past the operation's deadline."""
    from ...retry import remaining

    left = remaining(budget)
    deadline = clock.now() + min(budget, budget if left is None else left)
    delay = 0.1
    while True:
        try:
            with aws_errors("GetCallerIdentity"):
                sts.get_caller_identity()
            return True
        except DynSecretsError:
            if clock.now() + delay > deadline:
                return False
            clock.sleep(delay)
            delay = min(delay * 2, 0.5)


def policy_json(doc: str | None) -> str | None:
    return json.dumps(json.loads(doc), separators=(",", ":")) if doc else None
