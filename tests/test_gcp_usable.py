"""Key leases with ``wait_until_usable``: returned once Google's token endpoint
accepts the new key, polled on the injected clock; a warning when it never does."""

from __future__ import annotations

import base64
import json

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET, token_with_key


def test_key_lease_waits_until_usable(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock
) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    google.faults.fail("token", "invalid_grant", times=2)  # the new key is not known yet
    start, calls = gcp_clock.now(), google.state.calls["token"]
    lease = gcp_engine.read("gcp/roleset/my-set/key", wait_until_usable=True)
    assert google.state.calls["token"] == calls + 3 and not lease.warnings
    assert 0.2 < gcp_clock.now() - start < 0.5
    info = json.loads(base64.b64decode(lease.data["private_key_data"]))
    assert token_with_key(google, info)
    gcp_engine.revoke(lease.lease_id)


def test_without_the_option_no_token_call(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    calls = google.state.calls["token"]
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    assert google.state.calls["token"] == calls  # the minimum: one keys.create
    gcp_engine.revoke(lease.lease_id)


def test_never_usable_warns(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock
) -> None:
    gcp_mount.configure(**{**gcp_mount.root_config(), "wait_until_usable": True})
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    google.faults.fail("token", "invalid_grant", times=10_000)
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    google.faults.clear()
    assert any("not yet accepted" in w for w in lease.warnings)
    assert lease.lease_id  # the key is leased (revocable) all the same
    gcp_engine.revoke(lease.lease_id)
