"""The SQL the provider sends that is not the role's own: statements composed with
quoted values, the pool's check of an idle connection, the tag of a login."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLACEHOLDER", "check_idle", "render", "script", "tag_of"]

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render(statement: str, values: Mapping[str, str]) -> Any:
    """Compose ``statement`` with ``{{name}}`` as a quoted identifier and the other
    placeholders as quoted literals, so no value can change the SQL around it."""
    from psycopg import sql

    parts: list[Any] = []
    last = 0
    for match in PLACEHOLDER.finditer(statement):
        parts.append(sql.SQL(statement[last : match.start()]))
        key = match.group(1)
        parts.append(sql.Identifier(values[key]) if key == "name" else sql.Literal(values[key]))
        last = match.end()
    parts.append(sql.SQL(statement[last:]))
    return sql.Composed(parts)


def script(statements: list[Any]) -> Any:
    """Rendered statements as one query of the simple protocol, which PostgreSQL runs
    as one transaction (an implicit transaction block): all of them or none, as
    BEGIN ... COMMIT did, in one round trip instead of one per statement plus two,
    each a wake-up of both sides (~0.6 ms of an issue on a loaded machine). Each
    statement ends its own line, so a trailing ``--`` comment cannot swallow the
    next one; the role's statements are one each (checked when the role is written)."""
    from psycopg import sql

    return sql.SQL("\n;\n").join(statements)


def check_idle(conn: Any) -> None:
    """Before a pooled connection is handed out: an idle connection the server has
    closed (a restart, a failover, an idle timeout, pg_terminate_backend) has its
    termination message or end of file waiting on the socket, and only then is a
    round trip spent to make sure. A connection that breaks without a word fails its
    next statement instead; that is transient, retried, and the pool drops it."""
    import select

    from psycopg_pool import ConnectionPool

    if conn.closed or select.select([conn.fileno()], [], [], 0)[0]:
        ConnectionPool.check_connection(conn)


def tag_of(conn: Any, name: str) -> str | None:
    """The comment on login ``name`` (None if it does not exist or has none)."""
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    return None if row is None else row[0]
