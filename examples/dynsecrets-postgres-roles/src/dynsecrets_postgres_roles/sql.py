"""The SQL the provider sends that is not the role's own: statements composed with
quoted values, the pool's check of an idle connection, the tag of a login."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["PLACEHOLDER", "check_idle", "compose", "render", "tag_of"]

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@functools.lru_cache(maxsize=256)
def _parts(statement: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """``statement`` split once into (text, placeholder) pairs and the text after the
    last: a role's statements are the same for every login it issues."""
    pairs = []
    last = 0
    for match in PLACEHOLDER.finditer(statement):
        pairs.append((statement[last : match.start()], match.group(1)))
        last = match.end()
    return tuple(pairs), statement[last:]


def render(statement: str, values: Mapping[str, str]) -> Any:
    """Compose ``statement`` with ``{{name}}`` as a quoted identifier and the other
    placeholders as quoted literals, so no value can change the SQL around it."""
    from psycopg import sql

    parts: list[Any] = []
    pairs, tail = _parts(statement)
    for text, key in pairs:
        parts.append(sql.SQL(text))
        parts.append(sql.Identifier(values[key]) if key == "name" else sql.Literal(values[key]))
    parts.append(sql.SQL(tail))
    return sql.Composed(parts)


def compose(conn: Any, statements: Iterable[tuple[str, Mapping[str, str]]]) -> bytes:
    """Statements rendered as :func:`render` does, quoted by libpq itself
    (``PQescapeIdentifier``, ``PQescapeLiteral``, in the connection's encoding),
    joined into one query of the simple protocol, which PostgreSQL runs as one
    transaction (an implicit transaction block): all of them or none, in one round
    trip. Each statement ends its own line, so a trailing ``--`` comment cannot
    swallow the next one; the role's statements are one each (checked when the role
    is written). Bytes, not ``sql.Composed``: composing objects and quoting through
    psycopg's adapters took longer than the rest of the provider's Python."""
    from psycopg import pq

    escaping = pq.Escaping(conn.pgconn)
    encoding = conn.info.encoding
    out: list[bytes] = []
    for statement, values in statements:
        pairs, tail = _parts(statement)
        for text, key in pairs:
            value = values[key]
            if "\x00" in value:  # libpq would cut the value there
                raise ValueError(f"{{{{{key}}}}} holds a NUL character")
            raw = value.encode(encoding)
            out.append(text.encode(encoding))
            out.append(
                escaping.escape_identifier(raw) if key == "name" else escaping.escape_literal(raw)
            )
        out.append(tail.encode(encoding))
        out.append(b"\n;\n")
    return b"".join(out[:-1])


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
