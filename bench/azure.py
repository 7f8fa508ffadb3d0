"""Azure: calls per credential, and issue+revoke overhead against the same SDK calls
made directly (through the same azure-core / azure-mgmt-authorization clients) on the
same TLS fakes."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from typing import Any

from dynsecrets import Engine
from dynsecrets.providers.azure import AzureProvider
from dynsecrets.providers.azure.config import Clients
from dynsecrets.providers.registry import ProviderRegistry
from dynsecrets.testing.azure import AzureFakes

from ._null import KEY
from ._overhead import interleaved

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
#: The fewest Graph/ARM calls each shape needs: (issue, revoke). Dynamic: application,
#: service principal, password, one per role and group; revoke undoes each and purges.
MINIMUM = {"1 role": (4, 4), "2 roles + 1 group": (6, 6), "existing app": (2, 1)}
_SKIP = {"Token", "OpenIdConfiguration"}


def _mount(azure: AzureFakes) -> tuple[Engine, Any]:
    registry = ProviderRegistry()
    registry.register(AzureProvider)
    path = tempfile.mkdtemp(prefix="dynsecrets-bench-")
    engine = Engine.open(f"sqlite:///{path}/bench.db", key=KEY, registry=registry)
    mount = engine.enable("azure", "azure")
    mount.configure(**azure.config())
    return engine, mount


def _raw_cycle(graph: Any, arm: Any, scope: str, i: int) -> None:
    """What dynsecrets does for a one-role lease, as direct calls."""
    app = graph.create_application(
        {
            "displayName": f"raw-{i}-{time.monotonic_ns()}",
            "signInAudience": "AzureADMyOrg",
            "tags": [
                "dynsecrets",
                "dynsecrets:mount=x",
                "dynsecrets:store=x",
                "dynsecrets:lease=x",
            ],
        }
    )
    sp = graph.create_service_principal(app["appId"], [], ())
    graph.add_password(app["id"], "raw", "2099-01-01T00:00:00Z")
    name = str(uuid.uuid4())
    arm.create_assignment(scope, name, arm.role_definition_id(READER), sp["id"], ())
    arm.delete_assignment(scope, name)
    graph.delete_service_principal(sp["id"])
    graph.delete_application(app["id"])
    graph.purge_deleted(app["id"])


def overhead(azure: AzureFakes, *, cycles: int, repeats: int) -> dict[str, Any]:
    engine, mount = _mount(azure)
    scope = f"/subscriptions/{azure.directory.subscription_id}"
    mount.write_role("r", azure_roles=json.dumps([{"role_id": READER, "scope": scope}]))
    clients = Clients()
    graph, arm = clients.graph(mount.root_config()), clients.arm(mount.root_config())
    result = interleaved(
        lambda i: _raw_cycle(graph, arm, scope, i),
        lambda: engine.revoke(mount.issue("r").lease_id),
        cycles=cycles,
        repeats=repeats,
        warmup=3,
    )
    clients.clear()
    engine.close()
    return result


def call_counts(azure: AzureFakes) -> dict[str, dict[str, int]]:
    engine, mount = _mount(azure)
    scope = f"/subscriptions/{azure.directory.subscription_id}"
    group = azure.add_group("bench")
    app = azure.directory.add_application("bench-existing")
    azure.directory.add_service_principal(app, [])
    shapes = {
        "1 role": {"azure_roles": json.dumps([{"role_id": READER, "scope": scope}])},
        "2 roles + 1 group": {
            "azure_roles": json.dumps(
                [{"role_id": READER, "scope": scope}, {"role_name": "Contributor", "scope": scope}]
            ),
            "azure_groups": json.dumps([{"object_id": group}]),
        },
        "existing app": {"application_object_id": app["id"]},
    }
    out = {}
    for shape, fields in shapes.items():
        role = shape.replace(" ", "-").replace("+", "and")
        mount.write_role(role, **fields)  # resolves role names (cached for issue)
        engine.revoke(mount.issue(role).lease_id)  # warm: tokens
        azure.faults.calls.clear()
        lease = mount.issue(role)
        issue_calls = len([c for c in azure.faults.calls if c not in _SKIP])
        azure.faults.calls.clear()
        engine.revoke(lease.lease_id)
        out[shape] = {
            "issue": issue_calls,
            "revoke": len([c for c in azure.faults.calls if c not in _SKIP]),
            "min_issue": MINIMUM[shape][0],
            "min_revoke": MINIMUM[shape][1],
        }
    engine.close()
    return out


def run(*, quick: bool, repeats: int) -> dict[str, Any]:
    with AzureFakes() as azure:
        return {
            "overhead": overhead(azure, cycles=10 if quick else 100, repeats=repeats),
            "calls": call_counts(azure),
        }


if __name__ == "__main__":
    print(json.dumps(run(quick=True, repeats=1), indent=2))
