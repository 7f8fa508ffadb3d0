"""SIGKILL at chosen points of an AliCloud static role's rotation, 12 times, against
the TLS fake: after recovery the RAM user has one or two access keys, every one known
to the store, and the one the store serves works (checked with a separate client)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock
from dynsecrets.testing.alicloud import FakeAliCloud

from ._alicloud import ROOT, ali, registry, run_env, sdk_call  # noqa: F401

KILLS = 12
#: Calls per rotation at RAM's limit: ListAccessKeys, DeleteAccessKey, CreateAccessKey,
#: GetCallerIdentity.
PER_ROTATION = 4


def _works(ali: FakeAliCloud, creds: Any) -> bool:
    who = sdk_call(
        ali,
        "GetCallerIdentity",
        access_key=creds.data["access_key"],
        secret_key=creds.data["secret_key"],
    )
    return bool(who["Arn"].endswith(":user/app"))


def _keys(ali: FakeAliCloud) -> set[str]:
    out = sdk_call(ali, "ListAccessKeys", {"user_name": "app"})
    return {k["AccessKeyId"] for k in out["AccessKeys"]["AccessKey"]}


@pytest.mark.slow
def test_sigkill_during_rotation(ali: FakeAliCloud, tmp_path: Path) -> None:
    ali.account.add_user("app")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Engine.open(url, registry=registry()) as setup:
        m = setup.enable("ali", "alicloud")
        m.configure(**ali.config())
        m.static.write("app", username="app", rotation_period="24h")
    rng = random.Random(20261130)
    env = run_env(tmp_path)
    code = "import sys; from tests._alicloud import rotate_forever; rotate_forever(sys.argv[1])"
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", code, url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.stderr
        target = len(ali.faults.calls) + rng.randint(1, 2 * PER_ROTATION)
        if not ali.faults.wait_for_calls(target, timeout=60):
            child.kill()
            raise AssertionError(f"the child made no progress: {child.communicate()[1][-2000:]}")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

        # Recovery, once the dead process's claim has lapsed: the store's current key
        # works, and a key the store does not know is only the one whose create was
        # under way (its intent is stored).
        later = ManualClock(time.time() + 120)
        with Engine.open(url, clock=later, registry=registry()) as engine:
            ExpiryWorker(engine).run_once()
            state = engine.mount("ali").static.read("app")
            assert _works(ali, engine.read("ali/static-creds/app"))
            keys = _keys(ali)
            unknown = keys - {state["secret_id"], *state["previous_secret_ids"]}
            assert not unknown or (state["rotation_failing"] and len(unknown) == 1)
            assert 1 <= len(keys) <= 2, keys
            # The next rotation (here by another process) finishes what was cut short.
            state = engine.mount("ali").static.rotate("app")
            assert _works(ali, engine.read("ali/static-creds/app"))
        # Never an untracked key (one the store lists may be gone already: a kill after
        # its DeleteAccessKey; its deletion at the end of the grace period then succeeds).
        assert _keys(ali) <= {state["secret_id"], *state["previous_secret_ids"]}
        assert not state["rotation_failing"]
