"""GCP input validation: roles, config (never echoing secrets), account ids within
Google's limits, the token TTL cap. (Split from test_gcp_provider.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import (
    ValidationError,
)
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import (
    KEY_ROLESET,
    TOKEN_ROLESET,
)


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"project": "Bad_Project"}, "project"),
        ({"project": "abc"}, "project"),
        ({"secret_type": "access_token", "token_scopes": ["cloud-platform"]}, "token_scopes"),
        ({"secret_type": "access_token"}, "token_scopes"),
        ({"max_accounts": 21}, "max_accounts"),
        ({"max_accounts": 0}, "max_accounts"),
        ({"service_account_email": "x@p.iam.gserviceaccount.com"}, "service_account_email"),
    ],
)
def test_role_validation(
    gcp_mount: Mount, google: FakeGoogle, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        gcp_mount.write_role("bad", **{**KEY_ROLESET, **fields})
    assert info.value.field == field
    assert google.state.calls["CreateServiceAccount"] == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"credentials": "not json"}, "credentials"),
        ({"credentials": json.dumps({"type": "authorized_user"})}, "credentials"),
        ({"endpoints": {"iamcredentials": "http://127.0.0.1:1"}}, "endpoints"),
        ({"endpoints": {"nosuch": "https://x"}}, "endpoints"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
    ],
)
def test_config_validation_never_echoes_secrets(
    gcp_mount: Mount, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        gcp_mount.configure(**fields)
    assert info.value.field == field
    assert "not json" not in str(info.value)


def test_account_ids_fit_google_limits() -> None:
    from dynsecrets.providers.gcp.names import ACCOUNT_ID, account_id

    names = {account_id("r" * 64) for _ in range(1000)} | {account_id("A_b.c") for _ in range(10)}
    assert all(ACCOUNT_ID.fullmatch(n) and 6 <= len(n) <= 30 for n in names)
    assert len(names) == 1010  # 8 random characters: no same-second collisions
    assert account_id("---").startswith("ds-")


def test_token_ttl_is_capped_at_google_limit(gcp_engine: Engine, gcp_mount: Mount) -> None:
    gcp_engine.write("gcp/roleset/tok", **TOKEN_ROLESET)
    token = gcp_engine.read("gcp/roleset/tok/token", ttl="5h")
    assert token.data["token_ttl"] == 3600
    assert any("clamped" in w for w in token.warnings)


def test_read_config_hides_the_key(gcp_mount: Mount) -> None:
    shown = gcp_mount.read_config()
    assert "credentials" not in shown and "PRIVATE KEY" not in json.dumps(shown)


def test_config_ttl_and_max_ttl_apply_to_key_leases(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    """As Vault's GCP config: ttl and max_ttl are the mount's defaults for leases."""
    gcp_engine.write("gcp/config", ttl="30m", max_ttl="1h")
    gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    lease = gcp_engine.read("gcp/roleset/my-set/key")
    assert lease.lease_duration == 1800
    longer = gcp_engine.read("gcp/roleset/my-set/key", ttl="3h")
    assert longer.lease_duration == 3600 and any("clamped" in w for w in longer.warnings)
    assert gcp_engine.read("gcp/config")["max_ttl"] == 3600
    with pytest.raises(ValidationError) as info:
        gcp_engine.write("gcp/config", ttl="2h", max_ttl="1h")
    assert info.value.field == "ttl"
    gcp_engine.revoke_prefix("gcp/")


def test_the_roleset_writer_is_in_its_accounts_description(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    with gcp_engine.acting_as("alice@example.com"):
        gcp_engine.write("gcp/roleset/my-set", **KEY_ROLESET)
    made = [a for a in google.state.accounts.values() if "actor=" in a.get("description", "")]
    assert len(made) == 1  # the roleset's account (the others are the root's)
    assert made[0]["description"].endswith("actor=alice@example.com")
