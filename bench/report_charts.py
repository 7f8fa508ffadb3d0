"""The charts of docs/benchmarks.md (matplotlib, from the bench extra; none without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# OpenBao 2.7.2 (raft storage) measured on this 2-core machine kind (issue 9).
REFERENCE = {
    "create_per_s": (500, 790),
    "restore_50k_s": (1.3, 2.0),
    "rss_kb_per_lease": 16,
    "lag_p50_s": 3.9,
    "lag_p99_s": 7.4,
    "revoke_prefix_per_s": (200, 570),
}


def bookkeeping(results: dict[str, Any], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = []
    opened = results["bookkeeping"]["sqlite"]["open"]
    counts = sorted(int(n) for n in opened)
    for key, label, fname in (
        ("open_to_issue_ms", "Engine.open to first issued lease (ms)", "bench-open.png"),
        ("rss_kb", "process RSS after open and one worker pass (MiB)", "bench-rss.png"),
    ):
        ys = [opened[c if c in opened else str(c)][key] for c in counts]
        if key == "rss_kb":
            ys = [y / 1024 for y in ys]
        fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
        ax.plot(counts, ys, marker="o", label="dynsecrets (SQLite)")
        if key == "rss_kb":
            ax.plot(
                counts,
                [ys[0] + c * REFERENCE["rss_kb_per_lease"] / 1024 for c in counts],
                linestyle="--",
                label="16 KB per lease (reference)",
            )
            ax.set_ylim(bottom=0, top=max(ys) * 3)
        if key == "open_to_issue_ms":
            ax.axhline(50, color="tab:red", linestyle=":", label="goal: 50 ms")
            ax.set_ylim(bottom=0, top=max(max(ys) * 2, 60))
        ax.set_xscale("symlog", linthresh=10_000)
        ax.set_xlim(left=0, right=max(counts) * 1.5)
        ax.set_xlabel("stored leases")
        ax.set_ylabel(label.split(" (")[1].rstrip(")"))
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out.parent / fname)
        plt.close(fig)
        names.append(fname)
    return names


def openbao(ratios: list[tuple[str, float]], out: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(ratios) + 1), dpi=100)
    names = [n for n, _ in ratios][::-1]
    values = [r for _, r in ratios][::-1]
    ax.barh(names, values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("dynsecrets advantage over OpenBao (x, log scale)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    name = "bench-vs-openbao.png"
    fig.savefig(out.parent / name)
    plt.close(fig)
    return name
