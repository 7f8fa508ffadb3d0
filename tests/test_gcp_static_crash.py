"""Crash safety of a GCP static role's rotation: the process dies (a BaseException
that skips every cleanup) after each IAM call of a worker's run (retire the old
key, list, create); a new engine on the same store leaves the current key working,
every key of the account known to the store, and at most one unknown key, which
the next run deletes."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import auditor, token_with_key, user_key_ids
from .test_gcp_crash import Crash, crash_after


def _works(google: FakeGoogle, engine: Engine) -> bool:
    creds = engine.read("gcp/static-creds/app")
    info: dict[str, Any] = json.loads(base64.b64decode(creds.data["private_key_data"]))
    return bool(token_with_key(google, info))


@pytest.mark.parametrize("after", [1, 2, 3])
def test_crash_after_each_call_of_a_rotation(
    google: FakeGoogle, tmp_path: Path, after: int
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # The engine tells a lost create's key by Google's creation time, which must agree
    # with the engine's clock within its SKEW (300 s): the fake stamps keys with the
    # wall clock, so start two hours back and arrive at the crash near the wall clock.
    clock = ManualClock(time.time() - 7200)
    email = google.service_account("billing-app")
    engine = Engine.open(url, clock=clock)
    mount = engine.enable("gcp", "gcp")
    mount.configure(**google.config())
    engine.write(
        "gcp/static-roles/app",
        service_account_email=email,
        rotation_period="1h",
        rotation_grace_period="10m",
    )
    clock.advance(3600)
    ExpiryWorker(engine).run_once()  # one rotation: the first key is now previous
    clock.advance(3600)  # its grace is over and the next rotation is due
    seen = crash_after(mount, after)  # 1: delete the old key, 2: list, 3: create
    with pytest.raises(Crash):
        ExpiryWorker(engine).run_once()
    assert len(seen) == after
    engine.core.heartbeat.close()  # the process is gone: its claims stop moving

    clock.advance(engine.claim_ttl + 1)
    with Engine.open(url, clock=clock) as second:
        client = auditor(google)
        state = second.read("gcp/static-roles/app")
        known = {state["secret_id"], *state["previous_secret_ids"]}
        unknown = user_key_ids(client, email) - known
        assert not unknown or (state["rotation_failing"] and len(unknown) == 1)
        assert _works(google, second)
        ExpiryWorker(second).run_once()  # finishes what the crash interrupted
        state = second.read("gcp/static-roles/app")
        assert user_key_ids(client, email) == {state["secret_id"], *state["previous_secret_ids"]}
        assert not state["rotation_failing"] and _works(google, second)
    engine.close()
