"""A provider that records every revocation in an append-only file, so tests that
run several OS processes can count cloud deletions. Run as a script, it is one
such process: an engine with expiry workers that runs until nothing is due."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from dynsecrets import Engine, Issued, IssueRequest, Provider, ProviderRegistry


class RecordingProvider(Provider):
    name: ClassVar[str] = "recording"
    log_path: ClassVar[str] = os.environ.get("DYNSECRETS_TEST_REVOKE_LOG", "")
    announced: ClassVar[bool] = False

    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        return {"lease_id": request.lease_id}

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        return Issued(data={"token": "t-" + request.lease_id[-8:]})

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        # O_APPEND writes of one short line are atomic across processes.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{os.getpid()} {plan['lease_id']}\n".encode())
        finally:
            os.close(fd)
        if os.environ.get("DYNSECRETS_TEST_PROGRESS"):
            print(f"revoked {plan['lease_id']}", flush=True)  # a test kills on progress
        elif not RecordingProvider.announced:
            RecordingProvider.announced = True
            print("revoking", flush=True)  # lets a test kill this process mid-run


def registry() -> ProviderRegistry:
    r = ProviderRegistry(entry_points=False)
    r.register(RecordingProvider)
    return r


def main(url: str, threads: int, deadline: float) -> int:
    engine = Engine.open(
        url,
        registry=registry(),
        claim_ttl=float(os.environ.get("CLAIM_TTL", "30")),
        audit=os.environ.get("DYNSECRETS_TEST_AUDIT") or None,
    )
    issue = int(os.environ.get("ISSUE", "0"))
    if issue:
        mount = engine.mount("rec")
        for _ in range(issue):
            mount.issue("r", ttl=1)
    barrier = os.environ.get("DYNSECRETS_TEST_BARRIER")
    if barrier:  # "<folder>,<n>": start the workers once n processes have got here
        folder, count = barrier.rsplit(",", 1)
        open(os.path.join(folder, str(os.getpid())), "w").close()
        until = time.time() + deadline
        while len(os.listdir(folder)) < int(count) and time.time() < until:
            time.sleep(0.01)
    print("ready", flush=True)  # before the workers, whose progress lines follow it
    for _ in range(threads):
        engine.start_worker(concurrency=4, interval=0.05)
    stop = time.time() + deadline
    while time.time() < stop and engine.store.next_due() is not None:
        time.sleep(0.05)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
