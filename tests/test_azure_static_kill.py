"""SIGKILL at chosen points of an Azure static role's rotation, 12 times, against
the TLS fakes: after recovery every password of the application is one the store
knows, and the secret the store serves obtains a token."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynsecrets import Engine, ExpiryWorker, ManualClock
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

from ._azure import azure_entry_point, secret_works
from ._azure_rotate_forever import Shifted

__all__ = ["azure_entry_point"]
ROOT = Path(__file__).resolve().parent.parent
KILLS = 12


@pytest.fixture
def shifted() -> Shifted:
    return Shifted(0.0)


@pytest.fixture
def live_azure(shifted: Shifted) -> Iterator[AzureFakes]:
    """The fakes on the clock the rotating processes use (the real one, shifted
    further ahead for each restart): password times and intents agree."""
    with AzureFakes(clock=shifted) as fakes:
        yield fakes


def _engine(url: str, clock: ManualClock | None = None) -> Engine:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    return Engine.open(url, registry=registry, **({"clock": clock} if clock else {}))


@pytest.mark.slow
def test_sigkill_during_rotation(live_azure: AzureFakes, shifted: Shifted, tmp_path: Path) -> None:
    app = live_azure.directory.add_application("payments-api")
    live_azure.directory.add_service_principal(app, [])
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with _engine(url) as setup:
        mount = setup.enable("azure", "azure")
        mount.configure(**live_azure.config())
        mount.static.write("app", application_object_id=app["id"], rotation_period="24h")
    rng = random.Random(20261130)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(KILLS):
        # Each process starts past the claims of the last one (claim TTL 30 s), and the
        # recovery in between sits 45 s after the killed one: no one waits for time.
        shifted.offset += 90
        child = subprocess.Popen(
            [sys.executable, "-m", "tests._azure_rotate_forever", url, str(shifted.offset)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # Each rotation is GetApplication (list), GetApplication, AddPassword (and a
        # token for the proof, which is not a Graph reply): kill after 1-8 of them.
        seen = []
        for _ in range(rng.randint(1, 8)):
            line = child.stdout.readline()
            seen.append(line)
            if not line.startswith("call "):
                child.kill()
                assert child.stderr is not None
                pytest.fail(
                    f"the rotating process stopped after {seen}: {child.stderr.read()[-600:]}"
                )
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

        later = ManualClock(time.time() + shifted.offset + 45)  # past the dead one's claim
        with _engine(url, later) as engine:
            ExpiryWorker(engine).run_once()
            state = engine.mount("azure").static.read("app")
            creds = engine.read("azure/static-creds/app")
        held = {c["keyId"] for c in app["passwordCredentials"]}
        known = {state["secret_id"], *state["previous_secret_ids"]}
        assert held and held <= known, (held, known)
        assert not state["rotation_failing"]
        assert secret_works(live_azure, creds.data["client_id"], creds.data["client_secret"])
