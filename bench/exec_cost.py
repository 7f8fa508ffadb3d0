"""Workload: ``dynsecrets exec`` as a per-command wrapper, whole process, against moto.

``dynsecrets exec aws/creds/ec2 -- true`` (start, open the SQLite store, issue an
inline-policy iam_user lease, run the child, revoke, exit) against a plain Python
script that imports boto3 and makes the same six IAM calls around the same
child. Interleaved, in fresh processes; the ratio is what to read.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dynsecrets import Engine
from dynsecrets.testing.aws import MotoServer

from ._null import KEY
from .aws import POLICY

ROOT = Path(__file__).resolve().parent.parent

PLAIN = r"""
import json, os, subprocess, sys, time
import boto3
from botocore.config import Config
url = sys.argv[1]
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="AKIAMOTOTESTING00000", aws_secret_access_key="moto-testing-secret",
                   config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
name = f"plain-{os.getpid()}-{time.monotonic_ns()}"
tags = [{"Key": k, "Value": "x"} for k in ("dynsecrets", "dynsecrets:mount", "dynsecrets:role", "dynsecrets:lease-id")]
iam.create_user(UserName=name, Path="/", Tags=tags)
iam.put_user_policy(UserName=name, PolicyName="ec2", PolicyDocument=sys.argv[2])
key = iam.create_access_key(UserName=name)["AccessKey"]
env = dict(os.environ, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
code = subprocess.run(["true"], env=env).returncode
iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
iam.delete_user_policy(UserName=name, PolicyName="ec2")
iam.delete_user(UserName=name)
sys.exit(code)
"""


def _ms(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1e3


def run(*, quick: bool, repeats: int) -> dict[str, Any]:
    import json

    runs = 3 if quick else 15
    with MotoServer(process=True) as moto:
        store = Path(tempfile.mkdtemp(prefix="dynsecrets-bench-")) / "exec.db"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env["DYNSECRETS_STORE"] = f"sqlite:///{store}"
        env["DYNSECRETS_KEY"] = KEY
        with Engine.open(env["DYNSECRETS_STORE"], key=KEY) as engine:
            mount = engine.enable("aws", "aws")
            mount.configure(**moto.config())
            mount.write_role("ec2", credential_type="iam_user", policy_document=POLICY)
        wrapped = [sys.executable, "-m", "dynsecrets", "exec", "aws/creds/ec2", "--", "true"]
        policy = json.dumps(POLICY, separators=(",", ":"))
        plain = [sys.executable, "-c", PLAIN, moto.url, policy]
        for _ in range(2):  # warm the page cache and moto
            _ms(wrapped, env)
            _ms(plain, env)
        ds_ms, plain_ms, ratios = [], [], []
        for _ in range(repeats):
            ds = pl = 0.0
            for _ in range(runs):  # interleaved: the same noise hits both
                pl += _ms(plain, env)
                ds += _ms(wrapped, env)
            ds_ms.append(ds / runs)
            plain_ms.append(pl / runs)
            ratios.append(ds / pl)
        with Engine.open(env["DYNSECRETS_STORE"], key=KEY) as left:
            # The credentials' leases only: the store also keeps the mount's root
            # rotation schedule as a row of its own (@rotation/aws/root).
            leftover = len(left.leases("aws/creds/"))
    return {
        "plain_ms": statistics.median(plain_ms),
        "exec_ms": statistics.median(ds_ms),
        "ratio": statistics.median(ratios),
        "runs": runs,
        "leases_left": leftover,
    }


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv, repeats=1 if "--quick" in sys.argv else 3))
