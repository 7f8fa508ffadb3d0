"""Rotates an AWS static role in a loop until killed: the victim of the SIGKILL
rotation test. It prints each AWS call as it completes, so the test kills it at a
point it chose."""

from __future__ import annotations

import sys
from typing import Any

from dynsecrets import Engine
from dynsecrets.clock import SystemClock


class AheadClock(SystemClock):
    """The wall clock, ``ahead`` seconds on: each restart runs later than the last
    one's claims, as a real restart would, without the test waiting for them."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def now(self) -> float:
        return super().now() + self.ahead


def main(url: str, ahead: str) -> None:
    engine = Engine.open(url, recover=False, clock=AheadClock(float(ahead)))
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
    main(sys.argv[1], sys.argv[2])
