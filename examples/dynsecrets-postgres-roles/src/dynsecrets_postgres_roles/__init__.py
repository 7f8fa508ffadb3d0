"""``postgres-roles``: short-lived PostgreSQL logins as dynsecrets leases.

Built only on dynsecrets' public API: ``Provider``, ``Schema``/``Field``,
``Issued``, ``ManagedIdentity`` and the errors in ``dynsecrets.errors``.
"""

from __future__ import annotations

from .provider import PostgresRolesProvider
from .sql import render

__all__ = ["PostgresRolesProvider", "render"]
