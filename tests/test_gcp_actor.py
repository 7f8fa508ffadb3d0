"""Who asked, where Google keeps it: GCP keys have no labels, so the actor goes in
the description of the service accounts dynsecrets creates (a roleset's), after
the tags tidy reads, sanitised and cut to Google's 256 UTF-8 bytes."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.providers.gcp import GCPProvider
from dynsecrets.providers.gcp.names import parse_description
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET, auditor


def _write(mount: Mount, actor: str) -> tuple[GCPProvider, dict[str, Any], dict[str, Any]]:
    provider = mount.provider
    assert isinstance(provider, GCPProvider)
    config = dict(mount.root_config())
    role = provider.validate_role("my-set", {"kind": "roleset", **KEY_ROLESET})
    plan = provider.plan_role(config, mount.path, "my-set", role, None)
    assert plan is not None
    # The engine keeps who asked in the plan under this key (as for leases).
    plan["_actor"] = actor
    return provider, config, plan


@pytest.mark.parametrize(
    ("actor", "shown"),
    [
        ("alice@example.com", "actor=alice@example.com"),
        ("Alice Smith (ops)\n", "actor=Alice_Smith_(ops)_"),
        ("a=b\x00c", "actor=a_bc"),
    ],
)
def test_roleset_account_description_names_the_actor(
    gcp_mount: Mount, google: FakeGoogle, actor: str, shown: str
) -> None:
    provider, config, plan = _write(gcp_mount, actor)
    made = provider.apply_role(config, plan)
    email = made["service_accounts"][0]
    account = auditor(google).get_service_account(name=f"projects/-/serviceAccounts/{email}")
    assert account.description.endswith(" " + shown)
    tags = parse_description(account.description)
    assert tags["mount"] == "gcp" and tags["role"] == "my-set"
    assert tags["store"] == gcp_mount.engine.store_id  # tidy's ownership tag survives


def test_long_actor_is_cut_to_googles_byte_limit(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config, plan = _write(gcp_mount, "é" * 300)  # 600 UTF-8 bytes
    made = provider.apply_role(config, plan)
    email = made["service_accounts"][0]
    text = google.state.accounts[email]["description"]
    assert len(text.encode()) <= 256 and "actor=éé" in text
    assert parse_description(text)["store"] == gcp_mount.engine.store_id
    # Deleting still recognises the account as ours.
    delete = provider.plan_role(config, "gcp", "my-set", None, {"kind": "roleset", **made})
    assert delete is not None
    provider.apply_role(config, delete)
    assert email not in google.state.accounts


def test_no_actor_no_suffix(gcp_mount: Mount, google: FakeGoogle) -> None:
    provider, config, plan = _write(gcp_mount, "")
    email = provider.apply_role(config, plan)["service_accounts"][0]
    assert "actor=" not in google.state.accounts[email]["description"]
