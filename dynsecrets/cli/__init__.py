"""The ``dynsecrets`` command: Vault's CLI verbs over the public path API.

No lease logic lives here, only parsing arguments and printing results:

- ``parser``: the argument parser (flags as ``-flag=value``, ``-flag value``,
  ``--flag value``, without prefix matching, as Vault's Go flags);
- ``data``: ``key=value`` arguments, ``@file`` and ``-`` values, UTF-8 checks;
- ``render``: Vault's table, JSON and env output;
- ``messages``: error lines (one short line, CLI wording) and exit codes;
- ``logs``: library warnings on stderr, and the worker's JSON log lines;
- ``verbs_*``: one module per group of verbs.

Exit codes: 0 success, 1 failure, 2 usage error. ``--debug`` adds tracebacks.
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
