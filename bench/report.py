"""docs/benchmarks.md: the header and the goals table; the sections are in
:mod:`bench.report_sections`, the charts in :mod:`bench.report_charts`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report_charts import REFERENCE
from .report_sections import goal, issue18_sections, main_sections

__all__ = ["write"]


def _load(m: dict[str, Any]) -> str:
    before, after = m.get("load_before"), m.get("load_after")
    if not before or not after:
        return ""
    return (
        f"Load average (1/5/15 min) {before[0]:.2f}/{before[1]:.2f}/{before[2]:.2f} before the run, "
        f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} after: the machine is shared, so "
        "absolute figures are this machine's under that load; compare the ratios."
    )


def _refreshed(results: dict[str, Any]) -> list[str]:
    """Sections re-run alone since the full run (``python -m bench --only``)."""
    runs = results.get("refreshed") or {}
    if not runs:
        return []
    parts = [
        f"{key} (commit `{r['commit']}`, {r['date']}, load {r['load_before'][0]:.2f} before, "
        f"{r['load_after'][0]:.2f} after)"
        for key, r in runs.items()
    ]
    return [
        "Re-run alone since (`python -m bench --only`): " + "; ".join(parts) + ". The other "
        "sections are from the full run above; each section's ratios come from one run."
    ]


def write(results: dict[str, Any], out: Path) -> None:
    m = results["machine"]
    a = results["aws"]
    b = results["bookkeeping"]
    imp = results["imports"]
    s = b["sqlite"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `python -m bench`"
        + (" --quick (a small set; not for comparison)" if results["quick"] else "")
        + f". Every figure is a median of {results['repeats']} run(s); comparisons are ratios taken side by "
        "side in the same run.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}. Commit `{m['commit']}`, {m['date']}.",
        _load(m),
        *_refreshed(results),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        "",
        "## Goals",
        "",
        "| goal | target | measured | |",
        "|---|---|---|---|",
    ]
    o = a["overhead"]
    rate = s.get("issue_rate_100000_1") or s.get("issue_rate_10000_1") or s.get("issue_rate_1000_1")
    big = max(int(n) for n in s["open"])
    opened = s["open"][big] if big in s["open"] else s["open"][str(big)]
    zero = s["open"][0] if 0 in s["open"] else s["open"]["0"]
    lines += [
        f"| AWS issue+revoke overhead vs raw boto3 | ratio <= 1.05 | {o['ratio']:.3f} | {goal(o['ratio'] <= 1.05)} |",
        *_azure_goals(results.get("azure")),
        *_gcp_goal(results.get("gcp")),
        *_alicloud_goal(results.get("alicloud")),
        f"| lease creation rate, SQLite, 1 thread | >= 10x reference (5,000-7,900/s) | {rate:,.0f}/s "
        f"({rate / REFERENCE['create_per_s'][1]:.1f}x-{rate / REFERENCE['create_per_s'][0]:.1f}x) | "
        f"{goal(rate >= 10 * REFERENCE['create_per_s'][1])} |",
        f"| open to ready at {big:,} leases | < 50 ms | {opened['open_to_issue_ms']:.1f} ms | "
        f"{goal(opened['open_to_issue_ms'] < 50)} |",
        f"| RSS does not grow with stored leases | flat | {zero['rss_kb'] / 1024:.1f} MiB at 0, "
        f"{opened['rss_kb'] / 1024:.1f} MiB at {big:,} | {goal(opened['rss_kb'] < zero['rss_kb'] * 1.25)} |",
        f"| {s['expiry_lag_n']:,} leases expiring together: lag p99 | < 1 s | {s['expiry_lag']['p99']:.2f} s | "
        f"{goal(s['expiry_lag']['p99'] < 1)} |",
        f"| revoke_prefix rate | >= 10x reference (5,700/s) | {s['revoke_prefix_rate']:,.0f}/s | "
        f"{goal(s['revoke_prefix_rate'] >= 10 * REFERENCE['revoke_prefix_per_s'][1])} |",
        f"| `import dynsecrets` | < 50 ms | {imp['import_ms']:.1f} ms | {goal(imp['import_ms'] < 50)} |",
        f"| `import dynsecrets; dynsecrets.Engine` | < 50 ms | {imp['engine_ms']:.1f} ms | "
        f"{goal(imp['engine_ms'] < 50)} |",
    ]
    lines += _new_goals(results)
    lines += main_sections(results, out)
    lines += issue18_sections(results, out)
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists() and not results["quick"]:
        lines += ["", notes.read_text().strip()]
    # `python -m bench.server` owns its section; a full run here keeps it.
    if out.exists():
        old = out.read_text()
        start, end = old.find("<!-- bench:server -->"), old.find("<!-- /bench:server -->")
        if 0 <= start < end:
            lines += ["", old[start : end + len("<!-- /bench:server -->")]]
    out.write_text("\n".join(lines) + "\n")


def _azure_goals(az: dict[str, Any] | None) -> list[str]:
    if not az:
        return []
    o = az["overhead"]
    rows = [
        f"| Azure issue+revoke overhead vs the same SDK calls | ratio <= 1.05 | {o['ratio']:.3f} "
        f"({o['dynsecrets_ms']:.0f} vs {o['raw_ms']:.0f} ms) | {goal(o['ratio'] <= 1.05)} |"
    ]
    for shape, c in az["calls"].items():
        ok = c["issue"] <= c["min_issue"] and c["revoke"] <= c["min_revoke"]
        rows.append(
            f"| Azure calls per credential, {shape} (issue/revoke) | {c['min_issue']}/"
            f"{c['min_revoke']} | {c['issue']}/{c['revoke']} | {goal(ok)} |"
        )
    return rows


def _gcp_goal(g: dict[str, Any] | None) -> list[str]:
    if not g:
        return []
    o = g["overhead"]
    c = g["calls"]
    minimal = (
        sum(c["issue"].values()) == c["minimum"]["issue"]
        and sum(c["revoke"].values()) == c["minimum"]["revoke"]
    )
    return [
        f"| GCP key issue+revoke overhead vs raw google-cloud-iam | ratio <= 1.05 | "
        f"{o['ratio']:.3f} | {goal(o['ratio'] <= 1.05)} |",
        f"| GCP calls per key lease | 1 create + 1 delete | "
        f"{sum(c['issue'].values())} + {sum(c['revoke'].values())} | {goal(minimal)} |",
    ]


def _alicloud_goal(ali: dict[str, Any] | None) -> list[str]:
    if not ali:
        return []
    o = ali["overhead"]
    return [
        f"| AliCloud issue+revoke overhead vs the same SDK calls | ratio <= 1.05 | "
        f"{o['ratio']:.3f} ({o['dynsecrets_ms']:.2f} vs {o['raw_ms']:.2f} ms) | "
        f"{goal(o['ratio'] <= 1.05)} |"
    ]


def _new_goals(results: dict[str, Any]) -> list[str]:
    """Issue 18's goals."""
    rows = []
    s = results["bookkeeping"]["sqlite"]
    n = max(int(k.split("_")[2]) for k in s if k.startswith("issue_rate_"))
    one, eight = s[f"issue_rate_{n}_1"], s[f"issue_rate_{n}_8"]
    rows.append(
        f"| SQLite lease creation, 8 threads vs 1 (N={n:,}) | >= 1x | {eight:,.0f}/s vs {one:,.0f}/s: "
        f"{eight / one:.2f}x | {goal(eight >= one)} |"
    )
    opened = results["imports"].get("open")
    if opened:
        rows.append(
            f"| `Engine.open('memory://')` usable, over bare `python -c pass` | < 30 ms | "
            f"{opened['open_over_bare_ms']:.1f} ms (typing+logging+attrs+sqlite3+json alone: "
            f"{opened['floor_over_bare_ms']:.1f} ms) | {goal(opened['open_over_bare_ms'] < 30)} |"
        )
    ex = results.get("exec")
    if ex:
        rows.append(
            f"| `dynsecrets exec` whole process vs a plain boto3 script | <= 1.15x | {ex['ratio']:.3f} "
            f"({ex['exec_ms']:.0f} vs {ex['plain_ms']:.0f} ms) | {goal(ex['ratio'] <= 1.15)} |"
        )
    for key, r in sorted((results.get("throttle") or {}).items()):
        how, rate = key.rsplit("_", 1)
        ok = r["of_rate"] >= 0.9 and r["failed"] == 0 and r["irrevocable"] == 0 and r["left"] == 0
        rows.append(
            f"| {r['n']:,} iam_user leases revoked by {how.replace('_', ' ')}, cloud limit R={rate}/s | "
            f">= 90% of R, 0 failed | {r['of_rate']:.0%} of R, {r['failed']} failed, "
            f"{r['irrevocable']} irrevocable | {goal(ok)} |"
        )
    return rows
