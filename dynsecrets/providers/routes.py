"""The Vault paths a provider serves under its mount, declared as data.

Each cloud's Vault engine has its own path layout (AWS: ``roles/<n>``,
``creds/<n>``, ``sts/<n>``; GCP: ``roleset/<n>/key``, ``static-account/<n>/token``;
AliCloud: ``role/<n>``). A provider lists its :class:`Route` objects in
``Provider.routes``; the engine's router, the CLI and ``dynsecrets serve`` all
dispatch through them, so a new provider needs no change anywhere else.

Actions:

- ``config``: read/write/delete the mount's root config;
- ``lease_config``: the mount's default and max TTL (AWS's ``config/lease``);
- ``rotate_root``: write rotates the root credential;
- ``roles``: list the role names (of ``kind``, when set);
- ``role``: read/write/delete one role (of ``kind``: the router sets and checks the
  role field named by ``Provider.role_kind_field``);
- ``issue``: read/write issues a credential from the role; ``options`` are fixed
  request options (e.g. ``secret_type``); the lease id is
  ``<mount>/<the path, with the role name>/<24 random>``;
- ``role_action``: write runs ``Provider.role_action(..., action=name)`` (e.g. GCP's
  ``roleset/<n>/rotate-key``);
- ``static_roles``/``static_role``/``static_creds``/``static_rotate``: the engine's
  static roles (:data:`STATIC_ROUTES`, served under every mount whose provider has
  ``static_role_schema``; providers do not declare them).

A pattern's ``{role}`` matches one path segment: a role name.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["DEFAULT_ROUTES", "STATIC_ROUTES", "Route", "match"]

ACTIONS = frozenset(
    {
        "config",
        "lease_config",
        "rotate_root",
        "roles",
        "role",
        "issue",
        "role_action",
        "static_roles",
        "static_role",
        "static_creds",
        "static_rotate",
    }
)


@attrs.frozen
class Route:
    pattern: str
    action: str = attrs.field(validator=attrs.validators.in_(ACTIONS))
    #: For ``roles``/``role``/``issue``: the role kind this path serves (None: any).
    kind: str | None = None
    #: For ``issue``: request options this path fixes; for ``role_action``: the action name.
    options: Mapping[str, object] = attrs.field(factory=dict)
    name: str | None = None
    #: Listed in "not a known path" hints (aliases are not).
    shown: bool = True

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.pattern.split("/"))


#: What every provider serves unless it declares its own routes (Vault's AWS layout,
#: with ``config`` accepted as well as ``config/root``).
DEFAULT_ROUTES: tuple[Route, ...] = (
    Route("config/root", "config"),
    Route("config", "config", shown=False),
    Route("config/lease", "lease_config"),
    Route("config/rotate-root", "rotate_root", shown=False),
    Route("rotate-root", "rotate_root", shown=False),
    Route("roles", "roles", shown=False),
    Route("roles/{role}", "role"),
    Route("creds/{role}", "issue"),
    Route("sts/{role}", "issue", shown=False),
)


#: The engine's static-role paths, as Vault's AWS engine lays them out.
STATIC_ROUTES: tuple[Route, ...] = (
    Route("static-roles", "static_roles", shown=False),
    Route("static-roles/{role}", "static_role"),
    Route("static-roles/{role}/rotate", "static_rotate", shown=False),
    Route("static-creds/{role}", "static_creds"),
)


def match(routes: tuple[Route, ...], rest: list[str]) -> tuple[Route, str | None] | None:
    """The first route whose pattern matches ``rest`` (the path after the mount),
    with the role name it captured."""
    for route in routes:
        parts = route.parts
        if len(parts) != len(rest):
            continue
        role = None
        for want, got in zip(parts, rest, strict=True):
            if want == "{role}":
                role = got
            elif want != got:
                break
        else:
            return route, role
    return None
