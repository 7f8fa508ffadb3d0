"""The seed workflow for Google Cloud, step for step, on a throwaway SQLite store,
against FakeGoogle (a local TLS fake of IAM admin, iamcredentials, resourcemanager
and the OAuth token endpoint) that this script starts itself.

    python examples/gcp_workflow.py

1. enable the GCP secrets engine at gcp-proj/
2. configure it with a service account key (its token_uri points at the fake),
   the fake's endpoints and its CA
3. write the roleset my-set (service_account_key) from HCL bindings, and
   my-token-set (access_token)
4. read gcp-proj/roleset/my-set/key: a key for the roleset's account, as a lease;
   use it (a token from the token endpoint); read a token (no lease, as in Vault)
5. revoke the lease: the key is refused from then on
Exits non-zero if anything does not hold.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

import requests

import dynsecrets
from dynsecrets.testing.gcp import FakeGoogle

PROJECT = "fake-project"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
BINDINGS = f"""
resource "//cloudresourcemanager.googleapis.com/projects/{PROJECT}" {{
  roles = ["roles/viewer"]
}}
resource "buckets/data-bucket" {{
  roles = ["roles/storage.objectViewer"]
}}
"""


def token_with(google: FakeGoogle, key_file: dict[str, object]) -> str:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    session = requests.Session()
    session.trust_env = False
    session.verify = google.ca_path
    creds = service_account.Credentials.from_service_account_info(key_file, scopes=[SCOPE])
    creds.refresh(Request(session))
    return str(creds.token)


def main() -> int:
    with FakeGoogle(PROJECT) as google, tempfile.TemporaryDirectory() as tmp:
        google.add_resource("b/data-bucket")
        engine = dynsecrets.Engine.open(f"sqlite:///{Path(tmp) / 'store.db'}")
        with engine:
            engine.enable("gcp-proj", "gcp")
            engine.write("gcp-proj/config", **google.config())
            print("configured:", sorted(engine.read("gcp-proj/config")))
            engine.write(
                "gcp-proj/roleset/my-set",
                project=PROJECT,
                secret_type="service_account_key",
                bindings=BINDINGS,
            )
            account = engine.read("gcp-proj/roleset/my-set")["service_account_email"]
            print("roleset my-set ->", account)
            engine.write(
                "gcp-proj/roleset/my-token-set",
                project=PROJECT,
                secret_type="access_token",
                token_scopes=[SCOPE],
                bindings=BINDINGS,
            )

            lease = engine.read("gcp-proj/roleset/my-set/key")
            print("lease:", lease.lease_id, lease.duration, "renewable" if lease.renewable else "")
            key_file = json.loads(base64.b64decode(lease.data["private_key_data"]))
            assert key_file["client_email"] == account
            token_with(google, key_file)
            print("the key works: got a token for", key_file["client_email"])

            token = engine.read("gcp-proj/roleset/my-token-set/token")
            assert token.lease_id == "" and token.lease_duration == 0
            print("token:", token.data["token_ttl"], "s, no lease (Google cannot revoke it)")

            engine.revoke(lease.lease_id)
            try:
                token_with(google, key_file)
            except Exception as exc:  # google.auth RefreshError: invalid_grant
                print("after revoke the key is refused:", type(exc).__name__)
            else:
                print("the revoked key still works", file=sys.stderr)
                return 1
            engine.mount("gcp-proj").delete_role("my-set")
            engine.mount("gcp-proj").delete_role("my-token-set")
            left = [e for e in google.state.accounts if e.startswith("ds-")]
            print("accounts left:", left)
            return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
