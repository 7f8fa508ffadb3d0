"""The provider. Each method below is one step of docs/plugins.md."""

from __future__ import annotations

import re
import secrets
import string
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from dynsecrets import Field, Issued, IssueRequest, ManagedIdentity, Provider, Schema
from dynsecrets.errors import PermanentProviderError, TransientProviderError

from .sql import PLACEHOLDER, check_idle, compose, tag_of

NAME_LIMIT = 63  # PostgreSQL truncates identifiers at 63 bytes (NAMEDATALEN - 1)
RANDOM_LEN = 12
_ALPHABET = string.ascii_lowercase + string.digits
KNOWN = frozenset({"name", "password", "expiration"})
COMMENT_PREFIX = "dynsecrets"

DEFAULT_RENEW = ["ALTER ROLE {{name}} VALID UNTIL {{expiration}}"]
DEFAULT_REVOKE = [
    "REASSIGN OWNED BY {{name}} TO CURRENT_USER",
    "DROP OWNED BY {{name}}",
    "DROP ROLE IF EXISTS {{name}}",
]


def _expiration(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(at))


def _random_part() -> str:
    """RANDOM_LEN characters of [a-z0-9], uniformly: one draw, not one per character."""
    n = secrets.randbelow(len(_ALPHABET) ** RANDOM_LEN)
    out = []
    for _ in range(RANDOM_LEN):
        n, i = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[i])
    return "".join(out)


# SQLSTATE classes worth retrying: connection failures, lock and serialization
# conflicts, resource exhaustion, operator intervention (a restart).
_TRANSIENT_SQLSTATE = ("08", "40", "53", "55P03", "57P")


def _check_statements(statements: list[str]) -> list[str]:
    for text in statements:
        unknown = set(PLACEHOLDER.findall(text)) - KNOWN
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{{{sorted(unknown)[0]}}}}}; use {{{{name}}}}, "
                "{{password}} or {{expiration}}"
            )
        if ";" in text.rstrip().rstrip(";"):
            raise ValueError("holds more than one statement; give one statement per list item")
    return statements


def _check_creation(statements: list[str]) -> list[str]:
    _check_statements(statements)
    if not any("{{name}}" in s for s in statements):
        raise ValueError("must create the login: one statement needs {{name}}")
    return statements


def _check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must start with postgresql://")
    if parts.password:
        raise ValueError(
            "must not hold a password; put it in the password field, which is kept secret"
        )
    return url


