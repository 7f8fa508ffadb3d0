"""``exec``: run a command with a fresh credential, revoke it when the command ends."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
from typing import Any, TextIO

from dynsecrets.models import Lease

from .messages import UsageError
from .paths import open_engine, path_kind
from .render import lease_environ

__all__ = ["exec_"]


def exec_(args: argparse.Namespace, out: TextIO) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("name the command to run after --, e.g. -- aws s3 ls")
    _, kind, name = path_kind(args.path)
    if kind not in ("creds", "sts") or not name:
        raise UsageError(f"{args.path!r} is not <mount>/creds/<role>")
    with open_engine(args) as engine:
        # Through the path API, so that an sts/ path files its lease as read does.
        lease = engine.read(args.path, ttl=args.ttl)
        if not isinstance(lease, Lease):  # pragma: no cover (creds paths always issue)
            raise UsageError(f"{args.path!r} did not issue a credential")
        try:
            return _run(command, {**os.environ, **lease_environ(lease)})
        finally:
            engine.revoke(lease.lease_id)


def _run(command: list[str], env: dict[str, str]) -> int:
    try:
        child = subprocess.Popen(command, env=env)  # no shell: argv as given
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror}") from exc

    def forward(signum: int, _frame: Any) -> None:
        child.send_signal(signum)

    # Ctrl-C reaches the child from the terminal; we wait for it to finish and then
    # revoke, rather than dying first and leaving the lease.
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = child.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 128 - code if code < 0 else code
