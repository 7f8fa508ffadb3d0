"""The database part of ``python -m bench --vs-openbao``: OpenBao's database secrets
engine against the postgres-roles plugin on the same PostgreSQL with the same
statements (logins issued at 1 and 8 threads, revoke-prefix), and the floor of both:
the creation statement alone on one open connection."""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import bookkeeping

if TYPE_CHECKING:
    from .vs_openbao import Bao

ROOT = Path(__file__).resolve().parent.parent
PG_SRC = ROOT / "examples" / "dynsecrets-postgres-roles" / "src"
CREATE = "CREATE ROLE {q}{{{{name}}}}{q} WITH LOGIN PASSWORD {l}{{{{password}}}}{l} VALID UNTIL {l}{{{{expiration}}}}{l}"
# The same statements for both: OpenBao's plugin quotes nothing itself, ours quotes
# every placeholder (identifier or literal) when it renders the statement.
BAO_CREATE = CREATE.format(q='"', l="'")
DS_CREATE = CREATE.format(q="", l="")
BAO_REVOKE = 'DROP ROLE IF EXISTS "{{name}}"'
DS_REVOKE = "DROP ROLE IF EXISTS {{name}}"


def _bao_database(server: Bao, pg: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(pg)
    server.ok("POST", "sys/mounts/database", {"type": "database"})
    server.ok("POST", "database/config/pg", {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{parts.hostname}:{parts.port or 5432}{parts.path}?sslmode=disable",
        "username": parts.username or "postgres", "password": "unused-trust-auth",
        "allowed_roles": "*",
    })  # fmt: skip
    server.ok("POST", "database/roles/r", {
        "db_name": "pg", "creation_statements": [BAO_CREATE],
        "revocation_statements": [BAO_REVOKE], "default_ttl": "1h", "max_ttl": "24h",
    })  # fmt: skip


def _ds_database(pg: str) -> Any:
    from urllib.parse import urlsplit

    sys.path.insert(0, str(PG_SRC))
    from dynsecrets_postgres_roles import PostgresRolesProvider

    from dynsecrets import Engine, ProviderRegistry

    registry = ProviderRegistry(entry_points=False)
    registry.register(PostgresRolesProvider)
    parts = urlsplit(pg)
    engine = Engine.open(bookkeeping.fresh_sqlite(), registry=registry, key=bookkeeping.KEY)
    mount = engine.enable("pg", "postgres-roles", default_ttl="1h", max_ttl="24h")
    mount.configure(
        connection_url=f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}",
        username=parts.username or "postgres",
        password="unused-trust-auth",
    )
    mount.write_role("r", creation_statements=[DS_CREATE], revocation_statements=[DS_REVOKE])
    return engine


def _threads(n: int, threads: int, fn: Callable[[], Any]) -> float:
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: fn(), range(n)))
        return n / (time.perf_counter() - start)


def _interleaved(n: int, fns: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """One call of each in turn, ``n`` rounds, each round in the next of every order
    (so each follows each other as often, and none is charged more than the others
    for what one leaves running after its reply); each one's rate from the time spent
    in its own calls. At one thread this measures all of them under the same load:
    blocks of ``n`` one after another let a change of this shared machine's load in
    between fall on one side only."""
    orders = list(itertools.permutations(fns))
    spent = dict.fromkeys(fns, 0.0)
    for i in range(n):
        for key in orders[i % len(orders)]:
            start = time.perf_counter()
            fns[key]()
            spent[key] += time.perf_counter() - start
    return {key: n / spent[key] for key in fns}


class _Floor:
    """The creation statement alone, on one open connection, with nothing around it:
    what PostgreSQL itself takes per login (mostly hashing the new password with
    SCRAM-SHA-256), which neither OpenBao nor dynsecrets can go below."""

    def __init__(self, pg: str) -> None:
        import psycopg

        self.conn = psycopg.connect(pg, autocommit=True)
        self.names: list[str] = []

    def login(self) -> None:
        import secrets

        from psycopg import sql

        name = f"bench_floor_{secrets.token_hex(6)}"
        self.names.append(name)
        self.conn.execute(
            sql.SQL(
                DS_CREATE.replace("{{name}}", "{}")
                .replace("{{password}}", "{}")
                .replace("{{expiration}}", "{}")
            ).format(
                sql.Identifier(name),
                sql.Literal(secrets.token_urlsafe(24)),
                sql.Literal(time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() + 3600))),
            )
        )

    def close(self) -> None:
        from psycopg import sql

        for name in self.names:
            self.conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self.conn.close()


def database(bao: Path, pg: str, *, n: int, prefix_n: int, repeats: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {k: [] for k in ("bao_1", "ds_1", "bao_8", "ds_8", "floor_1")}
    prefix: dict[str, list[float]] = {"bao": [], "ds": []}
    from .vs_openbao import dev_server

    with dev_server(bao) as server:
        _bao_database(server, pg)
        engine = _ds_database(pg)
        mount = engine.mount("pg")
        floor = _Floor(pg)
        try:
            for _ in range(2):  # warm both: connections, plans, pools
                server.ok("GET", "database/creds/r")
                mount.issue("r")
            for rep in range(repeats):
                one = _interleaved(
                    n,
                    {
                        "bao_1": lambda: server.ok("GET", "database/creds/r"),
                        "ds_1": lambda: mount.issue("r"),
                        "floor_1": floor.login,
                    },
                )
                for key, rate in one.items():
                    rates[key].append(rate)
                server.ok("PUT", "sys/leases/revoke-prefix/database/creds/r")
                engine.revoke_prefix("pg/")
                # 8 threads: blocks, alternating which goes first.
                for who in ("bao", "ds") if rep % 2 == 0 else ("ds", "bao"):
                    rates[f"{who}_8"].append(
                        _threads(n, 8, lambda: server.ok("GET", "database/creds/r"))
                        if who == "bao"
                        else _threads(n, 8, lambda: mount.issue("r"))
                    )
                server.ok("PUT", "sys/leases/revoke-prefix/database/creds/r")
                engine.revoke_prefix("pg/")
                _threads(prefix_n, 8, lambda: server.ok("GET", "database/creds/r"))
                start = time.perf_counter()
                server.ok("PUT", "sys/leases/revoke-prefix/database/creds/r")
                prefix["bao"].append(prefix_n / (time.perf_counter() - start))
                _threads(prefix_n, 8, lambda: mount.issue("r"))
                start = time.perf_counter()
                summary = engine.revoke_prefix("pg/")
                prefix["ds"].append(prefix_n / (time.perf_counter() - start))
                if summary.failed:
                    raise RuntimeError(f"revoke_prefix failed: {dict(summary.failed)}")
        finally:
            engine.close()
            floor.close()
    out: dict[str, Any] = {k: statistics.median(v) for k, v in rates.items()}
    out["prefix_bao"] = statistics.median(prefix["bao"])
    out["prefix_ds"] = statistics.median(prefix["ds"])
    out["n"], out["prefix_n"] = n, prefix_n
    return out
