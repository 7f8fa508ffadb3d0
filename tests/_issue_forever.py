"""Issues iam_user leases in a loop until killed: the victim of the SIGKILL test."""

from __future__ import annotations

import sys

from dynsecrets import Engine


def main(url: str) -> None:
    engine = Engine.open(url, recover=False)
    mount = engine.mount("aws")
    print("ready", flush=True)
    while True:
        mount.issue("ec2")


if __name__ == "__main__":
    main(sys.argv[1])
