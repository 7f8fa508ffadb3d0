"""The RAM permissions the root credential needs: every action the provider calls.
The README lists the same, and a test checks both against the provider's code."""

from __future__ import annotations

RAM_ACTIONS = (
    "CreateUser",
    "GetUser",
    "DeleteUser",
    "ListUsers",
    "CreatePolicy",
    "GetPolicy",
    "DeletePolicy",
    "AttachPolicyToUser",
    "DetachPolicyFromUser",
    "ListPoliciesForUser",
    "CreateAccessKey",
    "DeleteAccessKey",
    "ListAccessKeys",
    "ListGroupsForUser",
    "RemoveUserFromGroup",
    "DeleteLoginProfile",
    "UnbindMFADevice",
)
STS_ACTIONS = ("AssumeRole", "GetCallerIdentity")

#: As written in a RAM policy's Action element.
PERMISSIONS = tuple(f"ram:{a}" for a in RAM_ACTIONS) + tuple(f"sts:{a}" for a in STS_ACTIONS)

#: Called only by ``verify`` (reading the policies of the root user's groups).
VERIFY_PERMISSIONS = ("ram:ListPoliciesForGroup",)
