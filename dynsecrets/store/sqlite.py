"""The embedded store: one SQLite file (WAL, busy timeout) or ``memory://`` for tests.

Threads work concurrently. A read runs on the writer's connection when it is idle
(its page cache stays warm), otherwise on a connection of its own (WAL lets readers
go on while one writer writes), taken from a small pool so short-lived threads do
not each open one. WAL checkpoints run in a thread of their own (``_checkpoint``). Single-statement writes from many threads are committed
together (group commit, :class:`_WriteQueue`): the first waiting thread runs
everyone's statements in one transaction, each in a savepoint so one failing
statement fails only its caller, and every caller returns only after the commit
that holds its row. So ``insert_lease`` returning still means the pending row is
durable before the cloud call starts (the write-ahead rule).

Several processes may share one file; claims are taken inside ``BEGIN IMMEDIATE``
so each due lease goes to one worker.

``memory://`` is one private in-memory database on one connection (reads share
it, under the lock): a second connection would open a different, empty
database, and a ``cache=shared`` URI trades SQLite's busy timeout for table
locks that fail at once (SQLITE_LOCKED), which is worse than one connection.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import SchemaVersionError, StoreError
from ._checkpoint import Checkpointer
from ._sql import LEASE_COLS, SQLStore, lease_row, state_literal
from ._sql_server import ServerRows
from ._sql_tasks import TaskRows
from ._sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from .base import LeaseRecord

__all__ = ["InsecureStoreWarning", "SQLiteStore"]


class InsecureStoreWarning(UserWarning):
    """The store file can be read by users other than its owner."""


#: WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000):
#: a fallback, should the checkpoint thread fall behind.
WAL_CHECKPOINT_PAGES = 10_000


class _Write:
    """One caller's statement waiting for the group commit, and its outcome."""

    __slots__ = ("args", "done", "error", "rowcount", "sql")

    def __init__(self, sql: str, args: Sequence[Any]) -> None:
        self.sql = sql
        self.args = args
        self.done = False
        self.rowcount = 0
        self.error: BaseException | None = None


