"""SIGKILL at chosen points of a static role's rotation, 12 times, against a moto
server: after recovery the IAM user has one or two access keys, every one known to
the store, and the one the store serves is active."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock
from dynsecrets.testing.aws import MotoServer

from ._kill import kill_after_calls

ROOT = Path(__file__).resolve().parent.parent
KILLS = 12


def _keys(iam: Any) -> dict[str, str]:
    meta = iam.list_access_keys(UserName="static-app")["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in meta}


@pytest.mark.slow
@pytest.mark.moto
def test_sigkill_during_rotation(moto_server: MotoServer, iam: Any, tmp_path: Path) -> None:
    iam.create_user(UserName="static-app")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Engine.open(url) as setup:
        m = setup.enable("aws", "aws")
        m.configure(**moto_server.config())
        m.static.write("app", username="static-app", rotation_period="24h")
    rng = random.Random(20261130)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for n in range(KILLS):
        # Each run 200 s after the last (on its own clock): the dead one's claims
        # (30 s) have lapsed, as after a real restart, with no waiting here.
        ahead = 200.0 * n
        # Each rotation is ListAccessKeys, (DeleteAccessKey), CreateAccessKey,
        # GetCallerIdentity...: kill after 1-8 completed calls.
        kill_after_calls("tests._rotate_forever", [url, str(ahead)], env, rng.randint(1, 8))

        # Recovery: a worker after the dead process's claim has lapsed.
        later = ManualClock(time.time() + ahead + 100)
        with Engine.open(url, clock=later) as engine:
            ExpiryWorker(engine).run_once()
            state = engine.mount("aws").static.read("app")
            creds = engine.read("aws/static-creds/app")
        keys = _keys(iam)
        known = {state["secret_id"], *state["previous_secret_ids"]}
        assert 1 <= len(keys) <= 2, keys
        assert set(keys) <= known, (keys, known)
        assert keys[creds.data["access_key"]] == "Active"
        assert not state["rotation_failing"]
