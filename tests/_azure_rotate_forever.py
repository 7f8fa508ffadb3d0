"""Rotates an Azure static role in a loop until killed: the victim of the SIGKILL
rotation test. It prints each Graph reply as it arrives, so the test kills it at a
point it chose. Its clock runs ``offset`` seconds ahead of the real one: each
restart is "later" than the last process's claims, as after a real restart, without
the test waiting for them to lapse."""

from __future__ import annotations

import sys
import time

from dynsecrets import Engine
from dynsecrets.clock import SystemClock
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry


class Shifted(SystemClock):
    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


def main(url: str, offset: float) -> None:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    engine = Engine.open(url, recover=False, registry=registry, clock=Shifted(offset))
    mount = engine.mount("azure")
    mount.provider.clients.observers.append(  # type: ignore[attr-defined]
        lambda method, url, status: print("call", method, status, flush=True)
    )
    print("ready", flush=True)
    while True:
        mount.static.rotate("app")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
