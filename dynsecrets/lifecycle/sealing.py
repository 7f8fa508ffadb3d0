"""Root config at rest: sealed with the store's key, bound to the store and the mount.

The associated data is ``<store id>/<mount path>``, so a sealed config cannot be
moved to another mount, nor copied into another store that uses the same key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..crypto import DecryptionError, KeyProvider

if TYPE_CHECKING:
    from ..crypto import Sealer
    from ..store import Store

__all__ = ["ConfigSealing"]

log = logging.getLogger("dynsecrets")


class ConfigSealing:
    def __init__(self, store: Store, key_provider: KeyProvider) -> None:
        self.store = store
        self._key_provider = key_provider
        self._sealer: Sealer | None = None
        self._lock = threading.Lock()

    def sealer(self) -> Sealer:
        """The sealer, after checking that the key is the one the store was written with."""
        with self._lock:
            if self._sealer is None:
                from ..crypto import Sealer

                sealer = Sealer(self._key_provider)
                check = sealer.seal(b"dynsecrets-key-check", b"key-check").hex()
                stored = self.store.put_meta_if_absent("key_check", check)
                self._verify(sealer, stored)
                self._sealer = sealer
            return self._sealer

    def check_key(self) -> None:
        """Raise :class:`DecryptionError` if this key cannot open the store. A store
        that has never sealed anything accepts any key (and records none)."""
        stored = self.store.get_meta("key_check")
        if stored is not None:
            self.sealer()

    def _verify(self, sealer: Sealer, stored: str) -> None:
        try:
            sealer.unseal(bytes.fromhex(stored), b"key-check")
        except (DecryptionError, ValueError) as exc:
            raise DecryptionError(
                f"the store {self.store.url} was encrypted with another key; set DYNSECRETS_KEY "
                "(or the key file) to the key it was written with"
            ) from exc

    def _aad(self, mount: str) -> bytes:
        return f"{self.store.store_id}/{mount}".encode()

    def seal(self, config: Mapping[str, Any], mount: str) -> bytes:
        return self.sealer().seal(json.dumps(dict(config)).encode(), self._aad(mount))

    def unseal(
        self, blob: bytes, mount: str, reseal: Callable[[bytes], None] | None = None
    ) -> dict[str, Any]:
        sealer = self.sealer()
        try:
            plain = sealer.unseal(blob, self._aad(mount))
        except DecryptionError:
            # Written before configs were bound to the store id (0.1.0.dev0): open it
            # with the mount path alone, once, and seal it again bound to this store.
            try:
                plain = sealer.unseal(blob, mount.encode())
            except DecryptionError:
                raise DecryptionError(
                    f"cannot decrypt the root config of {mount}/: it was sealed with another key "
                    "or in another store (set DYNSECRETS_KEY to the original key, or write "
                    f"{mount}/config/root again)"
                ) from None
            if reseal is not None:
                reseal(sealer.seal(plain, self._aad(mount)))
                log.info("sealed the root config of %s/ again, bound to this store", mount)
        return dict(json.loads(plain))
