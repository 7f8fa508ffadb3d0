from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("DYNSECRETS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> str:
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=3).close()
    except Exception as exc:
        reason = (
            f"no PostgreSQL at {PG_URL} ({type(exc).__name__}); set DYNSECRETS_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true these tests must run: {reason}")
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def admin(pg_url: str) -> Iterator[object]:
    """Our own connection, to check the server's state independently of the provider."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn
