"""Crash safety of the GCP provider: the process dies (a BaseException that skips
even rollback, or SIGKILL) after each cloud call of an issue, a roleset write and
a roleset delete; a restart's recovery leaves no key, account or binding behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.lifecycle import issuance, role_actions, role_resources
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import BINDINGS_HCL, KEY_ROLESET, PROJECT

ROOT = Path(__file__).resolve().parent.parent
ROLESET = {"project": PROJECT, "secret_type": "service_account_key", "bindings": BINDINGS_HCL}


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even rollback."""


def crash_after(mount: Mount, n: int) -> list[str]:
    """Make the n-th cloud call of the mount's provider land, then kill the
    'process'. Returns the list the calls are recorded in."""
    clients = mount.provider.clients.get(mount.root_config())  # type: ignore[attr-defined]
    seen: list[str] = []

    def tick(name: str) -> None:
        seen.append(name)
        if len(seen) == n:
            raise Crash(name)

    class Proxy:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Callable[..., Any]:
            fn = getattr(self.real, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                result = fn(*args, **kwargs)
                tick(name)
                return result

            return call

    clients.iam = Proxy(clients.iam)
    clients.keys = Proxy(clients.keys)  # a key lease's create and delete (keycalls.py)
    real_request = clients.rest.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        result = real_request(method, url, *args, **kwargs)
        tick(url.rsplit("/", 1)[-1])
        return result

    clients.rest.request = request
    return seen


def _ours(google: FakeGoogle) -> dict[str, Any]:
    st = google.state
    return {
        "accounts": sorted(e for e in st.accounts if e.startswith("ds-")),
        "keys": sorted(k for k, v in st.keys.items() if v["email"].startswith("ds-")),
        "bound": sorted(
            m for r in st.policies for ms in st.members(r).values() for m in ms if "ds-" in m
        ),
    }


def _setup(url: str, google: FakeGoogle, clock: ManualClock) -> tuple[Engine, Mount]:
    engine = Engine.open(url, clock=clock)
    mount = engine.enable("gcp", "gcp")
    mount.configure(**google.config())
    return engine, mount


def _restart(url: str, clock: ManualClock, first: Engine) -> None:
    clock.advance(first.claim_ttl + 1)
    with Engine.open(url, clock=clock) as second:  # opening recovers
        assert [x for x in second.leases() if "/role-ops/" in x.lease_id] == []
        assert all(x.state == LeaseState.ACTIVE for x in second.leases())
    first.close()


@pytest.fixture
def no_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (issuance, role_resources, role_actions):
        monkeypatch.setattr(module, "rollback", lambda *a, **k: None)


@pytest.mark.parametrize("after", range(1, 7))
def test_crash_during_roleset_write(
    google: FakeGoogle, tmp_path: Path, no_rollback: None, after: int
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    engine, mount = _setup(url, google, clock)
    google.add_resource("b/data-bucket")
    seen = crash_after(mount, after)
    try:
        mount.write_role("my-set", **ROLESET)
    except Crash:
        assert "my-set" not in mount.roles()
    else:  # the write needed fewer calls: nothing to crash
        assert len(seen) < after
        engine.close()
        return
    _restart(url, clock, engine)
    assert _ours(google) == {"accounts": [], "keys": [], "bound": []}


@pytest.mark.parametrize("after", range(1, 10))
def test_crash_during_roleset_delete(
    google: FakeGoogle, tmp_path: Path, no_rollback: None, after: int
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    engine, mount = _setup(url, google, clock)
    google.add_resource("b/data-bucket")
    mount.write_role("my-set", **ROLESET)
    seen = crash_after(mount, after)
    try:
        mount.delete_role("my-set")
    except Crash:
        pass
    else:
        assert len(seen) < after
    _restart(url, clock, engine)
    assert _ours(google) == {"accounts": [], "keys": [], "bound": []}


@pytest.mark.parametrize("lose", [False, True])
def test_crash_after_key_create_is_recovered(
    google: FakeGoogle, tmp_path: Path, no_rollback: None, lose: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    engine, mount = _setup(url, google, clock)
    mount.write_role("my-set", **KEY_ROLESET)
    kept = mount.issue("my-set")  # a live sibling on the same account must survive
    # ... issued a few seconds before (one in the same second may be swept: keys.py).
    google.state.keys[kept.google_credentials_info()["private_key_id"]]["created"] -= 5
    if lose:  # the reply was lost first, then the retry's reply came back and we died
        google.faults.lose_reply("CreateServiceAccountKey")
    crash_after(mount, 3 if lose else 1)  # lost create, list (reconcile), create
    with pytest.raises(Crash):
        mount.issue("my-set")
    assert len(_ours(google)["keys"]) == 2
    _restart(url, clock, engine)
    keys = _ours(google)["keys"]
    assert len(keys) == 1 and kept.google_credentials_info()["private_key_id"] in keys


@pytest.mark.slow
def test_sigkill_during_roleset_write(google: FakeGoogle, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = ManualClock(time.time())
    engine, _ = _setup(url, google, clock)
    google.add_resource("b/data-bucket")
    engine.close()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from dynsecrets import Engine\n"
            "from tests.gcp_fixtures import BINDINGS_HCL, PROJECT\n"
            "with Engine.open(sys.argv[1]) as e:\n"
            "    e.mount('gcp').write_role('my-set', project=PROJECT,\n"
            "        secret_type='service_account_key', bindings=BINDINGS_HCL)\n",
            url,
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
    )
    # Killed in the middle: the account exists and the project binding is being written.
    google.faults.before("buckets.getIamPolicy", lambda: os.kill(child.pid, signal.SIGKILL))
    assert child.wait(timeout=120) == -signal.SIGKILL
    assert _ours(google)["accounts"]  # it did get that far
    clock.advance(3600)
    with Engine.open(url, clock=clock) as second:
        assert second.leases() == [] and "my-set" not in second.mount("gcp").roles()
    assert _ours(google) == {"accounts": [], "keys": [], "bound": []}
