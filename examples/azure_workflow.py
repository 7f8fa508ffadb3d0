"""Vault's Azure secrets engine workflow, on the embedded store, against local TLS fakes
of the Microsoft identity platform, Microsoft Graph and Azure Resource Manager that this
script starts itself (``dynsecrets.testing.azure``; needs ``dynsecrets[azure,test]``).

    python examples/azure_workflow.py

1. enable the Azure secrets engine at azure-prod/
2. configure it with the root application's tenant, client id and secret (and, for the
   fakes, their authority, Graph and ARM endpoints and CA bundle)
3. write the role app: Reader on the subscription, member of the group "devs"
4. read azure-prod/creds/app: a new application and service principal, as a lease
Then get a token with the new secret through azure-identity, revoke the lease, and show
the application is gone. Exits non-zero if anything does not hold.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import dynsecrets
from dynsecrets.testing.azure import AzureFakes


def say(command: str) -> None:
    print(f"\n$ {command}")


def main() -> int:
    with AzureFakes() as azure, tempfile.TemporaryDirectory() as tmp:
        azure.add_group("devs")
        engine = dynsecrets.Engine.open(f"sqlite:///{Path(tmp) / 'dynsecrets.db'}")
        say("dynsecrets secrets enable -path=azure-prod azure")
        mount = engine.enable("azure-prod", "azure")
        say("dynsecrets write azure-prod/config subscription_id=... tenant_id=... ...")
        mount.configure(**azure.config())
        scope = f"/subscriptions/{azure.directory.subscription_id}"
        say("dynsecrets write azure-prod/roles/app azure_roles=@roles.json azure_groups=...")
        mount.write_role(
            "app",
            azure_roles=json.dumps([{"role_name": "Reader", "scope": scope}]),
            azure_groups=json.dumps([{"group_name": "devs"}]),
            ttl="1h",
        )
        say("dynsecrets read azure-prod/creds/app")
        lease = mount.issue("app")
        print(f"lease_id           {lease.lease_id}")
        print(f"lease_duration     {lease.duration}")
        print(f"lease_renewable    {str(lease.renewable).lower()}")
        for key, value in lease.data.items():
            shown = "<redacted>" if key in lease.data.secret_keys else value
            print(f"{key:<18} {shown}")

        credential = lease.azure_credential(connection_verify=azure.ca_bundle)
        token = credential.get_token("https://management.azure.com/.default")
        ok = bool(token.token) and azure.directory.app_by_app_id(lease.data["client_id"])
        print(f"\nthe new service principal obtains a token: {bool(ok)}")

        say(f"dynsecrets lease revoke {lease.lease_id}")
        engine.revoke(lease.lease_id)
        gone = azure.directory.app_by_app_id(lease.data["client_id"]) is None
        print(f"the application is gone: {gone}")
        engine.close()
        return 0 if ok and gone and not azure.directory.role_assignments else 1


if __name__ == "__main__":
    sys.exit(main())
