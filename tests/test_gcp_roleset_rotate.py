"""``roleset/<n>/rotate`` (issue 14): new accounts bound like the old ones, the
roleset switched to them, the old accounts' key leases revoked one by one, then the
old accounts unbound (only their own members) and deleted. Through the path API,
the Python API and the CLI, against FakeGoogle over TLS with the real SDKs."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dynsecrets import Engine, LeaseState, ManualClock, Mount
from dynsecrets.errors import (
    Conflict,
    LeaseNotFound,
    PermanentProviderError,
    ProviderError,
    ValidationError,
)
from dynsecrets.expiry import ExpiryWorker
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import (
    BINDINGS_HCL,
    KEY_ROLESET,
    PROJECT,
    TOKEN_ROLESET,
    token_with_key,
)

CONDITION = {"expression": "request.time < timestamp('2030-01-01T00:00:00Z')", "title": "until2030"}
OTHERS = {
    "version": 3,
    "bindings": [
        {"role": "roles/viewer", "members": ["user:alice@example.com"]},
        {"role": "roles/viewer", "members": ["user:bob@example.com"], "condition": CONDITION},
    ],
}
ROLESET = {"project": PROJECT, "secret_type": "service_account_key", "bindings": BINDINGS_HCL}


def _info(lease: Any) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(lease.data["private_key_data"])))


def _bound(google: FakeGoogle, email: str) -> list[str]:
    """Every resource role the account is a member of."""
    member = f"serviceAccount:{email}"
    return sorted(
        f"{r}:{role}"
        for r in google.state.policies
        for role, members in google.state.members(r).items()
        if member in members
    )


def _keys_of(google: FakeGoogle, email: str) -> list[str]:
    return [k for k, v in google.state.keys.items() if v["email"] == email]


def test_rotate_replaces_the_account_and_revokes_its_keys(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    google.add_resource(f"projects/{PROJECT}", OTHERS)
    gcp_engine.write("gcp/roleset/my-set", **ROLESET)
    old = gcp_mount.read_role("my-set")["service_account_email"]
    bound = [b.replace(old, "X") for b in _bound(google, old)]
    leases = [gcp_engine.read("gcp/roleset/my-set/key") for _ in range(3)]
    assert len(_keys_of(google, old)) == 3

    result = gcp_engine.write("gcp/roleset/my-set/rotate")

    role = gcp_mount.read_role("my-set").fields
    new = role["service_account_email"]
    assert new != old and role["service_accounts"] == [new]
    assert "_role_op" not in role  # the engine's mark is not shown
    assert result == {"service_accounts": [new], "service_account_email": new, "revoked_leases": 3}
    assert new.startswith("ds-my-set-") and new in google.state.accounts
    assert old not in google.state.accounts
    # The same bindings, on the new account only; others' members and conditions kept.
    assert [b.replace(new, "X") for b in _bound(google, new)] == bound
    assert _bound(google, old) == []
    policy = google.state.policies[f"projects/{PROJECT}"]
    assert OTHERS["bindings"][1] in policy["bindings"]  # the conditional one, untouched
    viewers = google.state.members(f"projects/{PROJECT}")["roles/viewer"]
    assert "user:alice@example.com" in viewers and policy["version"] == 3
    assert not any("deleted:" in m for b in policy["bindings"] for m in b["members"])
    # Each old lease was revoked as any revoke: gone from the store, its key deleted.
    for lease in leases:
        with pytest.raises(LeaseNotFound):
            gcp_engine.lookup(lease.lease_id)
    assert _keys_of(google, old) == []
    assert gcp_engine.leases() == []
    # The roleset issues from the new account; its key works.
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    assert lease.data["service_account_email"] == new
    assert token_with_key(google, _info(lease))


def test_rotate_replaces_a_whole_pool(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("pool", **{**KEY_ROLESET, "max_accounts": 2})
    old = gcp_mount.read_role("pool")["service_accounts"]
    for _ in range(4):
        gcp_mount.issue("pool")
    result = gcp_mount.role_action("pool", "rotate")  # the Python API
    assert result is not None and result["revoked_leases"] == 4
    new = gcp_mount.read_role("pool")["service_accounts"]
    assert len(new) == 2 and not set(new) & set(old)
    assert all(e in google.state.accounts for e in new)
    assert not any(e in google.state.accounts for e in old)
    assert {gcp_mount.issue("pool").data["service_account_email"] for _ in range(3)} <= set(new)


def test_rotate_an_access_token_roleset_replaces_its_account(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("tok", **TOKEN_ROLESET)
    old = gcp_mount.read_role("tok")["service_account_email"]
    assert gcp_mount.issue("tok").data["token"]
    result = gcp_mount.role_action("tok", "rotate")
    new = gcp_mount.read_role("tok")["service_account_email"]
    assert result is not None and result["revoked_leases"] == 0
    assert new != old and old not in google.state.accounts
    token = gcp_engine.read("gcp/roleset/tok/token")
    assert token.lease_id == "" and token.data["token"]
    # The token is the new account's (the fake knows whom it issued it to).
    assert google.state.principal(token.data["token"]) == new


def test_rotate_refuses_fields_and_other_kinds(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_mount.write_role("r", **KEY_ROLESET)
    with pytest.raises(ValidationError) as caught:
        gcp_engine.write("gcp/roleset/r/rotate", max_accounts=3)
    assert caught.value.field == "max_accounts"
    sa = google.service_account("static-one")
    gcp_engine.write(
        "gcp/static-account/s", service_account_email=sa, secret_type="service_account_key"
    )
    with pytest.raises(PermanentProviderError) as refused:
        gcp_mount.role_action("s", "rotate")
    assert refused.value.code == "NotSupported"
    assert gcp_engine.leases() == []


def test_a_failed_retirement_is_finished_by_the_worker(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle, gcp_clock: ManualClock
) -> None:
    """Past the switch nothing is undone: the roleset keeps its new account, the row
    stays for the worker, writes wait for it, and the worker deletes the old account."""
    gcp_mount.write_role("r", **KEY_ROLESET)
    old = gcp_mount.read_role("r")["service_account_email"]
    lease = gcp_mount.issue("r")
    google.faults.fail("DeleteServiceAccountKey", "PERMISSION_DENIED", times=100)
    with pytest.raises(ProviderError, match="now uses its new cloud objects"):
        gcp_mount.role_action("r", "rotate")
    new = gcp_mount.read_role("r")["service_account_email"]
    assert new != old and new in google.state.accounts
    assert old in google.state.accounts  # kept while its key lease is not revoked
    [row] = gcp_engine.leases("gcp/role-ops/")
    assert row.state == LeaseState.REVOKING
    assert gcp_engine.lookup(lease.lease_id).state == LeaseState.REVOKING
    assert gcp_mount.issue("r").data["service_account_email"] == new  # issuing works
    with pytest.raises(Conflict, match="rotate of 'r' is unfinished"):
        gcp_mount.write_role("r", **KEY_ROLESET)
    with pytest.raises(Conflict):
        gcp_mount.delete_role("r", revoke_leases=True)
    with pytest.raises(Conflict):
        gcp_mount.role_action("r", "rotate")
    google.faults.clear()
    gcp_clock.advance(3600)
    ExpiryWorker(gcp_engine).run_once()
    assert gcp_engine.leases("gcp/role-ops/") == []
    assert old not in google.state.accounts and _bound(google, old) == []
    with pytest.raises(LeaseNotFound):
        gcp_engine.lookup(lease.lease_id)
    gcp_mount.write_role("r", **KEY_ROLESET)  # no longer refused
    assert gcp_mount.read_role("r")["service_account_email"] == new


def test_rotate_through_the_cli(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from dynsecrets.cli import main

    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("DYNSECRETS_KEY", base64.urlsafe_b64encode(b"k" * 32).decode())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    google.add_resource("b/data-bucket")
    with Engine.open(f"sqlite:///{tmp_path / 'store.db'}") as engine:
        engine.enable("gcp", "gcp").configure(**google.config())
        engine.write("gcp/roleset/x", **ROLESET)
        old = engine.mount("gcp").read_role("x")["service_account_email"]

    def ok(*argv: str) -> str:
        out = io.StringIO()
        code = main(list(argv), out=out)
        err = capsys.readouterr().err
        assert (code, err) == (0, ""), (argv, code, out.getvalue(), err)
        return out.getvalue()

    key = json.loads(ok("read", "-format=json", "gcp/roleset/x/key"))
    shown = json.loads(ok("write", "-f", "-format=json", "gcp/roleset/x/rotate"))
    new = shown["data"]["service_account_email"]
    assert new != old and shown["data"]["revoked_leases"] == 1
    assert old not in google.state.accounts
    assert json.loads(base64.b64decode(key["data"]["private_key_data"]))[
        "private_key_id"
    ] not in set(google.state.keys)
    again = json.loads(ok("read", "-format=json", "gcp/roleset/x/key"))
    assert again["data"]["service_account_email"] == new


def test_a_rotation_that_cannot_finish_says_how_to_drop_it(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """While the worker cannot finish a rotation, the refusal names the way out; a
    forced revoke of its row lifts it, and tidy then removes the old account."""
    gcp_mount.write_role("r", **KEY_ROLESET)
    old = gcp_mount.read_role("r")["service_account_email"]
    gcp_mount.issue("r")
    google.faults.fail("DeleteServiceAccountKey", "PERMISSION_DENIED", times=100)
    with pytest.raises(ProviderError, match="now uses its new cloud objects"):
        gcp_mount.role_action("r", "rotate")
    [row] = gcp_engine.leases("gcp/role-ops/")
    with pytest.raises(Conflict, match=f"lease revoke -force {row.lease_id}"):
        gcp_mount.write_role("r", **KEY_ROLESET)
    gcp_engine.revoke(row.lease_id, force=True)
    gcp_mount.write_role("r", **KEY_ROLESET)  # no longer refused
    google.faults.clear()
    assert gcp_mount.tidy(dry_run=False).deleted == (old,)
    assert old not in google.state.accounts
