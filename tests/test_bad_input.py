"""Bad input through the library: a typed error naming the field, nothing created,
and never a raw driver, decoding or builtin exception (issue 13)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.errors import (
    InvalidTTL,
    LeaseNotFound,
    StoreError,
    ValidationError,
)
from dynsecrets.testing import FakeCloud, fake_engine

SURROGATE = b"\xff".decode("utf-8", "surrogateescape")  # what argv gives for byte 0xff


@pytest.mark.parametrize("call", ["lookup", "renew", "revoke"])
def test_lone_surrogates_in_lease_ids(fake_mount: Mount, call: str) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(fake_mount.engine, call)(f"fake/creds/app/{SURROGATE}")
    assert info.value.field == "lease_id"


def test_lone_surrogates_in_prefixes_paths_and_values(
    fake_mount: Mount, fake_cloud: FakeCloud
) -> None:
    engine = fake_mount.engine
    with pytest.raises(ValidationError) as info:
        engine.revoke_prefix(f"fake/{SURROGATE}")
    assert info.value.field == "prefix"
    with pytest.raises(ValidationError) as info:
        engine.read(f"fake/creds/{SURROGATE}")
    assert info.value.field == "path"
    with pytest.raises(ValidationError) as info:
        fake_mount.configure(account="acme", api_key=f"secret{SURROGATE}")
    assert info.value.field == "api_key" and SURROGATE not in str(info.value)
    with pytest.raises(ValidationError) as info:
        fake_mount.write_role("r", policies=["read", f"wr{SURROGATE}"])
    assert info.value.field == "policies"
    assert "r" not in fake_mount.roles() and fake_cloud.users == {}


def test_long_lease_ids_are_cut_short(fake_mount: Mount) -> None:
    with pytest.raises(LeaseNotFound) as info:
        fake_mount.engine.lookup("fake/creds/app/" + "x" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", ["directory", "not sqlite", "truncated", "under a file"])
def test_store_paths_that_are_not_stores(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "store.db"
    if kind == "directory":
        path.mkdir()
    elif kind == "not sqlite":
        path.write_bytes(b"this is a text file, not a database\n" * 100)
    elif kind == "truncated":
        with Engine.open(f"sqlite:///{path}") as engine:
            engine.store.put_meta_if_absent("x", "y")
        path.write_bytes(path.read_bytes()[:100])
    else:
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "store.db"
    with pytest.raises(StoreError, match="cannot open SQLite store"):
        Engine.open(f"sqlite:///{path}")


@pytest.mark.parametrize("content", [b"\xff\xfe\x00 not text", b"short", b""])
def test_a_key_file_that_is_not_a_key(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    with pytest.raises(ValidationError) as info:
        Engine.open("memory://", key_file=key_file)  # refused at open, not at first use
    assert info.value.field == "key_file"


def test_a_good_key_file_opens(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(base64.urlsafe_b64encode(b"k" * 32).decode() + "\n")
    with fake_engine(url=f"sqlite:///{tmp_path / 's.db'}", key_file=key_file) as engine:
        engine.enable("f", "fake").configure(account="acme")
        assert engine.mount("f").read_config()["account"] == "acme"


def test_worker_concurrency_must_be_positive(fake_mount: Mount) -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValidationError) as info:
            fake_mount.engine.expire_due(concurrency=bad)  # type: ignore[arg-type]
        assert info.value.field == "concurrency"
    with pytest.raises(ValidationError) as info:
        fake_mount.engine.revoke_prefix("fake/", concurrency=0)
    assert info.value.field == "concurrency"


def test_renew_with_zero_means_the_roles_ttl(
    fake_mount: Mount, dynsecrets_clock: ManualClock
) -> None:
    fake_mount.write_role("short", policies=["read"], ttl="10m")
    lease = fake_mount.issue("short", ttl="1m")
    dynsecrets_clock.advance(30)
    info = fake_mount.engine.renew(lease.lease_id, increment=0)
    assert info.expires_at == dynsecrets_clock.now() + 600  # not "expire at once"
    with pytest.raises(InvalidTTL):
        fake_mount.engine.renew(lease.lease_id, increment="-5m")


def test_leases_read_through_sts_live_under_sts(fake_mount: Mount) -> None:
    engine = fake_mount.engine
    lease = engine.read("fake/sts/app")
    assert lease.lease_id.startswith("fake/sts/app/")
    creds = engine.read("fake/creds/app")
    assert engine.revoke_prefix("fake/sts/app").revoked == 1
    assert [x.lease_id for x in engine.leases("fake/")] == [creds.lease_id]
