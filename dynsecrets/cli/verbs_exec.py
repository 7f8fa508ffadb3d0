"""``exec``: run a command with a fresh credential, revoke it when the command ends."""

from __future__ import annotations

import argparse
import contextlib
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
    if kind in ("roles", "config", "config/root") or (kind in ("creds", "sts") and not name):
        raise UsageError(f"{args.path!r} is not a credential path such as <mount>/creds/<role>")
    with open_engine(args) as engine:
        # Through the path API, so that an sts/ path (or GCP's roleset/<n>/key) files
        # its lease as read does.
        lease = engine.read(args.path, ttl=args.ttl)
        if not isinstance(lease, Lease):
            raise UsageError(f"{args.path!r} did not issue a credential")
        env = lease_environ(lease)
        try:
            return _run(command, {**os.environ, **env})
        finally:
            # A GCP key reaches the child as a 0600 file (GOOGLE_APPLICATION_CREDENTIALS):
            # it goes when the child ends, before the key is revoked.
            key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
            if key_file and "GOOGLE_APPLICATION_CREDENTIALS" not in lease.env:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(key_file)
            if lease.lease_id:  # tokens have no lease (GCP access tokens)
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
