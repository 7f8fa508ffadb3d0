"""GCP: calls per credential, and issue+revoke overhead against raw google-cloud-iam
making the same calls on the same FakeGoogle (gRPC over TLS).

Two baselines, both the same two calls (CreateServiceAccountKey,
DeleteServiceAccountKey) on one client made once and reused, as dynsecrets reuses
its own (one channel per mount config):

- ``overhead``: an ``IAMClient`` as a user of raw google-cloud-iam writes it for an
  endpoint with its own CA (tests/gcp_fixtures.auditor does the same): the key's
  credentials, a ``requests`` session trusting the CA for token refreshes, and
  google-auth's ``secure_authorized_channel``. gRPC runs google-auth's metadata
  plugin on a new thread per call; dynsecrets adds the same headers in the calling
  thread (providers/gcp/clients.py), so its calls cost less than this baseline's.
- ``overhead_same_channel``: the same raw calls on dynsecrets' own client
  (``GoogleClients``). What is left of the ratio is dynsecrets' own work: the two
  durable lease writes, plan, audit and the provider's bookkeeping.

Fairness: each side is warmed (channels, tokens, the fake's RSA pool) before the
calls are counted and timed; the two run interleaved, cycle by cycle, so load and
the fake's state hit both alike; garbage from the setup is collected before timing
and the collector then runs as it would for a user, on both sides.
"""

from __future__ import annotations

import gc
import json
import tempfile
from collections import Counter
from typing import Any

from dynsecrets import Engine
from dynsecrets.providers.gcp.clients import SCOPE, GoogleClients
from dynsecrets.testing.gcp import FakeGoogle

from ._null import KEY
from ._overhead import interleaved

PROJECT = "fake-project"
ROLESET = {
    "project": PROJECT,
    "secret_type": "service_account_key",
    "bindings": {f"//cloudresourcemanager.googleapis.com/projects/{PROJECT}": ["roles/viewer"]},
}
#: The fewest cloud calls a key lease needs: one keys.create, one keys.delete.
MINIMUM = {"issue": 1, "revoke": 1}


def _calls(google: FakeGoogle, fn: Any) -> dict[str, int]:
    before = Counter(google.state.calls)
    fn()
    diff = Counter(google.state.calls)
    diff.subtract(before)
    # Token refreshes are authentication, not calls of the operation (one an hour).
    return {k: v for k, v in diff.items() if v and k != "token"}


def raw_client(credentials_json: str, google: FakeGoogle) -> tuple[Any, Any]:
    """(IAMClient, channel) as raw google-cloud-iam code makes them for ``google``."""
    import grpc
    import requests
    from google.auth.transport.grpc import secure_authorized_channel
    from google.auth.transport.requests import Request
    from google.cloud.iam_admin_v1 import IAMClient
    from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(
        json.loads(credentials_json), scopes=[SCOPE]
    )
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.verify = google.ca_path
    with open(google.ca_path, "rb") as f:
        ssl = grpc.ssl_channel_credentials(f.read())
    channel = secure_authorized_channel(
        creds, Request(session), google.iam_endpoint, ssl_credentials=ssl
    )
    return IAMClient(transport=IAMGrpcTransport(channel=channel)), channel


def _raw_cycle(iam: Any, account: str) -> None:
    """What dynsecrets does for a key lease, as raw google-cloud-iam calls."""
    key = iam.create_service_account_key(
        request={
            "name": f"projects/-/serviceAccounts/{account}",
            "private_key_type": 2,  # TYPE_GOOGLE_CREDENTIALS_FILE
            "key_algorithm": 2,  # KEY_ALG_RSA_2048
        },
        retry=None,
        timeout=30,
    )
    iam.delete_service_account_key(name=key.name, retry=None, timeout=30)


def run(*, quick: bool, repeats: int) -> dict[str, Any]:
    cycles = 10 if quick else 50
    with FakeGoogle(PROJECT) as google:
        path = tempfile.mkdtemp(prefix="dynsecrets-bench-gcp-")
        engine = Engine.open(f"sqlite:///{path}/bench.db", key=KEY)
        mount = engine.enable("gcp", "gcp")
        config = google.config()
        mount.configure(**config)
        mount.write_role("k", **ROLESET)
        account = mount.read_role("k")["service_account_email"]
        raw, raw_channel = raw_client(config["credentials"], google)
        ours = GoogleClients(mount.root_config())
        ours.ensure_token("bench")
        for _ in range(3):  # warm every path (channels, tokens, the fake's RSA pool)
            _raw_cycle(raw, account)
            _raw_cycle(ours.iam, account)
            engine.revoke(mount.issue("k").lease_id)
        leases: list[Any] = []
        issue = _calls(google, lambda: leases.append(mount.issue("k")))
        revoke = _calls(google, lambda: engine.revoke(leases[0].lease_id))
        gc.collect()
        overhead = interleaved(
            lambda _i: _raw_cycle(raw, account),
            lambda: engine.revoke(mount.issue("k").lease_id),
            cycles=cycles,
            repeats=repeats,
            warmup=0,  # warmed above, before the calls were counted
        )
        same_channel = interleaved(
            lambda _i: _raw_cycle(ours.iam, account),
            lambda: engine.revoke(mount.issue("k").lease_id),
            cycles=cycles,
            repeats=repeats,
            warmup=0,
        )
        raw_channel.close()
        ours.close()
        engine.close()
    return {
        "calls": {"issue": issue, "revoke": revoke, "minimum": MINIMUM},
        "overhead": overhead,
        "overhead_same_channel": same_channel,
    }
