"""The provider side of tidy for roleset accounts (providers/gcp/tidy.py); the
engine side, where a roleset owns its accounts, is in test_gcp_tidy_engine.py."""

from __future__ import annotations

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import PermanentProviderError
from dynsecrets.providers.base import ManagedIdentity
from dynsecrets.providers.gcp import GCPProvider
from dynsecrets.providers.gcp.tidy import delete_roleset_account, roleset_accounts
from dynsecrets.testing.gcp import FakeGoogle

from .gcp_fixtures import KEY_ROLESET, PROJECT


def test_lists_this_mounts_roleset_accounts_and_deletes_one(
    gcp_engine: Engine, gcp_mount: Mount, google: FakeGoogle
) -> None:
    gcp_engine.write("gcp/roleset/one", **KEY_ROLESET)
    gcp_engine.write("gcp/roleset/two", **{**KEY_ROLESET, "max_accounts": 2})
    other = gcp_engine.enable("gcp-other", "gcp")
    other.configure(**google.config())
    gcp_engine.write("gcp-other/roleset/three", **KEY_ROLESET)
    google.service_account("not-ours-at-all")
    for i in range(120):  # more than a page
        google.service_account(f"filler-account-{i}")
    provider = gcp_mount.provider
    assert isinstance(provider, GCPProvider)
    clients = provider.clients.get(gcp_mount.root_config())
    found = roleset_accounts(clients, provider.context.retry, PROJECT, "gcp")
    assert sorted(i.details["role"] for i in found) == ["one", "two", "two"]
    assert {i.store_id for i in found} == {gcp_engine.store_id}
    one = next(i for i in found if i.details["role"] == "one")
    delete_roleset_account(clients, provider.context.retry, one)
    assert one.id not in google.state.accounts
    delete_roleset_account(clients, provider.context.retry, one)  # gone: success
    with pytest.raises(PermanentProviderError):
        delete_roleset_account(
            clients,
            provider.context.retry,
            ManagedIdentity(id=f"not-ours-at-all@{PROJECT}.iam.gserviceaccount.com"),
        )
    assert f"not-ours-at-all@{PROJECT}.iam.gserviceaccount.com" in google.state.accounts
