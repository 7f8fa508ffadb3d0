"""WAL checkpoints run in the store's own thread, not in a caller's commit; and a
lookup runs on the idle writer connection without seeing an uncommitted write."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dynsecrets.store.sqlite import WAL_CHECKPOINT_PAGES, SQLiteStore

from .test_sqlite import _lease


def _in_database_file(path: Path) -> set[str]:
    """Lease ids in the database file itself, ignoring the WAL: what a checkpoint
    has copied back."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        if "leases" not in tables:  # the schema itself is still in the WAL only
            return set()
        return {r[0] for r in db.execute("SELECT lease_id FROM leases")}
    finally:
        db.close()


def _wait_for_checkpoints(store: SQLiteStore, count: int) -> None:
    box = store.checkpoints
    assert box is not None
    with box.finished:
        assert box.finished.wait_for(lambda: box.done >= count, timeout=60)


def test_the_checkpoint_thread_copies_the_wal_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()  # made (a commit); reopened, it is only read
    store = SQLiteStore(path)
    assert store.checkpoints is not None
    store.checkpoints.every = 3
    store.insert_lease(_lease("m/creds/r/1"))
    store.insert_lease(_lease("m/creds/r/2"))
    # Two commits: below the threshold, the rows are in the WAL only.
    assert store.checkpoints.done == 0
    assert _in_database_file(path) == set()
    store.insert_lease(_lease("m/creds/r/3"))
    _wait_for_checkpoints(store, 1)
    assert _in_database_file(path) == {"m/creds/r/1", "m/creds/r/2", "m/creds/r/3"}
    # Commits fall back to checkpointing by themselves only far later.
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES
    thread = store.checkpoints._thread
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()


def test_a_store_that_writes_little_starts_no_thread(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.insert_lease(_lease("m/creds/r/1"))
    assert store.checkpoints is not None and store.checkpoints._thread is None
    store.close()
    assert SQLiteStore(":memory:").checkpoints is None


def test_a_lookup_never_sees_an_uncommitted_transaction(tmp_path: Path) -> None:
    # Lookups by key run on the writer connection when it is idle. While a write
    # transaction holds it (another thread's, or this thread's own), they go to a
    # reader connection and see only what is committed.
    store = SQLiteStore(tmp_path / "s.db")
    store.insert_lease(_lease("m/creds/r/old"))
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._tx() as db:
            db.execute("DELETE FROM leases")
            inside.set()
            release.wait(60)

    writer = threading.Thread(target=hold)
    writer.start()
    assert inside.wait(60)
    try:
        assert store.get_lease("m/creds/r/old") is not None
    finally:
        release.set()
        writer.join()
    assert store.get_lease("m/creds/r/old") is None

    store.insert_lease(_lease("m/creds/r/new"))
    with store._tx() as db:  # this thread's own transaction (the lock is re-entrant)
        db.execute("DELETE FROM leases")
        assert store.get_lease("m/creds/r/new") is not None
    assert store.get_lease("m/creds/r/new") is None
    store.close()


def test_a_lookup_on_a_closed_store_is_a_store_error(tmp_path: Path) -> None:
    from dynsecrets.errors import StoreError

    store = SQLiteStore(tmp_path / "s.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_lease("m/creds/r/1")
