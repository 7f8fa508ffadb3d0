"""``dynsecrets serve``: Vault's HTTP API over the engine, so the ``bao``/``vault`` CLI,
hvac and Terraform's Vault provider work unchanged.

- :mod:`.app`: the Starlette application (imports Starlette; nothing else here does)
- :mod:`.routes`, :mod:`.routes_sys`: request dispatch over the engine's path API
- :mod:`.auth`, :mod:`.tokens`, :mod:`.policies`: tokens, HCL policies, lease ownership
- :mod:`.responses`: Vault's response shapes and status codes
- :mod:`.serve`: uvicorn, TLS, the worker and graceful shutdown

Needs the ``server`` extra (``pip install 'dynsecrets[server]'``) to serve; tokens
and policies can be managed without it.
"""

from __future__ import annotations
