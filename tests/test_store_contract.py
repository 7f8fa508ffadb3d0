from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dynsecrets.store.sqlite import SQLiteStore
from dynsecrets.testing import StoreContract


class TestSQLiteMemory(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SQLiteStore]:
        s = SQLiteStore(":memory:")
        yield s
        s.close()


class TestSQLiteFile(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        s = SQLiteStore(tmp_path / "store.db")
        yield s
        s.close()
