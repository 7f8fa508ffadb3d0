"""Issues Azure leases in a loop until killed: the victim of the SIGKILL test. It
prints each Graph/ARM reply as it arrives, so the test kills it at a point it chose."""

from __future__ import annotations

import sys

from dynsecrets import Engine
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.registry import ProviderRegistry


def main(url: str) -> None:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    engine = Engine.open(url, recover=False, registry=registry)
    mount = engine.mount("azure")
    mount.provider.clients.observers.append(  # type: ignore[attr-defined]
        lambda method, url, status: print("call", method, status, flush=True)
    )
    print("ready", flush=True)
    while True:
        mount.issue("full")


if __name__ == "__main__":
    main(sys.argv[1])
