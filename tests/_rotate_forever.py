"""Rotates an AWS static role in a loop until killed: the victim of the SIGKILL
rotation test. It prints each AWS call as it completes, so the test kills it at a
point it chose."""

from __future__ import annotations

import sys
from typing import Any

from dynsecrets import Engine


def main(url: str) -> None:
    engine = Engine.open(url, recover=False)
    mount = engine.mount("aws")

    def report(model: Any, **_: Any) -> None:
        print("call", model.name, flush=True)

    mount.provider.clients.instrument(  # type: ignore[attr-defined]
        lambda client: client.meta.events.register("after-call.*.*", report)
    )
    print("ready", flush=True)
    while True:
        mount.static.rotate("app")


if __name__ == "__main__":
    main(sys.argv[1])
