"""The overhead measurement every cloud's bench shares: the same cloud work done by
raw SDK calls and by dynsecrets, interleaved so that the same noise hits both."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def interleaved(
    raw: Callable[[int], None],
    ours: Callable[[], None],
    *,
    cycles: int,
    repeats: int,
    warmup: int = 5,
) -> dict[str, Any]:
    """``raw(i)`` makes the SDK calls dynsecrets makes for one issue+revoke; ``ours()``
    issues and revokes one lease. Returns per-cycle medians and their ratio.

    Why interleaved: the machine is shared, and its load drifts within seconds. Timed
    in two blocks (all raw, then all ours), the ratio of the same code swung from 0.6x
    to 2.9x under load (AliCloud, 100-cycle blocks); cycle by cycle, both paths see
    the same load. Which path goes first alternates from one cycle to the next, so
    neither always runs after the other (warm caches, a connection the other just
    used, its garbage)."""
    for i in range(warmup):  # warm both paths (connections, TLS sessions, caches)
        raw(-i - 1)
        ours()
    raw_ms, ds_ms, ratios = [], [], []
    for r in range(repeats):
        raw_s = ds_s = 0.0
        for i in range(cycles):
            if i % 2:
                t = time.perf_counter()
                ours()
                ds_s += time.perf_counter() - t
            t = time.perf_counter()
            raw(r * cycles + i)
            raw_s += time.perf_counter() - t
            if not i % 2:
                t = time.perf_counter()
                ours()
                ds_s += time.perf_counter() - t
        raw_ms.append(raw_s / cycles * 1e3)
        ds_ms.append(ds_s / cycles * 1e3)
        ratios.append(ds_s / raw_s)
    return {
        "raw_ms": statistics.median(raw_ms),
        "dynsecrets_ms": statistics.median(ds_ms),
        "ratio": statistics.median(ratios),
        "cycles": cycles,
        "repeats": repeats,
    }
