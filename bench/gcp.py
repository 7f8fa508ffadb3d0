"""GCP: calls per credential, and issue+revoke overhead against raw google-cloud-iam
making the same calls on the same FakeGoogle (gRPC over TLS)."""

from __future__ import annotations

import tempfile
from collections import Counter
from typing import Any

from dynsecrets import Engine
from dynsecrets.providers.gcp.clients import GoogleClients
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


def _raw_cycle(clients: GoogleClients, account: str) -> None:
    """What dynsecrets does for a key lease, as raw google-cloud-iam calls."""
    clients.ensure_token("bench")
    key = clients.iam.create_service_account_key(
        request={
            "name": f"projects/-/serviceAccounts/{account}",
            "private_key_type": 2,
            "key_algorithm": 2,
        },
        retry=None,
        timeout=30,
    )
    clients.iam.delete_service_account_key(name=key.name, retry=None, timeout=30)


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
        # The baseline uses clients built exactly as dynsecrets builds its own.
        raw = GoogleClients(mount.root_config())
        for _ in range(3):  # warm both paths (channels, tokens, the fake's RSA pool)
            _raw_cycle(raw, account)
            engine.revoke(mount.issue("k").lease_id)
        leases: list[Any] = []
        issue = _calls(google, lambda: leases.append(mount.issue("k")))
        revoke = _calls(google, lambda: engine.revoke(leases[0].lease_id))
        overhead = interleaved(
            lambda _i: _raw_cycle(raw, account),
            lambda: engine.revoke(mount.issue("k").lease_id),
            cycles=cycles,
            repeats=repeats,
            warmup=0,  # warmed above, before the calls were counted
        )
        raw.close()
        engine.close()
    return {"calls": {"issue": issue, "revoke": revoke, "minimum": MINIMUM}, "overhead": overhead}
