"""rotate-root on Azure: the root application's client secret, replaced with a
proven one, the old one removed only once the new one is stored; crashes at each
step leave a working secret in the store and every extra password findable."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    Observer,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    observer,
    secret_works,
)

__all__ = [
    "azure",
    "azure_clock",
    "azure_engine",
    "azure_entry_point",
    "azure_mount",
    "observer",
]


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it."""


def _root(azure: AzureFakes) -> tuple[str, str]:
    return azure.root["app"]["id"], azure.root["app"]["appId"]


def _fresh(mount: Mount) -> None:
    # No cached token or client: the next call must work with the stored secret alone.
    mount.provider.close()


def test_rotate_twice_uses_the_stored_key_id(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, client_id = _root(azure)
    first = azure_mount.root_config()["client_secret"]
    shown = azure_mount.rotate_root()
    assert "client_secret" not in shown
    config = azure_mount.root_config()
    (cred,) = observer.passwords(object_id)
    assert shown["client_secret_key_id"] == config["client_secret_key_id"] == cred["keyId"]
    assert cred["displayName"].startswith("dynsecrets rotate-root store=")
    assert not secret_works(azure, client_id, first)
    assert secret_works(azure, client_id, config["client_secret"])
    _fresh(azure_mount)
    azure_mount.rotate_root()
    (again,) = observer.passwords(object_id)
    assert again["keyId"] == azure_mount.root_config()["client_secret_key_id"] != cred["keyId"]
    assert again["displayName"].endswith(f"replaces={cred['keyId']}")
    assert not secret_works(azure, client_id, config["client_secret"])
    assert secret_works(azure, client_id, azure_mount.root_config()["client_secret"])


def test_crash_before_the_new_secret_is_stored(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, client_id = _root(azure)
    config = azure_mount.root_config()

    def persist(new: dict[str, Any]) -> None:
        raise Crash

    with pytest.raises(Crash):
        azure_mount.provider.rotate_root(config, persist)
    # The store still holds the old secret, which still works; the new password is
    # there, named for the one it replaces.
    assert azure_mount.root_config()["client_secret"] == config["client_secret"]
    assert secret_works(azure, client_id, config["client_secret"])
    held = observer.passwords(object_id)
    old_key = next(p["keyId"] for p in held if p["displayName"] == "initial")
    (extra,) = [p for p in held if p["keyId"] != old_key]
    assert extra["displayName"].endswith(f"replaces={old_key}")
    # The next rotation removes it first, then rotates as usual.
    _fresh(azure_mount)
    azure_mount.rotate_root()
    (left,) = observer.passwords(object_id)
    assert left["keyId"] == azure_mount.root_config()["client_secret_key_id"]
    assert left["keyId"] not in (old_key, extra["keyId"])
    assert secret_works(azure, client_id, azure_mount.root_config()["client_secret"])
    assert not secret_works(azure, client_id, config["client_secret"])


def test_crash_after_the_new_secret_is_stored(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, client_id = _root(azure)
    config = azure_mount.root_config()
    engine = azure_mount.engine

    def persist(new: dict[str, Any]) -> None:
        engine.store.update_mount(azure_mount.path, config=engine.core.seal(new, azure_mount.path))
        raise Crash  # stored, then the process died before removing the old password

    with pytest.raises(Crash):
        azure_mount.provider.rotate_root(config, persist)
    stored = azure_mount.root_config()
    assert stored["client_secret"] != config["client_secret"]
    assert secret_works(azure, client_id, stored["client_secret"])
    assert len(observer.passwords(object_id)) == 2  # the old one outlived the crash
    _fresh(azure_mount)
    azure_mount.rotate_root()
    (left,) = observer.passwords(object_id)
    assert left["keyId"] == azure_mount.root_config()["client_secret_key_id"]
    for old in (config["client_secret"], stored["client_secret"]):
        assert not secret_works(azure, client_id, old)


def test_an_ambiguous_old_secret_changes_nothing(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, _ = _root(azure)
    extra = azure.directory.add_password(azure.root["app"], "someone else's", None)
    # Graph's hint is the secret's first three characters: make the two look alike.
    for cred in azure.root["app"]["passwordCredentials"]:
        cred["hint"] = azure.root["client_secret"][:3]
    azure.faults.calls.clear()
    with pytest.raises(PermanentProviderError) as info:
        azure_mount.rotate_root()
    assert info.value.code == "OldSecretAmbiguous"
    assert extra["keyId"] in str(info.value) and "client_secret_key_id" in str(info.value)
    assert "AddPassword" not in azure.faults.calls
    assert len(observer.passwords(object_id)) == 2
    # Naming the one in use settles it; the other password is not ours to remove.
    initial = next(
        p["keyId"] for p in observer.passwords(object_id) if p["displayName"] == "initial"
    )
    azure_mount.configure(**{**azure.config(), "client_secret_key_id": initial})
    azure_mount.rotate_root()
    assert {p["keyId"] for p in observer.passwords(object_id)} == {
        extra["keyId"],
        azure_mount.root_config()["client_secret_key_id"],
    }


def test_a_stale_key_id_falls_back_on_the_hint(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, client_id = _root(azure)
    other = azure.directory.add_password(azure.root["app"], "another", None)
    # A key id left from an earlier secret (config rewritten by hand since).
    azure_mount.configure(**{**azure.config(), "client_secret_key_id": other["keyId"]})
    if other["hint"] == azure.root["client_secret"][:3]:
        pytest.skip("the two secrets share a hint (1 in ~250,000)")
    azure_mount.rotate_root()
    assert {p["keyId"] for p in observer.passwords(object_id)} == {
        other["keyId"],
        azure_mount.root_config()["client_secret_key_id"],
    }
    assert secret_works(azure, client_id, other["secretText"])
    assert not secret_works(azure, client_id, azure.root["client_secret"])


def test_a_lost_add_password_reply_is_not_retried(
    azure_mount: Mount, azure: AzureFakes, observer: Observer
) -> None:
    object_id, client_id = _root(azure)
    azure.faults.lose_reply("AddPassword")
    azure.faults.calls.clear()
    with pytest.raises(Exception) as info:
        azure_mount.rotate_root()
    assert getattr(info.value, "code", None) == "ServiceResponseError"
    assert azure.faults.calls.count("AddPassword") == 1
    assert len(observer.passwords(object_id)) == 2
    assert secret_works(azure, client_id, azure_mount.root_config()["client_secret"])
    _fresh(azure_mount)
    azure_mount.rotate_root()
    assert len(observer.passwords(object_id)) == 1


def test_scheduled_root_rotation(
    azure_mount: Mount, azure: AzureFakes, azure_clock: Any, observer: Observer
) -> None:
    from dynsecrets import ExpiryWorker

    object_id, client_id = _root(azure)
    azure_mount.configure(**azure.config(), rotation_period="24h")
    shown = azure_mount.read_config()
    assert shown["rotation_period"] == 86400 and shown["last_rotated"] is None
    old = azure_mount.root_config()["client_secret"]
    worker = ExpiryWorker(azure_mount.engine)
    azure_clock.advance(86399)
    worker.run_once()
    assert azure_mount.root_config()["client_secret"] == old
    azure_clock.advance(1)
    worker.run_once()
    new = azure_mount.root_config()["client_secret"]
    assert new != old
    assert secret_works(azure, client_id, new) and not secret_works(azure, client_id, old)
    assert [p["keyId"] for p in observer.passwords(object_id)] == [
        azure_mount.root_config()["client_secret_key_id"]
    ]
    shown = azure_mount.read_config()
    assert shown["last_rotated"] is not None and "client_secret" not in shown
    assert shown["root_credential_age"] == 0


def test_a_schedule_on_the_default_chain_is_refused(azure_mount: Mount, azure: AzureFakes) -> None:
    from dynsecrets.errors import ValidationError

    config = azure.config()
    del config["client_id"], config["client_secret"]
    with pytest.raises(ValidationError) as info:
        azure_mount.configure(**config, rotation_period="24h")
    assert info.value.field == "rotation_period"
    azure_mount.configure(**config, rotation_period="24h", disable_automated_rotation=True)
    assert azure_mount.provider.can_rotate_root(azure_mount.root_config()) is False
