"""The fake Google Cloud's state: service accounts, keys, IAM policies, tokens.

Shared by the gRPC IAM admin fake and the REST fakes, so a key made over gRPC
signs a JWT the token endpoint accepts, and a token the token endpoint issues
authorizes every API. Behaviour follows Google's published references (IAM
admin v1, iamcredentials v1, resourcemanager v3, OAuth 2.0 for service
accounts); where a limit matters to callers (10 user-managed keys per account,
account id 6-30 characters, policy etags and version 3) it is enforced.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from ._access import Access

__all__ = ["MAX_KEYS", "PERMISSIONS", "FakeError", "Faults", "GoogleState"]

#: User-managed keys one service account may hold (Google's quota).
MAX_KEYS = 10
ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")

#: The IAM permission each fake method needs (from Google's IAM permissions reference).
PERMISSIONS = {
    "CreateServiceAccount": "iam.serviceAccounts.create",
    "GetServiceAccount": "iam.serviceAccounts.get",
    "ListServiceAccounts": "iam.serviceAccounts.list",
    "DeleteServiceAccount": "iam.serviceAccounts.delete",
    "CreateServiceAccountKey": "iam.serviceAccountKeys.create",
    "ListServiceAccountKeys": "iam.serviceAccountKeys.list",
    "DeleteServiceAccountKey": "iam.serviceAccountKeys.delete",
    "GetIamPolicy": "iam.serviceAccounts.getIamPolicy",
    "SetIamPolicy": "iam.serviceAccounts.setIamPolicy",
    "generateAccessToken": "iam.serviceAccounts.getAccessToken",
    "projects.getIamPolicy": "resourcemanager.projects.getIamPolicy",
    "projects.setIamPolicy": "resourcemanager.projects.setIamPolicy",
    "folders.getIamPolicy": "resourcemanager.folders.getIamPolicy",
    "folders.setIamPolicy": "resourcemanager.folders.setIamPolicy",
    "organizations.getIamPolicy": "resourcemanager.organizations.getIamPolicy",
    "organizations.setIamPolicy": "resourcemanager.organizations.setIamPolicy",
    "buckets.getIamPolicy": "storage.buckets.getIamPolicy",
    "buckets.setIamPolicy": "storage.buckets.setIamPolicy",
    "topics.getIamPolicy": "pubsub.topics.getIamPolicy",
    "topics.setIamPolicy": "pubsub.topics.setIamPolicy",
}


class FakeError(Exception):
    """A Google error status (the name of a google.rpc.Code) with its message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.define
class _Fault:
    status: str
    times: int
    after: bool = False  # apply the call, then fail (a lost reply)


class Faults:
    """Injected failures, by method name (``CreateServiceAccountKey``,
    ``projects.setIamPolicy``, ``generateAccessToken``, ``token``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, list[_Fault]] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}

    def fail(self, method: str, status: str = "UNAVAILABLE", times: int = 1) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` before doing anything."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault(status, times))

    def lose_reply(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls take effect, then fail with UNAVAILABLE."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault("UNAVAILABLE", times, after=True))

    def before(self, method: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` once, just before the next call of ``method`` (a concurrent change)."""
        with self._lock:
            self._hooks.setdefault(method, []).append(hook)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._hooks.clear()

    def take(self, method: str) -> tuple[_Fault | None, Callable[[], None] | None]:
        with self._lock:
            hooks = self._hooks.get(method)
            hook = hooks.pop(0) if hooks else None
            queue = self._faults.get(method)
            if not queue:
                return None, hook
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault, hook


def _etag(policy: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in policy.items() if k != "etag"}, sort_keys=True)
    return base64.b64encode(hashlib.sha256(body.encode()).digest()[:8]).decode()


def _withcond(binding: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(binding["condition"], sort_keys=True).encode()).hexdigest()
    return f"{binding['role']}_withcond_{digest[:20]}"