class PostgresRolesProvider(Provider):
    """Short-lived PostgreSQL login roles."""

    name: ClassVar[str] = "postgres-roles"
    config_schema = Schema(
        {
            "connection_url": Field(
                "str",
                required=True,
                check=_check_url,
                doc="postgresql://host:port/db, without a password",
            ),
            "username": Field("str", doc="the admin role dynsecrets connects as"),
            "password": Field("str", secret=True, doc="the admin role's password"),
        },
        what="config",
    )
    role_schema = Schema(
        {
            "creation_statements": Field("list", required=True, check=_check_creation),
            "revocation_statements": Field("list", default=[], check=_check_statements),
            "renew_statements": Field("list", default=[], check=_check_statements),
            # max_ttl needs no field here: every dynsecrets role has one.
            "default_ttl": Field("duration"),
        },
        what="role",
    )

    def __init__(self, context: Any = None) -> None:
        super().__init__(context)
        self._pools: dict[tuple[Any, ...], Any] = {}
        self._pools_lock = threading.Lock()

    def default_ttl(self, role: Mapping[str, Any]) -> int | None:
        return role.get("default_ttl")

    # -- error mapping: every psycopg exception becomes a dynsecrets one ---------------------
    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            state = getattr(exc, "sqlstate", None) or ""
            transient = (
                isinstance(exc, psycopg.OperationalError) and not state
            ) or state.startswith(_TRANSIENT_SQLSTATE)
            cls = TransientProviderError if transient else PermanentProviderError
            detail = (
                exc.diag.message_primary
                if getattr(exc, "diag", None) and exc.diag.message_primary
                else type(exc).__name__
            )
            raise cls(
                f"PostgreSQL {operation} failed: {detail}",
                operation=operation,
                code=state or type(exc).__name__,
            ) from exc

    def _pool(self, config: Mapping[str, Any]) -> Any:
        """One connection pool per admin URL and credentials: opening a connection
        (with its password handshake) for every issue and revoke was half of an
        issue's time. A broken pooled connection is checked out, found dead and
        replaced, never handed to a caller."""
        from psycopg_pool import ConnectionPool

        key = (config["connection_url"], config.get("username"), config.get("password"))
        with self._pools_lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = ConnectionPool(
                    config["connection_url"],
                    min_size=0,
                    # As many as the engine revokes at once by default (revoke_prefix,
                    # the worker): a thread waiting for a connection costs CPU too.
                    max_size=16,
                    kwargs={
                        "user": config.get("username") or None,
                        "password": config.get("password") or None,
                        "connect_timeout": 10,
                        "autocommit": True,
                        # Every statement is DDL or a one-off: nothing worth preparing,
                        # and a prepared revoke query was deallocated (DEALLOCATE ALL, a
                        # round trip) by psycopg after every DROP.
                        "prepare_threshold": None,
                        # Names our sessions in pg_stat_activity, for operators.
                        "application_name": "dynsecrets-postgres-roles",
                    },
                    check=check_idle,
                    open=False,
                    name="dynsecrets-postgres-roles",
                )
                pool.open(wait=False)
                self._pools[key] = pool
            return pool

    @contextmanager
    def _connect(self, config: Mapping[str, Any], operation: str) -> Iterator[Any]:
        from psycopg_pool import PoolTimeout

        key = (config["connection_url"], config.get("username"), config.get("password"))
        with self._pools_lock:
            pool = self._pools.get(key)
        if pool is None:
            # The first use of these credentials connects directly: a wrong role or
            # password fails at once with the server's own error, not after a pool's
            # wait. Once they have worked, later calls share a pool.
            import psycopg

            with self._errors(operation):
                conn = psycopg.connect(
                    config["connection_url"],
                    user=config.get("username") or None,
                    password=config.get("password") or None,
                    connect_timeout=10,
                    autocommit=True,
                    prepare_threshold=None,
                )
            try:
                with self._errors(operation):
                    yield conn
            finally:
                conn.close()
            self._pool(config)
            return
        try:
            # getconn/putconn, not pool.connection(): its ``with conn`` only commits or
            # rolls back, and these connections are in autocommit.
            with self._errors(operation):
                conn = pool.getconn(timeout=10)
                try:
                    yield conn
                finally:
                    pool.putconn(conn)
        except PoolTimeout as exc:
            # The pool could not get a connection: the server is down or refuses us.
            raise TransientProviderError(
                f"PostgreSQL {operation} failed: no connection within 10 s ({exc})",
                operation=operation,
                code="PoolTimeout",
            ) from exc

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Retry transient failures (a restarting server, a lock conflict) within the budget."""
        return self.context.retry.call(fn)

    # -- plan: every name chosen before any database call --------------------------------------
    def plan(self, config: Mapping[str, Any], request: IssueRequest) -> dict[str, Any]:
        rnd = _random_part()
        role_part = re.sub(r"[^a-z0-9_]", "_", request.role_name.lower())
        room = NAME_LIMIT - len("dyn__") - RANDOM_LEN
        # The statements travel in the plan: the role may be edited or deleted while
        # its leases live, and revoke must still know what to run.
        return {
            "username": f"dyn_{role_part[:room]}_{rnd}",
            "mount": request.mount,
            "lease_id": request.lease_id,
            "store_id": request.store_id,
            "renew_statements": list(request.role.get("renew_statements") or []),
            "revocation_statements": list(request.role.get("revocation_statements") or []),
        }

    def issue(
        self, config: Mapping[str, Any], request: IssueRequest, plan: Mapping[str, Any]
    ) -> Issued:
        password = secrets.token_urlsafe(24)
        values = {
            "name": plan["username"],
            "password": password,
            "expiration": _expiration(request.now + request.ttl),
        }

        # Tag the login so tidy can find what this store's mount made:
        # dynsecrets:<mount>:<store id>:<lease id> (none of them holds a ':').
        comment = ":".join(
            (COMMENT_PREFIX, plan["mount"], plan.get("store_id", ""), plan["lease_id"])
        )
        attempts = 0

        def create() -> None:
            nonlocal attempts
            attempts += 1
            with self._connect(config, "issue") as conn:
                if attempts > 1 and tag_of(conn, plan["username"]) == comment:
                    return  # an earlier attempt committed and only its reply was lost
                conn.execute(
                    compose(
                        conn,
                        [
                            *((s, values) for s in request.role["creation_statements"]),
                            (
                                "COMMENT ON ROLE {{name}} IS {{comment}}",
                                {"name": plan["username"], "comment": comment},
                            ),
                        ],
                    )
                )

        try:
            self._call(create)
        except PermanentProviderError as exc:
            # One transaction: refused means rolled back, so nothing exists to undo;
            # unless an earlier attempt's fate is unknown: the plan's name is revoked.
            exc.nothing_created = attempts == 1
            raise
        return Issued(
            data={"username": plan["username"], "password": password},
            secret_keys=frozenset({"password"}),
            revocation={"username": plan["username"]},
            env={"PGUSER": plan["username"], "PGPASSWORD": password},
        )

    def renew(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any],
        expires_at: float,
    ) -> None:
        values = {"name": plan["username"], "password": "", "expiration": _expiration(expires_at)}
        statements = plan.get("renew_statements") or DEFAULT_RENEW

        def run() -> None:
            with self._connect(config, "renew") as conn:
                conn.execute(compose(conn, [(s, values) for s in statements]))

        self._call(run)

    def revoke(
        self,
        config: Mapping[str, Any],
        plan: Mapping[str, Any],
        revocation: Mapping[str, Any] | None,
    ) -> None:
        username = plan["username"]
        values = {"name": username, "password": "", "expiration": ""}
        statements = plan.get("revocation_statements") or DEFAULT_REVOKE

        def run() -> None:
            with self._connect(config, "revoke") as conn:
                # One round trip to learn whether it exists and end its sessions, then
                # the statements. pg_stat_get_activity, not the pg_stat_activity view:
                # every DROP ROLE invalidates the plan, and the view's joins made the
                # replanning (~0.3 ms) as long as the rest of the query.
                found = conn.execute(
                    "SELECT (SELECT count(pg_terminate_backend(a.pid)) "
                    "FROM pg_stat_get_activity(NULL) a WHERE a.usesysid = r.oid) "
                    "FROM pg_roles r WHERE r.rolname = %s",
                    (username,),
                ).fetchone()
                if found is None:
                    return  # never created, or already dropped: revoked
                conn.execute(compose(conn, [(s, values) for s in statements]))

        self._call(run)

    # -- root rotation and tidy ---------------------------------------------------------------
    def rotate_root(
        self, config: Mapping[str, Any], persist: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        # PostgreSQL keeps one password per role, so old and new cannot overlap:
        # change it, then persist at once.
        new = {**config, "password": secrets.token_urlsafe(32)}
        with self._connect(config, "rotate_root") as conn:
            conn.execute(
                compose(
                    conn,
                    [
                        (
                            "ALTER ROLE CURRENT_USER PASSWORD {{password}}",
                            {"password": new["password"]},
                        )
                    ],
                )
            )
        persist(new)
        return new

    def list_managed(self, config: Mapping[str, Any], mount: str) -> list[ManagedIdentity]:
        with self._connect(config, "list") as conn:
            rows = conn.execute(
                "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
                "WHERE shobj_description(oid, 'pg_authid') LIKE %s",
                (f"{COMMENT_PREFIX}:{mount}:%",),
            ).fetchall()
        found = []
        for name, comment in rows:
            parts = comment.split(":", 3)
            if parts[1] != mount:
                continue
            if len(parts) == 4:
                found.append(ManagedIdentity(id=name, lease_id=parts[3], store_id=parts[2]))
            else:  # tagged before store ids: reported, never deleted by tidy
                found.append(ManagedIdentity(id=name, lease_id=parts[2]))
        return found

    def delete_managed(self, config: Mapping[str, Any], identity: ManagedIdentity) -> None:
        self.revoke(config, {"username": identity.id}, None)
