"""Tidy of roleset accounts through the engine (issue 14): a roleset owns its
accounts, so ``tidy -apply`` deletes nothing of a live roleset's (nor of one being
written or rotated); an account whose role operation record was lost is reported
and deleted; another store's accounts are foreign and untouched."""

from __future__ import annotations

import base64
import io
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, ManualClock, Mount
from dynsecrets.cli import main
from dynsecrets.errors import ProviderError
from dynsecrets.lifecycle import issuance, role_resources
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import BINDINGS_HCL, KEY_ROLESET, PROJECT, TOKEN_ROLESET
from .test_gcp_crash import Crash, crash_after

ROLESET = {"project": PROJECT, "secret_type": "service_account_key", "bindings": BINDINGS_HCL}


def _ds(google: FakeGoogle) -> set[str]:
    return {e for e in google.state.accounts if e.startswith("ds-")}


def test_tidy_apply_deletes_nothing_of_live_rolesets(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("keys", **KEY_ROLESET)
    gcp_mount.write_role("pool", **{**KEY_ROLESET, "max_accounts": 3})
    gcp_mount.write_role("tok", **TOKEN_ROLESET)
    gcp_mount.write_role("rotated", **KEY_ROLESET)
    gcp_mount.issue("keys")
    gcp_mount.issue("pool")
    gcp_mount.role_action("rotated", "rotate")
    sa = google.service_account("static-one")  # not ours: never listed
    gcp_engine.write(
        "gcp/static-account/s", service_account_email=sa, secret_type="service_account_key"
    )
    before = _ds(google)
    assert len(before) == 6
    report = gcp_mount.tidy(dry_run=False)
    assert report.scanned == 6 and report.orphans == () and report.foreign == ()
    assert report.deleted == () and _ds(google) == before and sa in google.state.accounts


def test_tidy_keeps_the_old_account_of_an_unfinished_rotation(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """Past the switch the roleset no longer lists its old account, but the pending
    rotation's row does: it is not an orphan until the rotation deletes it."""
    gcp_mount.write_role("r", **KEY_ROLESET)
    old = gcp_mount.read_role("r")["service_account_email"]
    gcp_mount.issue("r")
    google.faults.fail("DeleteServiceAccountKey", "PERMISSION_DENIED", times=100)
    with pytest.raises(ProviderError, match="now uses its new cloud objects"):
        gcp_mount.role_action("r", "rotate")
    google.faults.clear()
    assert gcp_mount.read_role("r")["service_account_email"] != old
    report = gcp_mount.tidy(dry_run=False)
    assert report.orphans == () and old in google.state.accounts


@pytest.fixture
def no_rollback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issuance, "rollback", lambda *a, **k: None)
    monkeypatch.setattr(role_resources, "rollback", lambda *a, **k: None)


def test_an_account_whose_role_op_was_lost_is_found_and_deleted(
    google: FakeGoogle,
    tmp_path: Path,
    no_rollback: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    google.add_resource("b/data-bucket")
    with Engine.open(url, key=key, clock=ManualClock(time.time())) as engine:
        mount = engine.enable("gcp", "gcp")
        mount.configure(**google.config())
        mount.write_role("live", **ROLESET)
        live = mount.read_role("live")["service_account_email"]
        mount.issue("live")
        crash_after(mount, 3)  # created and bound on the project, then died
        with pytest.raises(Crash):
            mount.write_role("my-set", **ROLESET)
        [row] = engine.leases("gcp/role-ops/")
        [lost] = _ds(google) - {live}
        # While the row exists, the account is the pending write's, not an orphan.
        assert mount.tidy().orphans == ()
        engine.store.delete_lease(row.lease_id)  # the record is lost
    monkeypatch.setenv("DYNSECRETS_STORE", url)
    monkeypatch.setenv("DYNSECRETS_KEY", key)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))

    def ok(*argv: str) -> str:
        out = io.StringIO()
        code = main(list(argv), out=out)
        err = capsys.readouterr().err
        assert (code, err) == (0, ""), (argv, code, out.getvalue(), err)
        return out.getvalue()

    dry = ok("tidy", "gcp")
    assert dry.startswith("Scanned 2 identities made by gcp/; 1 without a lease.")
    assert f"  would delete {lost} (role my-set)\n" in dry and lost in google.state.accounts
    applied = ok("tidy", "-apply", "gcp")
    assert f"  deleted {lost} (role my-set)\n" in applied
    assert _ds(google) == {live}
    assert ok("tidy", "gcp").startswith("Scanned 1 identity made by gcp/; 0 without a lease.")


def test_another_stores_accounts_are_foreign(google: FakeGoogle) -> None:
    with (
        Engine.open("memory://", clock=ManualClock(time.time())) as one,
        Engine.open("memory://", clock=ManualClock(time.time())) as two,
    ):
        for engine in (one, two):
            engine.enable("gcp", "gcp").configure(**google.config())
        one.mount("gcp").write_role("shared-name", **KEY_ROLESET)
        theirs = one.mount("gcp").read_role("shared-name")["service_account_email"]
        report = two.mount("gcp").tidy(dry_run=False)
        assert [i.id for i in report.foreign] == [theirs]
        assert report.foreign[0].store_id == one.store_id
        assert report.orphans == () and report.deleted == ()
        assert theirs in google.state.accounts
        # Even a role of the same name in the other store does not make it its own.
        two.mount("gcp").write_role("shared-name", **KEY_ROLESET)
        again = two.mount("gcp").tidy(dry_run=False)
        assert theirs in {i.id for i in again.foreign} and again.deleted == ()
        assert theirs in google.state.accounts


def test_tidy_looks_in_every_project_a_roleset_uses(
    google: FakeGoogle, tmp_path: Path, no_rollback: None
) -> None:
    """A roleset in another project than the config's: tidy lists that project too,
    keeps the roleset's account there and finds an orphan there."""
    other = "other-project-2"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    google.add_resource("b/data-bucket")
    google.add_resource(f"projects/{other}")
    elsewhere = {**ROLESET, "project": other}
    with Engine.open(url, key=key, clock=ManualClock(time.time())) as engine:
        mount = engine.enable("gcp", "gcp")
        mount.configure(**google.config())
        mount.write_role("home", **ROLESET)
        mount.write_role("away", **elsewhere)
        away = mount.read_role("away")["service_account_email"]
        assert away.endswith(f"@{other}.iam.gserviceaccount.com")
        crash_after(mount, 3)  # created and bound, then died
        with pytest.raises(Crash):
            mount.write_role("lost", **elsewhere)
        [row] = engine.leases("gcp/role-ops/")
        engine.store.delete_lease(row.lease_id)  # the record is lost
        [lost] = {e for e in _ds(google) if other in e} - {away}
        report = mount.tidy(dry_run=False)
        assert report.scanned == 3 and [i.id for i in report.orphans] == [lost]
        assert report.deleted == (lost,)
        assert _ds(google) == {
            mount.read_role("home")["service_account_email"],
            away,
        }
