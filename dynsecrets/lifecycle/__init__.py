"""The lease lifecycle under the :class:`~dynsecrets.Engine` facade: issuance,
renewal, revocation and recovery, and the services they share (:class:`Core`).

Nothing here imports the engine facade or the expiry worker; both build on it.
This package is internal: the public API is what :mod:`dynsecrets` exports.
"""
