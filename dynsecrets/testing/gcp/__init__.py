"""A local fake of the Google Cloud APIs the ``gcp`` provider calls, over TLS.

``FakeGoogle`` starts a gRPC fake of IAM admin and one HTTPS server for the
OAuth 2.0 token endpoint, iamcredentials v1 and the IAM policy methods of
resourcemanager v3, Cloud Storage and the v1 APIs, all sharing one state, with
a throwaway CA made for the session (``trustme``). Use it to test code that
uses dynsecrets' GCP leases without a Google account::

    with FakeGoogle() as google:
        mount.configure(**google.config())
        lease = mount.issue("my-set")

Inject faults with ``google.faults`` (``fail``, ``lose_reply``, ``before``), limit
what a principal may do with ``google.state.access`` (``restrict``, ``deny``,
``grant(..., on=resource)``: every call then checks its IAM permission, and
``testIamPermissions`` answers accordingly; by default everyone may do
everything), and look at the cloud through ``google.state``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from types import TracebackType
from typing import Any

from ._access import Access
from ._state import MAX_KEYS, PERMISSIONS, FakeError, Faults, GoogleState

__all__ = [
    "MAX_KEYS",
    "PERMISSIONS",
    "Access",
    "FakeError",
    "FakeGoogle",
    "Faults",
    "GoogleState",
]


class FakeGoogle:
    """The fake, started by ``start()`` or ``with``; ``stop()`` ends it."""

    def __init__(self, project: str = "fake-project") -> None:
        self.project = project
        self.state = GoogleState(project)
        self._grpc: Any = None
        self._rest: Any = None
        self._dir = ""
        self.ca_path = ""
        self.iam_endpoint = ""
        self.rest_url = ""

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def token_uri(self) -> str:
        return f"{self.rest_url}/token"

    def start(self) -> FakeGoogle:
        try:
            import trustme
        except ImportError as exc:  # pragma: no cover
            raise ImportError("FakeGoogle needs trustme: pip install 'dynsecrets[test]'") from exc
        from ._iam_grpc import serve_iam
        from ._rest import serve_rest

        self._dir = tempfile.mkdtemp(prefix="dynsecrets-fake-google-")
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert_pem = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
        key_pem = cert.private_key_pem.bytes()
        self.ca_path = os.path.join(self._dir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        self._rest, rest_port = serve_rest(self.state, cert_pem, key_pem, self._dir)
        self.rest_url = f"https://127.0.0.1:{rest_port}"
        self.state.token_uri = self.token_uri
        self._grpc, grpc_port = serve_iam(self.state, cert_pem, key_pem)
        self.iam_endpoint = f"127.0.0.1:{grpc_port}"
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(None)
            self._grpc = None
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = ""

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers for tests ----------------------------------------------------------------
    def service_account(self, account_id: str, project: str | None = None) -> str:
        """Create a service account directly in the fake; returns its email."""
        made = self.state.create_account(project or self.project, account_id, account_id, "")
        return str(made["email"])

    def key_json(self, email: str) -> str:
        """A new key for ``email``, as the credentials-file JSON text."""
        _, data = self.state.create_key(f"projects/-/serviceAccounts/{email}", "KEY_ALG_RSA_2048")
        return data.decode()

    def add_resource(self, resource: str, policy: dict[str, Any] | None = None) -> None:
        """Make a REST resource exist (``projects/p``, ``b/bucket``, ``projects/p/topics/t``)."""
        self.state.known_resources.add(resource)
        if policy is not None:
            self.state.policies[resource] = json.loads(json.dumps(policy))

    def endpoints(self) -> dict[str, str]:
        return {
            "iam": self.iam_endpoint,
            "iamcredentials": self.rest_url,
            "cloudresourcemanager": self.rest_url,
            "storage": self.rest_url,
            "pubsub": self.rest_url,
            "secretmanager": self.rest_url,
        }

    def config(self, root: str = "dynsecrets-root") -> dict[str, Any]:
        """Config for a ``gcp`` mount: a root account (made once) with a fresh key,
        the fake's endpoints and its CA."""
        email = f"{root}@{self.project}.iam.gserviceaccount.com"
        if email not in self.state.accounts:
            self.service_account(root)
        return {
            "credentials": self.key_json(email),
            "endpoints": self.endpoints(),
            "ca_bundle": self.ca_path,
        }
