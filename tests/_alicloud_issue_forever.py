"""Issues RAM user leases in a loop until killed: the victim of the AliCloud SIGKILL
test. The fake in the parent counts the calls it answers, so the parent kills this
process at a point it chose."""

from __future__ import annotations

import sys

from dynsecrets import Engine

from ._alicloud import registry


def main(url: str) -> None:
    engine = Engine.open(url, recover=False, registry=registry())
    mount = engine.mount("ali")
    print("ready", flush=True)
    while True:
        mount.issue("full")


if __name__ == "__main__":
    main(sys.argv[1])
