from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from dynsecrets import Engine
from dynsecrets.errors import SchemaVersionError, ValidationError
from dynsecrets.store import default_store_path, open_store
from dynsecrets.store.base import LeaseRecord
from dynsecrets.store.sqlite import SCHEMA_VERSION, SQLiteStore, _Write


def test_file_is_private_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "store.db"
    store = SQLiteStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == SCHEMA_VERSION
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SchemaVersionError, match="upgrade dynsecrets"):
        SQLiteStore(path)


def test_reopen_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Engine.open(url) as e:
        e.enable("m", "fake", default_ttl="1h")
    with Engine.open(url) as e:
        assert e.mount("m").info.default_ttl == 3600


def test_default_location_follows_xdg_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DYNSECRETS_STORE", raising=False)
    assert default_store_path() == tmp_path / "xdg" / "dynsecrets" / "dynsecrets.db"
    with Engine.open() as e:
        assert e.store.url == f"sqlite:///{tmp_path / 'xdg' / 'dynsecrets' / 'dynsecrets.db'}"
    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    with Engine.open() as e:
        assert e.store.url.endswith("env.db")
    assert os.path.exists(tmp_path / "env.db")


def test_unknown_store_url() -> None:
    with pytest.raises(ValidationError, match="unknown store URL 'redis'"):
        open_store("redis://localhost")


def _lease(lease_id: str) -> LeaseRecord:
    return LeaseRecord(
        lease_id=lease_id,
        mount="m",
        role="r",
        state="pending",
        plan={"user": lease_id},
        revocation=None,
        issued_at=1.0,
        expires_at=2.0,
        max_expires_at=3.0,
        due_at=2.0,
    )


def test_insert_is_committed_when_it_returns(tmp_path: Path) -> None:
    # The write-ahead rule: once insert_lease returns, another process sees the row.
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    store.insert_lease(_lease("m/creds/r/a"))
    other = sqlite3.connect(path)
    assert other.execute("SELECT state FROM leases").fetchall() == [("pending",)]
    other.close()
    store.close()


def test_group_commit_fails_only_the_failing_statement(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.insert_lease(_lease("m/creds/r/dup"))
    sql = "INSERT INTO meta (key, value) VALUES (?, ?)"
    batch = [_Write(sql, ("k1", "1")), _Write(sql, ("k1", "again")), _Write(sql, ("k2", "2"))]
    store._commit(batch)  # one transaction, as the leader runs it for three threads
    assert [w.done for w in batch] == [True, True, True]
    assert batch[0].error is None and batch[2].error is None
    assert isinstance(batch[1].error, sqlite3.IntegrityError)
    assert store.get_meta("k1") == "1" and store.get_meta("k2") == "2"
    store.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_threads_write_and_read_concurrently(tmp_path: Path, where: str) -> None:
    store = SQLiteStore(tmp_path / "s.db" if where == "file" else ":memory:")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                lease_id = f"m/creds/r/{t:02d}-{i:03d}"
                store.insert_lease(_lease(lease_id))
                # Read-your-writes on any connection: the write returned committed.
                got = store.get_lease(lease_id)
                assert got is not None and got.state == "pending"
                assert store.activate_lease(
                    lease_id, revocation={}, expires_at=5.0, max_expires_at=6.0, renewable=False
                )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_leases(state="active")) == 400
    store.close()


def _stated(lease_id: str, state: str, due: float) -> LeaseRecord:
    return LeaseRecord(
        lease_id=lease_id, mount="m", role="r", state=state, plan={}, revocation=None,
        issued_at=0.0, expires_at=due, max_expires_at=due, due_at=due,
        renewable=True, revocable=True,
    )  # fmt: skip


def test_schema_2_store_moves_to_partial_state_indexes(tmp_path: Path) -> None:
    from dynsecrets.store._sqlite_schema import MIGRATIONS

    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for step in MIGRATIONS[:2]:
        for statement in step.split(";"):
            if statement.strip():
                db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2'), ('store_id', 'feedc0de')")
    db.commit()
    db.close()
    path.chmod(0o600)
    store = SQLiteStore(path)
    names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert store.schema_version == SCHEMA_VERSION == 3 and store.store_id == "feedc0de"
    assert "leases_state" not in names
    assert {"leases_due", "leases_pending", "leases_irrevocable"} <= names
    store.close()


def test_queries_by_state_use_the_partial_indexes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    for i, state in enumerate(["pending", "active", "irrevocable", "pending"]):
        store.insert_lease(_stated(f"m/creds/r/{i}", state, due=float(i)))
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    claimed = store.claim_due(10.0, owner="w", deadline=20.0, limit=10, state="pending")
    store._db.set_trace_callback(None)
    assert [r.lease_id for r in claimed] == ["m/creds/r/0", "m/creds/r/3"]
    select = next(s for s in seen if s.startswith("SELECT lease_id FROM leases"))
    plan = " ".join(str(r[3]) for r in store._db.execute(f"EXPLAIN QUERY PLAN {select}"))
    assert "leases_pending" in plan
    assert [r.lease_id for r in store.list_leases(state="irrevocable")] == ["m/creds/r/2"]
    plan = " ".join(
        str(r[3])
        for r in store._db.execute(
            "EXPLAIN QUERY PLAN SELECT lease_id FROM leases WHERE 1 = 1 "
            "AND state = 'irrevocable' ORDER BY lease_id"
        )
    )
    assert "leases_irrevocable" in plan
    with pytest.raises(ValueError, match="not a lease state"):
        store.list_leases(state="active' OR 1=1 --")
    store.close()


def test_wal_checkpoints_are_spaced_and_the_file_cut_back(tmp_path: Path) -> None:
    from dynsecrets.store.sqlite import WAL_CHECKPOINT_PAGES

    store = SQLiteStore(tmp_path / "s.db")
    assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES
    assert store._db.execute("PRAGMA journal_size_limit").fetchone()[0] == 16 << 20
    store.close()
