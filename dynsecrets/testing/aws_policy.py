"""``PolicyFront``: moto plus the IAM policy simulator it lacks.

moto has no ``iam:SimulatePrincipalPolicy`` (it answers 500, "not implemented"), so
``verify`` could not be tested against it. This front stands before a moto server as
``ThrottlingFront`` does: it answers SimulatePrincipalPolicy itself, from the policies
moto holds for the principal, and forwards every other request. It also records the
parameters of every request it sees (``received``), for fields moto ignores (such as
``SourceIdentity``).

    with MotoServer() as moto, PolicyFront(moto.url) as front:
        mount.configure(**front.config())

The evaluation is deliberately simple, and never more generous than AWS's:

- a user's policies are its inline and attached ones and those of its groups; a
  role's, its inline and attached ones (other accounts too: moto keeps each apart);
- a statement counts when its ``Action`` and ``Resource`` match (``*`` and ``?``
  wildcards; actions case-insensitive); statements with ``NotAction``,
  ``NotResource`` or a ``Condition`` are skipped, so they never allow;
- an explicit Deny beats an Allow (``explicitDeny``); no match is ``implicitDeny``.
Permissions boundaries, SCPs, session and resource policies are not evaluated.
"""

from __future__ import annotations

import functools
import io
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from .aws_throttle import ThrottlingFront, _Bucket, _front_handler

__all__ = ["PolicyFront", "decide"]

_DEFAULT_ACCOUNT = "123456789012"  # moto's


def _glob(pattern: str, value: str, *, fold: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def decide(documents: Iterable[Any], action: str, resource: str) -> str:
    """``allowed``, ``explicitDeny`` or ``implicitDeny`` for one action on one resource."""
    allowed = False
    for doc in documents:
        statements = doc.get("Statement", [])
        for st in [statements] if isinstance(statements, dict) else statements:
            if {"NotAction", "NotResource", "Condition"} & set(st):
                continue
            if not any(_glob(p, action, fold=True) for p in _listed(st.get("Action"))):
                continue
            if not any(_glob(p, resource, fold=False) for p in _listed(st.get("Resource"))):
                continue
            if st.get("Effect") == "Deny":
                return "explicitDeny"
            allowed = allowed or st.get("Effect") == "Allow"
    return "allowed" if allowed else "implicitDeny"


def _doc(value: Any) -> Any:
    return json.loads(urllib.parse.unquote(value)) if isinstance(value, str) else value


class _Policies:
    """Reads a principal's policy documents from moto through boto3."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url

    def _client(self, service: str, **creds: str) -> Any:
        import boto3

        creds = creds or {
            "aws_access_key_id": "AKIAMOTOTESTING00000",
            "aws_secret_access_key": "moto-testing-secret",
        }
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=self.moto_url, region_name="us-east-1", **creds
        )

    def _iam(self, account: str) -> Any:
        if account == _DEFAULT_ACCOUNT:
            return self._client("iam")
        # moto switches account by the credentials: those of a role in that account.
        arn = f"arn:aws:iam::{account}:role/dynsecrets-policy-front"
        c = self._client("sts").assume_role(RoleArn=arn, RoleSessionName="front")["Credentials"]
        return self._client(
            "iam",
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    def _managed(self, iam: Any, attached: list[dict[str, Any]]) -> list[Any]:
        docs = []
        for policy in attached:
            version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
            got = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)
            docs.append(_doc(got["PolicyVersion"]["Document"]))
        return docs

    def documents(self, principal: str) -> list[Any]:
        account = principal.split(":")[4]
        kind, name = principal.split(":", 5)[5].split("/", 1)[0], principal.rsplit("/", 1)[1]
        iam = self._iam(account)
        if kind == "role":
            docs = [
                _doc(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ]
            attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            return docs + self._managed(iam, attached)
        docs = [
            _doc(iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"])
            for p in iam.list_user_policies(UserName=name)["PolicyNames"]
        ]
        docs += self._managed(
            iam, iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        )
        for group in iam.list_groups_for_user(UserName=name)["Groups"]:
            g = group["GroupName"]
            docs += [
                _doc(iam.get_group_policy(GroupName=g, PolicyName=p)["PolicyDocument"])
                for p in iam.list_group_policies(GroupName=g)["PolicyNames"]
            ]
            attached = iam.list_attached_group_policies(GroupName=g)["AttachedPolicies"]
            docs += self._managed(iam, attached)
        return docs


def _members(params: dict[str, str], name: str) -> list[str]:
    found = sorted(
        (int(k.rsplit(".", 1)[1]), v) for k, v in params.items() if k.startswith(f"{name}.member.")
    )
    return [v for _, v in found]


_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


def _simulate_reply(policies: _Policies, params: dict[str, str]) -> tuple[int, bytes]:
    principal = params.get("PolicySourceArn", "")
    try:
        docs = policies.documents(principal)
    except Exception as exc:  # the principal does not exist in moto
        error = (
            f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>'
            f"<Message>{escape(f'{principal}: {exc}')}</Message></Error>"
            "<RequestId>policy-front</RequestId></ErrorResponse>"
        )
        return 404, error.encode()
    members = []
    for resource in _members(params, "ResourceArns") or ["*"]:
        for action in _members(params, "ActionNames"):
            members.append(
                f"<member><EvalActionName>{escape(action)}</EvalActionName>"
                f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
                f"<EvalDecision>{decide(docs, action, resource)}</EvalDecision>"
                "<MatchedStatements/><MissingContextValues/></member>"
            )
    body = (
        f'<SimulatePrincipalPolicyResponse xmlns="{_NS}"><SimulatePrincipalPolicyResult>'
        f"<IsTruncated>false</IsTruncated><EvaluationResults>{''.join(members)}"
        "</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata>"
        "<RequestId>policy-front</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    )
    return 200, body.encode()


class PolicyFront(ThrottlingFront):
    """moto with ``SimulatePrincipalPolicy``, and a record of what each request asked."""

    def __init__(self, target: str, *, host: str = "127.0.0.1") -> None:
        super().__init__(target, rate=float("inf"), host=host)
        self.moto_url = target
        self._received: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def received(self, action: str) -> list[dict[str, str]]:
        """The form parameters of every ``action`` request that reached the front."""
        with self._lock:
            return [dict(p) for p in self._received if p.get("Action") == action]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def start(self) -> PolicyFront:
        from http.server import ThreadingHTTPServer

        front, policies = self, _Policies(self.moto_url)
        relay: Any = _front_handler(self.target, _Bucket(self.rate, self.burst))

        class Handler(relay):  # type: ignore[misc]
            def _answer(self) -> None:
                rfile: Any = self.rfile  # type: ignore[has-type]
                body = rfile.read(int(self.headers.get("Content-Length") or 0))
                params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
                with front._lock:
                    front._received.append(params)
                if params.get("Action") == "SimulatePrincipalPolicy":
                    status, reply = _simulate_reply(policies, params)
                    self._reply(status, reply, "text/xml")
                    return
                self.rfile = io.BytesIO(body)  # the relay reads the body again
                self._relay()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll: stop() waits for serve_forever to notice (0.5 s by default).
        serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, daemon=True).start()
        return self

    def __enter__(self) -> PolicyFront:
        return self.start()
