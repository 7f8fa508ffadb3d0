"""WAL checkpoints off the write path of a SQLite store.

SQLite checkpoints a WAL database in whichever connection commits past the
``wal_autocheckpoint`` threshold, during that commit: copying the pages back and
syncing both files took 35-55 ms on this machine's disk, once every ~1,000 lease
cycles, in the middle of someone's issue or revoke (p99.9 35 ms against a median
of 0.19 ms). Here a thread of the store's own, with a connection of its own, runs
a PASSIVE checkpoint (it never blocks readers or writers) after every ``every``
commits; the writer's autocheckpoint stays on at a higher threshold, so the WAL
stays bounded even if this thread falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("dynsecrets")

#: Commits between two background checkpoints: about 1,000 WAL pages of leases
#: (an issue and its revoke write about 10 pages in 3 commits).
EVERY = 300


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` in a thread started on first need.
    ``committed()`` is called after each commit; ``done`` counts the checkpoints run
    (a condition tests wait on)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], every: int = EVERY) -> None:
        self._connect = connect
        self.every = every
        self._count = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.done = 0
        self.finished = threading.Condition()

    def committed(self) -> None:
        self._count += 1  # races only make a checkpoint come a commit early or late
        if self._count >= self.every:
            self._count = 0
            self._start()
            self._wake.set()

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="dynsecrets-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:  # the writer's autocheckpoint still bounds the WAL
            log.warning("SQLite checkpoint thread could not connect: %s", exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy (another checkpoint), or I/O
                    log.debug("SQLite checkpoint skipped: %s", exc)
                with self.finished:
                    self.done += 1
                    self.finished.notify_all()
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
