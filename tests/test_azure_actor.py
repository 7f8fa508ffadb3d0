"""Who asked: the application a lease creates carries ``dynsecrets:actor=<actor>`` in
its tags (and so does its service principal), within Graph's rules for a tag, read
back through a separate Graph client."""

from __future__ import annotations

from typing import Any

import pytest

from dynsecrets import Mount
from dynsecrets.providers.azure.steps import actor_tag
from dynsecrets.testing.azure import AzureFakes

from ._azure import (
    READER,
    Observer,
    azure,
    azure_clock,
    azure_engine,
    azure_entry_point,
    azure_mount,
    observer,
    roles_json,
    sub_scope,
)

__all__ = [
    "azure",
    "azure_clock",
    "azure_engine",
    "azure_entry_point",
    "azure_mount",
    "observer",
]


@pytest.fixture
def role(azure_mount: Mount, azure: AzureFakes) -> str:
    azure_mount.write_role(
        "app", azure_roles=roles_json({"role_id": READER, "scope": sub_scope(azure)})
    )
    return "app"


def _app_tags(observer: Observer, client_id: str) -> list[str]:
    status, body = observer.get(f"/applications?$filter=appId eq '{client_id}'&$select=id,tags")
    assert status == 200, body
    (app,) = body["value"]
    return list(app["tags"])


def _sp_tags(observer: Observer, client_id: str) -> list[str]:
    status, body = observer.get(f"/servicePrincipals?$filter=appId eq '{client_id}'")
    assert status == 200, body
    (sp,) = body["value"]
    return list(sp["tags"])


def test_the_actor_is_a_tag(azure_mount: Mount, observer: Observer, role: str) -> None:
    lease = azure_mount.issue(role, actor="alice@example.com")
    client_id = lease.data["client_id"]
    for tags in (_app_tags(observer, client_id), _sp_tags(observer, client_id)):
        assert "dynsecrets:actor=alice@example.com" in tags
    with azure_mount.engine.acting_as("ci-pipeline"):
        other = azure_mount.issue(role)
    assert "dynsecrets:actor=ci-pipeline" in _app_tags(observer, other.data["client_id"])
    for done in (lease, other):
        azure_mount.engine.revoke(done.lease_id)


def test_sanitised_to_graphs_rules(azure_mount: Mount, observer: Observer, role: str) -> None:
    lease = azure_mount.issue(role, actor="bob\x07\n\tthe\u200bbuilder " + "x" * 400)
    (tag,) = [t for t in _app_tags(observer, lease.data["client_id"]) if "actor" in t]
    assert tag.startswith("dynsecrets:actor=bob the builder xxx")
    assert len(tag) == 256 and tag.isprintable()
    azure_mount.engine.revoke(lease.lease_id)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("", []),
        ("\x00\x1b ", []),
        ("  carol  ", ["dynsecrets:actor=carol"]),
        ("équipe/ops", ["dynsecrets:actor=équipe/ops"]),
    ],
)
def test_actor_tag(actor: str, expected: list[str]) -> None:
    assert actor_tag(actor) == expected


def test_no_actor_no_tag(azure_mount: Mount, observer: Observer, role: str) -> None:
    lease = azure_mount.issue(role, actor="")
    tags: list[Any] = _app_tags(observer, lease.data["client_id"])
    assert not any(t.startswith("dynsecrets:actor=") for t in tags)
    azure_mount.engine.revoke(lease.lease_id)
