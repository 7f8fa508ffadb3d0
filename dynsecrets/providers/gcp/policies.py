"""IAM policies: read-modify-write with the etag, always version 3.

Reading asks for version 3 and writing sends version 3 with the etag, so
conditional bindings survive (Vault read version 1 and wrote the conditions
away) and a concurrent change makes setIamPolicy fail with ABORTED (409),
after which the whole read-modify-write runs again. Only our own member is
added to or removed from unconditional bindings; every other member and every
condition is left exactly as read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ...errors import TransientProviderError
from ...retry import RetryPolicy
from .clients import GoogleClients, call_timeout
from .errors import check_response, google_errors
from .resources import Resource, resolve

__all__ = ["Change", "bind", "modify", "unbind"]

Policy = dict[str, Any]
Change = Callable[[Policy], bool]


def _from_pb(pb: Any) -> Policy:
    bindings = []
    for b in pb.bindings:
        item: dict[str, Any] = {"role": b.role, "members": list(b.members)}
        if b.HasField("condition"):
            c = b.condition
            item["condition"] = {
                k: getattr(c, k)
                for k in ("expression", "title", "description", "location")
                if getattr(c, k)
            }
        bindings.append(item)
    return {"version": pb.version, "bindings": bindings, "etag": pb.etag}


def _to_pb(policy: Policy) -> Any:
    from google.iam.v1 import policy_pb2
    from google.type import expr_pb2

    pb = policy_pb2.Policy(version=3, etag=policy.get("etag") or b"")
    for b in policy["bindings"]:
        binding = pb.bindings.add(role=b["role"], members=b["members"])
        if b.get("condition"):
            binding.condition.CopyFrom(expr_pb2.Expr(**b["condition"]))
    return pb


def _get(clients: GoogleClients, res: Resource) -> Policy:
    t = res.type
    op = f"{t.name} getIamPolicy"
    if t.style == "grpc":
        clients.ensure_token(op)
        with google_errors(op):
            pb = clients.iam.get_iam_policy(
                request={"resource": res.path, "options": {"requested_policy_version": 3}},
                retry=None,
                timeout=call_timeout(),
            )
        return _from_pb(pb)
    base = f"{t.prefix}/{res.path}"
    with google_errors(op):
        if t.style == "storage":
            r = clients.rest.get(
                clients.url(t.service, f"{base}/iam"),
                params={"optionsRequestedPolicyVersion": 3},
                timeout=call_timeout(),
            )
        elif t.style in ("get", "compute"):
            sep = "/" if t.style == "compute" else ":"
            param = (
                "optionsRequestedPolicyVersion"
                if t.style == "compute"
                else ("options.requestedPolicyVersion")
            )
            r = clients.rest.get(
                clients.url(t.service, f"{base}{sep}getIamPolicy"),
                params={param: 3},
                timeout=call_timeout(),
            )
        else:
            r = clients.rest.post(
                clients.url(t.service, f"{base}:getIamPolicy"),
                json={"options": {"requestedPolicyVersion": 3}},
                timeout=call_timeout(),
            )
    policy = dict(check_response(r, op))
    policy.setdefault("bindings", [])
    return policy


def _set(clients: GoogleClients, res: Resource, policy: Policy) -> None:
    t = res.type
    op = f"{t.name} setIamPolicy"
    policy = {**policy, "version": 3}
    if t.style == "grpc":
        clients.ensure_token(op)
        with google_errors(op):
            clients.iam.set_iam_policy(
                request={"resource": res.path, "policy": _to_pb(policy)},
                retry=None,
                timeout=call_timeout(),
            )
        return
    base = f"{t.prefix}/{res.path}"
    with google_errors(op):
        if t.style == "storage":
            r = clients.rest.put(
                clients.url(t.service, f"{base}/iam"), json=policy, timeout=call_timeout()
            )
        else:
            sep = "/" if t.style == "compute" else ":"
            r = clients.rest.post(
                clients.url(t.service, f"{base}{sep}setIamPolicy"),
                json={"policy": policy},
                timeout=call_timeout(),
            )
    check_response(r, op)


def modify(
    clients: GoogleClients,
    retry: RetryPolicy,
    resource: str,
    change: Change,
    *,
    fresh_account: bool = False,
) -> None:
    """Read the policy, apply ``change`` (True: it changed something), write it back
    with the etag; on ABORTED (a concurrent change) start again from the read."""
    res = resolve(resource)
    propagation = [0]

    def once() -> None:
        policy = _get(clients, res)
        if not change(policy):
            return
        try:
            _set(clients, res, policy)
        except Exception as exc:
            # A just-created account is not yet visible to every service's
            # setIamPolicy (INVALID_ARGUMENT "does not exist"): IAM is eventually
            # consistent, so retry a few times inside the deadline.
            code = getattr(exc, "code", None)
            if fresh_account and code == "INVALID_ARGUMENT" and propagation[0] < 6:
                propagation[0] += 1
                raise TransientProviderError(
                    f"{res.type.name} setIamPolicy: the new account is not visible yet",
                    operation="setIamPolicy",
                    code="PROPAGATION",
                ) from exc
            raise

    retry.call(once)


def _deleted_of(member: str, ours: Iterable[str]) -> bool:
    if not member.startswith("deleted:serviceAccount:"):
        return False
    email = member.removeprefix("deleted:serviceAccount:").split("?", 1)[0]
    return email in set(ours)


def bind(member: str, roles: Iterable[str], forget: Iterable[str] = ()) -> Change:
    """Add ``member`` to each role's unconditional binding; drop ``deleted:`` entries
    of accounts in ``forget`` (accounts this mount deleted)."""
    wanted, gone = sorted(set(roles)), list(forget)

    def change(policy: Policy) -> bool:
        changed = _purge(policy, gone)
        for role in wanted:
            target = next(
                (b for b in policy["bindings"] if b["role"] == role and not b.get("condition")),
                None,
            )
            if target is None:
                policy["bindings"].append({"role": role, "members": [member]})
                changed = True
            elif member not in target["members"]:
                target["members"].append(member)
                changed = True
        return changed

    return change


def unbind(member: str, roles: Iterable[str] | None = None, forget: Iterable[str] = ()) -> Change:
    """Remove ``member`` from each role's unconditional binding (all roles: None)."""
    only = None if roles is None else set(roles)
    gone = list(forget)

    def change(policy: Policy) -> bool:
        changed = _purge(policy, gone)
        kept = []
        for b in policy["bindings"]:
            if (
                not b.get("condition")
                and (only is None or b["role"] in only)
                and member in b["members"]
            ):
                b["members"] = [m for m in b["members"] if m != member]
                changed = True
                if not b["members"]:
                    continue
            kept.append(b)
        policy["bindings"] = kept
        return changed

    return change


def _purge(policy: Policy, gone: list[str]) -> bool:
    if not gone:
        return False
    before = json.dumps(policy["bindings"], sort_keys=True)
    for b in policy["bindings"]:
        b["members"] = [m for m in b["members"] if not _deleted_of(m, gone)]
    policy["bindings"] = [b for b in policy["bindings"] if b["members"]]
    return json.dumps(policy["bindings"], sort_keys=True) != before