class SQLiteStore(SQLStore, TaskRows, ServerRows):
    """SQLite store. ``path`` is a file path or ``":memory:"``."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        self.url = "memory://" if self.path == ":memory:" else f"sqlite:///{self.path}"
        try:
            if self.path != ":memory:":
                self._warn_if_readable(self.path)
                self._create_private(self.path)
            self._busy_timeout = busy_timeout
            self._db = self._connect()
            #: Guards the writer connection (and, for memory://, the only one).
            self._lock = threading.RLock()
            self._db.execute("PRAGMA foreign_keys = ON")
            self._memory = self.path == ":memory:"
            self.checkpoints = None if self._memory else Checkpointer(self._connect)
            if not self._memory:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                # Checkpoints run in a thread after every ~1,000 pages; a commit does
                # one itself past 10,000 only. The WAL is cut back to 16 MiB after.
                self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
                self._db.execute(f"PRAGMA journal_size_limit = {16 << 20}")
            # Group commit: callers queue here; the first one not served commits for all.
            self._queue: list[_Write] = []
            self._committing = False
            self._cond = threading.Condition(threading.Lock())
            # Idle read connections (file stores only). list.append/pop are atomic.
            self._readers: list[sqlite3.Connection] = []
            self._all_readers: list[sqlite3.Connection] = []
            self._closed = False
            self.store_id = self._migrate()
        except OSError as exc:  # a directory, an unwritable folder, a file in the way
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc.strerror or type(exc).__name__}; "
                "give the path of a file in a writable folder"
            ) from exc
        except sqlite3.Error as exc:  # not a database, truncated, locked for good
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc}; is it a dynsecrets store file?"
            ) from exc

    @staticmethod
    def _warn_if_readable(path: str) -> None:
        # os.path, not pathlib: pathlib and what it imports cost a few ms at open.
        if os.path.isfile(path) and os.stat(path).st_mode & 0o077:
            import warnings

            warnings.warn(
                f"store {path} can be read by other users (mode {oct(os.stat(path).st_mode & 0o777)}); "
                f"run: chmod 600 {path}",
                InsecureStoreWarning,
                stacklevel=4,
            )

    @staticmethod
    def _create_private(path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        # Create the file 0600 before SQLite does, so no other user can ever read it;
        # SQLite gives the -wal and -shm files the same mode as the database.
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)

    def _migrate(self) -> str:
        # A store that is already current is only read: opening one takes no write
        # lock, so a one-shot command neither waits behind a worker's writes nor
        # makes them wait.
        try:
            known = dict(
                self._db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('schema_version', 'store_id')"
                ).fetchall()
            )
        except sqlite3.OperationalError:  # no meta table: a new store
            known = {}
        if known.get("schema_version") == str(SCHEMA_VERSION) and known.get("store_id"):
            return str(known["store_id"])
        with self._tx():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"store {self.url} has schema version {version}, newer than this "
                    f"dynsecrets understands ({SCHEMA_VERSION}); upgrade dynsecrets"
                )
            for step in MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            # Made once, when the store is created: what this store's providers tag.
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)",
                (os.urandom(16).hex(),),
            )
            return str(
                self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
            )

    @property
    def schema_version(self) -> int:
        rows = self._rows("SELECT value FROM meta WHERE key='schema_version'")
        return int(rows[0][0])

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.url} is busy or unwritable: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
                if self.checkpoints is not None:
                    self.checkpoints.committed()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )

    def _reader(self) -> sqlite3.Connection:
        try:
            return self._readers.pop()
        except IndexError:
            pass
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        conn = self._connect()
        # A reader never writes: say so, so a bug cannot write outside the group commit.
        conn.execute("PRAGMA query_only = 1")
        with self._cond:
            self._all_readers.append(conn)
        return conn

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        if self._memory:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        conn = self._reader()
        try:
            # Autocommit: each read is its own snapshot, so it sees every write that
            # has returned (writes return only once committed).
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"store {self.url}: {exc}") from exc
        finally:
            self._readers.append(conn)

    def _row(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        # On the writer connection when it is idle: its page cache stays valid across
        # its own commits, while a reader connection's is dropped after every write,
        # so each lookup there fetched its pages again (a revoke's: ~70 -> ~55 us).
        # Lookups by key only: a scan would hold the writers up for its length.
        # Busy, or inside a transaction on this thread: a reader connection.
        if not self._memory and self._lock.acquire(blocking=False):
            try:
                if self._closed:
                    raise StoreError(f"store {self.url} is closed")
                if not self._db.in_transaction:
                    return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:  # OperationalError; ProgrammingError once closed
                raise StoreError(f"store {self.url}: {exc}") from exc
            finally:
                self._lock.release()
        return self._rows(sql, args)

    def _exec(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one write and return its row count once it is committed, together
        with the writes other threads queued meanwhile (leader/follower)."""
        me = _Write(sql, args)
        with self._cond:
            self._queue.append(me)
            while not me.done:
                if self._committing:
                    self._cond.wait()
                    continue
                batch, self._queue = self._queue, []
                self._committing = True
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._committing = False
                    self._cond.notify_all()
        if me.error is not None:
            # IntegrityError is this caller's own (its savepoint); anything else may be
            # shared by the batch, so each caller raises a fresh error of its own.
            if isinstance(me.error, sqlite3.IntegrityError):
                raise me.error
            raise StoreError(f"store {self.url}: {me.error}") from me.error
        return me.rowcount

    def _commit(self, batch: list[_Write]) -> None:
        """Run ``batch`` in one transaction; every entry ends done, with its row
        count or its own error (a failed commit is every entry's error)."""
        try:
            with self._lock:
                if self.checkpoints is not None:
                    self.checkpoints.committed()
                if len(batch) == 1:  # alone: autocommit, no transaction to manage
                    w = batch[0]
                    try:
                        w.rowcount = self._db.execute(w.sql, w.args).rowcount
                    except sqlite3.Error as exc:
                        w.error = exc
                    return
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for w in batch:
                        # A savepoint each: one caller's failing statement (a duplicate
                        # key) is undone alone, and the others still commit.
                        self._db.execute("SAVEPOINT w")
                        try:
                            w.rowcount = self._db.execute(w.sql, w.args).rowcount
                        except sqlite3.Error as exc:
                            w.error = exc
                            self._db.execute("ROLLBACK TO w")
                        self._db.execute("RELEASE w")
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
        except BaseException as exc:  # BEGIN or COMMIT failed: nothing of the batch holds
            for w in batch:
                w.error = exc
                w.rowcount = 0
        finally:
            for w in batch:
                w.done = True

    def _unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def claim_due(
        self, now: float, *, owner: str, deadline: float, limit: int, state: str | None = None
    ) -> list[LeaseRecord]:
        where = "due_at <= ? AND (claim_deadline IS NULL OR claim_deadline < ?)"
        args: tuple[Any, ...] = (now, now)
        if state is not None:
            # A literal, so the planner can use the partial index for that state.
            where += f" AND state = {state_literal(state)}"
        with self._tx() as db:
            ids = [
                r[0]
                for r in db.execute(
                    f"SELECT lease_id FROM leases WHERE {where} ORDER BY due_at LIMIT ?",
                    (*args, limit),
                ).fetchall()
            ]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            db.execute(
                f"UPDATE leases SET claim_owner = ?, claim_deadline = ? WHERE lease_id IN ({marks})",
                (owner, deadline, *ids),
            )
            rows = db.execute(
                f"SELECT {LEASE_COLS} FROM leases WHERE lease_id IN ({marks}) ORDER BY due_at",
                tuple(ids),
            ).fetchall()
        return [lease_row(r) for r in rows]

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()
        with self._cond:
            self._closed = True
            readers, self._all_readers, self._readers = self._all_readers, [], []
        for conn in readers:
            conn.close()
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.url!r})"
