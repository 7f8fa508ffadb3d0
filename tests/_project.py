"""The installed distribution's metadata (what pip made of pyproject.toml): entry
points and extras, read with importlib.metadata so the tests run on Python 3.10,
which has no tomllib."""

from __future__ import annotations

import re
from importlib import metadata

__all__ = ["entry_points", "extra"]


def entry_points(group: str) -> dict[str, str]:
    """``{name: "module:attr"}`` of the dynsecrets distribution in ``group``."""
    dist = metadata.distribution("dynsecrets")
    return {ep.name: ep.value for ep in dist.entry_points if ep.group == group}


def extra(name: str) -> list[str]:
    """The requirement strings (without markers) of the extra ``name``."""
    dist = metadata.distribution("dynsecrets")
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(name)}["']""")
    return [r.split(";")[0].strip() for r in dist.requires or [] if marker.search(r)]
