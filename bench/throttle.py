"""Workload: bulk revocation against a cloud that throttles above R calls/s.

moto behind :class:`~dynsecrets.testing.aws.ThrottlingFront` (a token bucket that
answers AWS's ``Throttling`` above R calls/s). ``n`` iam_user leases are issued
straight against moto, then revoked through the front, once by the expiry worker
and once by ``revoke_prefix``, with the engine's defaults. The figure is the rate
of calls the front let through, against R; every lease must be revoked, none
failed or irrevocable.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dynsecrets import Engine
from dynsecrets.testing.aws import MotoServer, ThrottlingFront

from ._null import KEY
from .aws import POLICY


def _issue(engine: Engine, moto: MotoServer, n: int) -> None:
    mount = engine.mount("aws")
    mount.configure(**moto.config())
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: mount.issue("ec2"), range(n)))


def _one(moto: MotoServer, rate: float, n: int, how: str) -> dict[str, Any]:
    path = tempfile.mkdtemp(prefix="dynsecrets-bench-")
    engine = Engine.open(f"sqlite:///{path}/bench.db", key=KEY)
    engine.enable("aws", "aws").write_role(
        "ec2", credential_type="iam_user", policy_document=POLICY
    )
    _issue(engine, moto, n)
    with ThrottlingFront(moto.url, rate=rate, process=True) as front:
        engine.mount("aws").configure(**front.config())
        if how == "worker":
            # Everything due at once: an expiry storm.
            with engine.store._tx() as db:  # type: ignore[attr-defined]
                db.execute("UPDATE leases SET due_at = 0, expires_at = 0")
        front.reset()
        start = time.perf_counter()
        if how == "worker":
            engine.expire_due()
        else:
            engine.revoke_prefix("aws/")
        elapsed = time.perf_counter() - start
        stats = front.stats()
    # The mount's leases only: the store also keeps its root rotation schedule as a
    # row of its own (@rotation/aws/root).
    left = engine.leases("aws/")
    limiter = engine.core.limiter("aws")
    engine.close()
    return {
        "rate": rate,
        "n": n,
        "calls_per_s": stats["admitted"] / elapsed,
        "of_rate": stats["admitted"] / elapsed / rate,
        "throttled": stats["throttled"],
        "admitted": stats["admitted"],
        "seconds": elapsed,
        "failed": sum(1 for r in left if r.state == "revoking"),
        "irrevocable": sum(1 for r in left if r.state == "irrevocable"),
        "left": len(left),
        "final_limit": limiter.limit,
        "final_rate": limiter.rate,
    }


def run(*, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with MotoServer(process=True) as moto:
        for rate in (20, 100):
            n = (60 if rate == 20 else 200) if quick else 2000
            for how in ("worker", "revoke_prefix"):
                r = _one(moto, rate, n, how)
                print(
                    f"   R={rate} {how}: {r['calls_per_s']:.1f} calls/s ({r['of_rate']:.0%} of R), "
                    f"{r['throttled']} throttled, {r['left']} left, {r['seconds']:.0f} s",
                    flush=True,
                )
                out[f"{how}_{rate}"] = r
                moto.reset()
    return out


if __name__ == "__main__":
    import sys

    run(quick="--quick" in sys.argv)
