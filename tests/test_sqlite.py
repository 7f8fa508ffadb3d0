from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from dynsecrets import Engine
from dynsecrets.errors import SchemaVersionError, ValidationError
from dynsecrets.store import default_store_path, open_store
from dynsecrets.store.sqlite import SCHEMA_VERSION, SQLiteStore


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