class GoogleState:
    """Everything the fakes know. Thread-safe; one lock, as the fake is small."""

    def __init__(self, project: str = "fake-project", token_uri: str = "") -> None:
        self.project = project
        self.token_uri = token_uri
        self.lock = threading.RLock()
        self.faults = Faults()
        #: Who may do what (default: everyone everything); see ``Access``.
        self.access = Access()
        self.calls: Counter[str] = Counter()
        self.permissions_used: set[str] = set()
        #: email -> account dict (name, email, unique_id, project_id, display_name, description)
        self.accounts: dict[str, dict[str, Any]] = {}
        #: key id -> key dict (account email, pem, created, algorithm)
        self.keys: dict[str, dict[str, Any]] = {}
        #: resource name -> policy dict (version, bindings, etag)
        self.policies: dict[str, dict[str, Any]] = {}
        #: access token -> (principal, expiry)
        self.tokens: dict[str, tuple[str, float]] = {}
        self._pems: list[Any] = []
        #: REST resources whose IAM policy exists ("projects/p", "b/bucket", ...)
        self.known_resources: set[str] = {f"projects/{project}"}

    # -- bookkeeping -----------------------------------------------------------------
    def enter(self, method: str, principal: str = "", resource: str = "") -> Callable[[], None]:
        """Count the call, apply faults and check ``principal``'s permission on
        ``resource``; returns what to run after the call succeeded."""
        self.calls[method] += 1
        permission = PERMISSIONS.get(method)
        if permission:
            self.permissions_used.add(permission)
        fault, hook = self.faults.take(method)
        if hook is not None:
            hook()
        if fault is not None and not fault.after:
            raise FakeError(fault.status, f"injected {fault.status} for {method}")
        if permission and principal and not self.access.allows(principal, permission, resource):
            raise FakeError(
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource (or it may not exist).",
            )

        def after() -> None:
            if fault is not None and fault.after:
                raise FakeError(fault.status, f"injected lost reply for {method}")

        return after

    def principal(self, token: str | None) -> str:
        with self.lock:
            found = self.tokens.get(token or "")
        if found is None or found[1] < time.time():
            raise FakeError("UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return found[0]

    # -- service accounts ------------------------------------------------------------------
    def create_account(
        self, project: str, account_id: str, display_name: str, description: str
    ) -> dict[str, Any]:
        if not ACCOUNT_ID.fullmatch(account_id):
            raise FakeError(
                "INVALID_ARGUMENT",
                "Account id must be 6-30 characters matching [a-z]([-a-z0-9]*[a-z0-9]).",
            )
        # Google counts UTF-8 bytes: displayName at most 100, description 256.
        if len(display_name.encode()) > 100 or len(description.encode()) > 256:
            raise FakeError("INVALID_ARGUMENT", "display name or description too long")
        email = f"{account_id}@{project}.iam.gserviceaccount.com"
        with self.lock:
            if email in self.accounts:
                raise FakeError("ALREADY_EXISTS", f"Service account {account_id} already exists")
            account = {
                "name": f"projects/{project}/serviceAccounts/{email}",
                "project_id": project,
                "unique_id": str(secrets.randbelow(10**20)),
                "email": email,
                "display_name": display_name,
                "description": description,
                "oauth2_client_id": str(secrets.randbelow(10**20)),
            }
            self.accounts[email] = account
            return dict(account)

    def account(self, name: str) -> dict[str, Any]:
        email = name.rsplit("/", 1)[-1]
        with self.lock:
            found = self.accounts.get(email)
        if found is None:
            raise FakeError("NOT_FOUND", f"Service account {email} does not exist.")
        return dict(found)

    def delete_account(self, name: str) -> None:
        account = self.account(name)
        email = account["email"]
        with self.lock:
            del self.accounts[email]
            for key_id in [k for k, v in self.keys.items() if v["email"] == email]:
                del self.keys[key_id]
            self.policies.pop(account["name"], None)
            # What Google does: members naming a deleted account become
            # deleted:serviceAccount:<email>?uid=<unique id> in every policy.
            old = f"serviceAccount:{email}"
            new = f"deleted:serviceAccount:{email}?uid={account['unique_id']}"
            for policy in self.policies.values():
                for binding in policy["bindings"]:
                    binding["members"] = [new if m == old else m for m in binding["members"]]
                policy["etag"] = _etag(policy)

    # -- keys ------------------------------------------------------------------------------
    def _pem(self) -> Any:
        # RSA generation is slow; the fake reuses a few key pairs under different
        # key ids (the token endpoint checks the id, so a deleted key is refused).
        from cryptography.hazmat.primitives.asymmetric import rsa

        if len(self._pems) < 4:
            self._pems.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return self._pems[-1]
        return self._pems[secrets.randbelow(len(self._pems))]

    def create_key(self, name: str, algorithm: str) -> tuple[dict[str, Any], bytes]:
        """Returns the key and the credentials-file JSON (private key data)."""
        from cryptography.hazmat.primitives import serialization

        account = self.account(name)
        email = account["email"]
        with self.lock:
            if sum(1 for k in self.keys.values() if k["email"] == email) >= MAX_KEYS:
                raise FakeError(
                    "FAILED_PRECONDITION",
                    "Precondition check failed. (the account has 10 user-managed keys)",
                )
            private = self._pem()
            key_id = secrets.token_hex(20)
            key = {
                "name": f"projects/{account['project_id']}/serviceAccounts/{email}/keys/{key_id}",
                "id": key_id,
                "email": email,
                "private": private,
                "algorithm": algorithm,
                "created": time.time(),
            }
            self.keys[key_id] = key
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        info = {
            "type": "service_account",
            "project_id": account["project_id"],
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": account["oauth2_client_id"],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "universe_domain": "googleapis.com",
        }
        return dict(key), json.dumps(info, indent=2).encode()

    def list_keys(self, name: str) -> list[dict[str, Any]]:
        email = self.account(name)["email"]
        with self.lock:
            return [dict(k) for k in self.keys.values() if k["email"] == email]

    def delete_key(self, name: str) -> None:
        key_id = name.rsplit("/", 1)[-1]
        with self.lock:
            if self.keys.pop(key_id, None) is None:
                raise FakeError("NOT_FOUND", f"Service account key {key_id} does not exist.")

    # -- tokens -------------------------------------------------------------------------
    def issue_token(self, principal: str, lifetime: int = 3600) -> tuple[str, float]:
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        expiry = time.time() + lifetime
        with self.lock:
            self.tokens[token] = (principal, expiry)
        return token, expiry

    # -- IAM policies ---------------------------------------------------------------------
    def get_policy(self, resource: str, requested_version: int) -> dict[str, Any]:
        with self.lock:
            stored = self.policies.get(resource) or {"version": 1, "bindings": []}
            policy: dict[str, Any] = json.loads(json.dumps(stored))
        policy["etag"] = _etag(stored)
        if requested_version < 3:
            # Google's rule: a caller that did not ask for version 3 sees conditional
            # bindings as roles named <role>_withcond_<hash>, without the condition.
            for binding in policy["bindings"]:
                if "condition" in binding:
                    binding["role"] = _withcond(binding)
                    del binding["condition"]
            policy["version"] = 1
        return policy

    def set_policy(self, resource: str, policy: dict[str, Any]) -> dict[str, Any]:
        bindings = policy.get("bindings", [])
        version = int(policy.get("version") or 1)
        for binding in bindings:
            if "_withcond_" in binding.get("role", ""):
                raise FakeError("INVALID_ARGUMENT", "Role names with _withcond_ are not allowed.")
            if binding.get("condition") and version < 3:
                raise FakeError(
                    "INVALID_ARGUMENT", "Conditional bindings require policy version 3."
                )
            for member in binding.get("members", []):
                if member.startswith("serviceAccount:"):
                    email = member.split(":", 1)[1]
                    if email.endswith(".iam.gserviceaccount.com") and email not in self.accounts:
                        raise FakeError(
                            "INVALID_ARGUMENT", f"Service account {email} does not exist."
                        )
        with self.lock:
            current = self.policies.get(resource) or {"version": 1, "bindings": []}
            if policy.get("etag") and policy["etag"] != _etag(current):
                raise FakeError("ABORTED", "There were concurrent policy changes. Please retry.")
            if any(b.get("condition") for b in current["bindings"]) and version < 3:
                raise FakeError(
                    "INVALID_ARGUMENT", "The policy has conditional bindings; write version 3."
                )
            stored = {
                "version": version,
                "bindings": [
                    {k: v for k, v in b.items() if k in ("role", "members", "condition")}
                    for b in bindings
                    if b.get("members")
                ],
            }
            self.policies[resource] = stored
            copied: dict[str, Any] = json.loads(json.dumps(stored))
            return {**copied, "etag": _etag(stored)}

    def members(self, resource: str) -> dict[str, list[str]]:
        """role -> members of a resource's policy (conditional roles suffixed), for tests."""
        with self.lock:
            stored = self.policies.get(resource) or {"bindings": []}
            out: dict[str, list[str]] = {}
            for b in stored["bindings"]:
                role = _withcond(b) if b.get("condition") else b["role"]
                out.setdefault(role, []).extend(b["members"])
            return out
