"""Issue 17: HCL policies (Vault's matching rules) and tokens, in-process on the fake
provider: keyed hashes only, lease ownership, expiry and revocation sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynsecrets import Engine, ManualClock
from dynsecrets.errors import ValidationError
from dynsecrets.server.auth import Policies, authenticate
from dynsecrets.server.policies import ACL, parse_policy
from dynsecrets.server.responses import ApiError
from dynsecrets.server.tokens import Tokens
from dynsecrets.testing import FakeCloud

POLICY = """
# what the CI job may do
path "aws/creds/ec2" { capabilities = ["read"] }
path "aws/creds/*"   { capabilities = ["list"] }
path "aws/creds/secret-*" { capabilities = ["deny"] }
path "aws/+/team-a"  { capabilities = ["update"] }
path "sys/leases/*"  { capabilities = ["update", "sudo"] }
"""


def test_vaults_matching_rules() -> None:
    acl = ACL(parse_policy(POLICY))
    assert acl.capabilities("aws/creds/ec2") == {"read"}  # exact beats the glob
    assert acl.capabilities("aws/creds/other") == {"list"}
    assert acl.capabilities("aws/creds/secret-x") == frozenset()  # deny wins
    assert acl.capabilities("aws/roles/team-a") == {"update"}
    assert acl.capabilities("aws/roles/x/team-a") == frozenset()  # + is one segment
    assert acl.capabilities("sys/mounts") == frozenset()  # deny by default
    assert acl.allows("sys/leases/revoke-prefix/aws", "update", sudo=True)
    assert not acl.allows("aws/creds/ec2", "read", sudo=True)
    assert acl.may_see_mount("aws") and not acl.may_see_mount("gcp")


def test_merging_policies_and_root() -> None:
    a = parse_policy('path "m/*" { capabilities = ["read"] }')
    b = parse_policy(
        'path "m/*" { capabilities = ["list"] }\npath "m/x" { capabilities = ["deny"] }'
    )
    acl = ACL([*a, *b])
    assert acl.capabilities("m/y") == {"read", "list"}
    assert acl.capabilities("m/x") == frozenset()
    assert ACL((), root=True).allows("anything/at/all", "delete", sudo=True)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "policy"),
        ('path "x" { capabilities = ["reed"] }', "capabilities"),
        ('path "x" { capabilities = "read" }', "capabilities"),
        ('path "x*y" { capabilities = ["read"] }', "path"),
        (
            'path "x" { allowed_parameters = { a = [] }\n capabilities = ["read"] }',
            "allowed_parameters",
        ),
        ('key "x" { policy = "read" }', "key"),
        ('path "x" { capabilities = ["read"]', "policy"),
    ],
)
def test_bad_policies_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_policy(text)
    assert info.value.field == field


@pytest.fixture
def engine() -> Engine:
    from dynsecrets.testing import fake_engine

    clock = ManualClock(1_000_000.0)
    e = fake_engine(clock=clock, cloud=FakeCloud(clock=clock))
    m = e.enable("f", "fake", default_ttl="1h", max_ttl="24h")
    m.configure(account="t")
    m.write_role("app", policies=["read"])
    return e


def test_tokens_are_keyed_hashes_and_own_their_leases(engine: Engine) -> None:
    tokens = Tokens(engine)
    policies = Policies(tokens)
    policies.write("app", 'path "f/creds/app" { capabilities = ["read"] }')
    with pytest.raises(ValidationError, match="no policy named 'nope'"):
        tokens.create(["nope"])
    new = tokens.create(["app"], ttl="30m")
    assert new.token.startswith("dst.") and new.token not in repr(new)
    assert engine.store.get_token(new.token) is None  # only the keyed hash is a key
    caller = authenticate(tokens, policies, {"authorization": f"Bearer {new.token}"})
    assert caller.acl.allows("f/creds/app", "read")
    with engine.expiring_by(new.record.expires_at):
        lease = engine.read("f/creds/app")
    assert lease.lease_duration == 1800  # cut to the token's 30 minutes, not the role's hour
    tokens.record_lease(new.record, lease.lease_id)
    assert tokens.revoke(new.record.accessor) == 1
    assert engine.leases() == []
    with pytest.raises(ApiError) as info:
        authenticate(tokens, policies, {"x-vault-token": new.token})
    assert info.value.status == 403


def test_expiry_revokes_leases_but_orphans_keep_theirs(engine: Engine) -> None:
    tokens = Tokens(engine)
    owner = tokens.create(["root"], ttl="2h")
    orphan = tokens.create(["root"], ttl="2h", orphan=True)
    child = tokens.create(["root"], ttl="5h", parent=owner.record)
    assert child.record.expires_at == owner.record.expires_at  # never outlives its parent
    leases = []
    for rec in (owner.record, orphan.record, child.record):
        lease = engine.read("f/creds/app")
        tokens.record_lease(rec, lease.lease_id)
        leases.append(lease.lease_id)
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(2 * 3600 + 1)
    assert tokens.lookup(owner.token) is None
    assert tokens.sweep() == 2  # the owner's and its child's; the orphan owns nothing
    assert [i.lease_id for i in engine.leases()] == [leases[1]]
    assert engine.store.get_token_by_accessor(child.record.accessor) is None


def test_a_version_1_store_migrates_to_version_2(tmp_path: Path) -> None:
    import sqlite3

    from dynsecrets.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION
    from dynsecrets.store.sqlite import SQLiteStore

    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('store_id', 'abcdef0123456789')")
    db.execute(
        "INSERT INTO mounts (path, provider, default_ttl, max_ttl, created_at) VALUES ('m', 'fake', 1, 2, 0)"
    )
    db.commit()
    db.close()
    path.chmod(0o600)  # as the store creates it
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION and store.store_id == "abcdef0123456789"
    assert store.get_mount("m") is not None
    assert store.list_policies() == [] and store.ownerless_leases(limit=1) == []
    store.close()
