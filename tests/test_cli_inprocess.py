"""The dynsecrets command run in-process (``main(argv)``) against the fake provider:
output shapes, exit codes and exact messages, without a subprocess per call.
tests/test_cli.py drives the real entry points against moto."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import dynsecrets
from dynsecrets import ManualClock
from dynsecrets.cli import main
from dynsecrets.crypto import DecryptionError
from dynsecrets.testing import FakeCloud, FakeProvider

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()


class Result(NamedTuple):
    code: int
    out: str
    err: str


class Run:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: Any, cloud: FakeCloud) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.cloud = cloud

    def __call__(self, *argv: str, stdin: bytes = b"") -> Result:
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        out = io.StringIO()
        code = main(list(argv), out=out)
        return Result(code, out.getvalue(), self.capsys.readouterr().err)

    def ok(self, *argv: str, stdin: bytes = b"") -> str:
        result = self(*argv, stdin=stdin)
        assert (result.code, result.err) == (0, ""), result
        return result.out

    def fails(self, code: int, *argv: str, stdin: bytes = b"") -> str:
        """Run, expect ``code``, nothing on stdout and one line on stderr; return it."""
        result = self(*argv, stdin=stdin)
        assert result.code == code, result
        assert result.out == "" and result.err.count("\n") == 1, result
        assert result.err.startswith("Error: ") and "Traceback" not in result.err
        return result.err.rstrip("\n").removeprefix("Error: ")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: Any, tmp_path: Path) -> Run:
    monkeypatch.setenv("DYNSECRETS_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("DYNSECRETS_KEY", KEY)
    monkeypatch.setenv("DYNSECRETS_ACTOR", "tester")
    cloud = FakeCloud()
    # Every engine a command opens talks to this one cloud, which the test inspects.
    monkeypatch.setattr(FakeProvider, "shared_cloud", cloud)
    return Run(monkeypatch, capsys, cloud)


@pytest.fixture
def fake(run: Run) -> Run:
    run.ok("secrets", "enable", "fake")
    run.ok("write", "fake/roles/app", "policies=read")
    run.ok("write", "fake/roles/application-two", "policies=read")
    return run


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> tuple[ManualClock, list[dict[str, Any]]]:
    """Every engine the CLI opens gets this clock; the options it was opened with are
    recorded (the worker's -claim-ttl reaches Engine.open)."""
    clock = ManualClock(1_700_000_000.0)
    opened: list[dict[str, Any]] = []
    real_open = dynsecrets.Engine.open

    def open_(url: str | None = None, **options: Any) -> dynsecrets.Engine:
        opened.append(options)
        return real_open(url, clock=clock, **options)

    monkeypatch.setattr(dynsecrets.Engine, "open", open_)
    return clock, opened


def _lease_ids(run: Run) -> list[str]:
    return [e["id"] for e in json.loads(run.ok("lease", "list", "-format=json"))]


# -- version, JSON shape, env ---------------------------------------------------------------
def test_version(run: Run) -> None:
    assert run.ok("--version") == run.ok("version") == f"dynsecrets {dynsecrets.__version__}\n"


VAULT_KEYS = ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]


def test_json_has_vaults_shape_on_every_verb(fake: Run) -> None:
    issued = json.loads(fake.ok("read", "-format=json", "fake/creds/app", "ttl=1h"))
    assert list(issued) == VAULT_KEYS
    assert re.fullmatch(r"[0-9a-f-]{36}", issued["request_id"])
    assert issued["lease_id"].startswith("fake/creds/app/")
    assert (issued["lease_duration"], issued["renewable"], issued["warnings"]) == (3600, True, None)
    assert set(issued["data"]) == {"user", "access_key", "secret_key"}
    written = json.loads(fake.ok("write", "-format=json", "fake/creds/app", "ttl=2h"))
    assert list(written) == VAULT_KEYS and written["lease_duration"] == 7200

    renewed = json.loads(
        fake.ok("lease", "renew", "-format=json", "-increment=2h", issued["lease_id"])
    )
    assert list(renewed) == VAULT_KEYS
    assert (renewed["lease_id"], renewed["lease_duration"], renewed["renewable"]) == (
        issued["lease_id"],
        7200,
        True,
    )
    assert renewed["data"] is None

    looked = json.loads(fake.ok("lease", "lookup", "-format=json", issued["lease_id"]))
    assert list(looked) == VAULT_KEYS and looked["lease_id"] == ""
    assert looked["data"]["id"] == issued["lease_id"] and looked["data"]["ttl"] in (7199, 7200)
    assert (looked["data"]["renewable"], looked["data"]["state"]) == (True, "active")

    role = json.loads(fake.ok("read", "-format=json", "fake/roles/app"))
    assert list(role) == VAULT_KEYS and (role["lease_id"], role["lease_duration"]) == ("", 0)
    assert role["data"]["policies"] == ["read"]


def test_config_lease_reads_back_as_durations(fake: Run) -> None:
    data = json.loads(fake.ok("read", "-format=json", "fake/config/lease"))["data"]
    assert data == {"lease": "768h0m0s", "lease_max": "768h0m0s"}
    fake.ok("write", "fake/config/lease", "lease=90m", "lease_max=24h")
    assert fake.ok("read", "fake/config/lease") == (
        "Key          Value\n---          -----\nlease        1h30m0s\nlease_max    24h0m0s\n"
    )
    assert fake.ok("read", "-field=lease", "fake/config/lease") == "1h30m0s\n"


def test_env_format_carries_the_lease_id(fake: Run) -> None:
    out = fake.ok("read", "-format=env", "fake/creds/app")
    [lease_id] = _lease_ids(fake)
    assert out.splitlines()[-1] == f"export DYNSECRETS_LEASE_ID={lease_id}"
    assert out.startswith("export FAKE_ACCESS_KEY=")


# -- -field ---------------------------------------------------------------------------------
def test_unknown_field_revokes_the_lease_it_issued(fake: Run) -> None:
    message = fake.fails(1, "read", "-field=nope", "fake/creds/app")
    assert message == (
        "no field 'nope' in the response; its fields are: lease_id, lease_duration, "
        "lease_renewable, user, access_key, secret_key; the lease was revoked"
    )
    assert _lease_ids(fake) == [] and fake.cloud.users == {}
    assert fake.ok("read", "-field=user", "fake/creds/app").startswith("fake-app-")


def test_unknown_field_of_data_lists_the_fields(fake: Run) -> None:
    assert fake.fails(1, "read", "-field=nope", "fake/roles/app") == (
        "no field 'nope' in the response; its fields are: credential_type, policies, name"
    )


# -- Vault's idempotent revoke and delete ------------------------------------------------------
def test_revoking_a_gone_lease_and_deleting_a_missing_role_succeed(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    [lease_id] = _lease_ids(fake)
    for _ in range(2):  # the second time the lease is already gone
        assert (
            fake.ok("lease", "revoke", lease_id)
            == "All revocation operations queued successfully!\n"
        )
    assert fake.ok("lease", "revoke", "fake/creds/app/never") == (
        "All revocation operations queued successfully!\n"
    )
    assert fake.ok("delete", "fake/roles/never") == (
        "Success! Data deleted (if it existed) at: fake/roles/never\n"
    )
    assert fake.fails(1, "delete", "nomount/roles/x") == (
        "no secrets engine is enabled at nomount/; enable one first"
    )


# -- lease list --------------------------------------------------------------------------------
def test_lease_list_columns_line_up_and_empty_says_so(fake: Run) -> None:
    assert fake.ok("lease", "list") == "No leases.\n"
    assert fake.ok("lease", "list", "fake/creds/app") == "No leases under fake/creds/app.\n"
    assert fake.ok("lease", "list", "-state=irrevocable") == "No irrevocable leases.\n"
    fake.ok("read", "fake/creds/app", "ttl=90")
    fake.ok("read", "fake/creds/application-two")
    lines = fake.ok("lease", "list").splitlines()
    assert lines[0].split() == ["Lease", "ID", "State", "TTL", "Age", "Actor"]
    assert lines[1].split() == ["--------", "-----", "---", "---", "-----"]
    state_at, ttl_at = lines[0].index("State"), lines[0].index("TTL")
    for line in lines[1:]:
        assert line[state_at - 4 : state_at] == "    " and line[state_at] != " "
        assert line[ttl_at - 4 : ttl_at] == "    " and line[ttl_at] != " "
    assert [line.split()[1:3] for line in lines[2:]] == [["active", "1m30s"], ["active", "768h"]]
    # Who asked: the CLI's -actor (the fixture runs as "tester"), and how long ago.
    assert [line.split()[3:] for line in lines[2:]] == [["0s", "tester"], ["0s", "tester"]]


# -- words the CLI user knows --------------------------------------------------------------------
@pytest.mark.parametrize("verb", ["read", "write", "list", "delete", "path-help"])
def test_sys_paths_are_not_served(run: Run, verb: str) -> None:
    args = [verb, "sys/leases/lookup"] + (["x=y"] if verb == "write" else [])
    assert run.fails(2, *args) == (
        "sys/ paths are not served by the dynsecrets CLI; use 'dynsecrets lease ...' for "
        "leases and 'dynsecrets secrets ...' for mounts"
    )


def test_flags_are_never_abbreviated(fake: Run) -> None:
    assert fake.fails(2, "read", "-f", "fake/creds/app") == (
        "unknown argument '-f' for 'read'; see 'dynsecrets read --help'"
    )
    assert fake.fails(2, "lease", "revoke", "-p", "fake/") == (
        "unknown argument '-p' for 'lease revoke'; see 'dynsecrets lease revoke --help'"
    )
    assert _lease_ids(fake) == []


def test_write_with_no_data_needs_f(fake: Run) -> None:
    assert fake.fails(2, "write", "fake/config/rotate-root") == (
        "no data to write to fake/config/rotate-root; give key=value pairs, or -f to write with none"
    )
    out = fake.ok("write", "-f", "fake/config/rotate-root")
    assert out.startswith("Key ") and "account " in out and "api_key" not in out
    assert fake.ok("write", "-force", "fake/config/rotate-root").startswith("Key ")


def test_lease_revoke_f_is_force(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    [lease_id] = _lease_ids(fake)
    fake.cloud.fail("delete_key", times=100)
    result = fake("lease", "revoke", "-f", lease_id)
    assert (result.code, result.out) == (0, "All revocation operations queued successfully!\n")
    # The cloud refused: said once, as a warning, since the command succeeded.
    assert result.err.count("\n") == 1 and result.err.startswith(
        f"WARNING: force-revoked {lease_id} although the cloud refused:"
    )
    assert _lease_ids(fake) == []


def test_messages_speak_cli(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    assert fake.fails(1, "secrets", "disable", "fake") == (
        "fake/ still has leases; revoke them (dynsecrets lease revoke -prefix fake/) or use -revoke"
    )


def test_disable_revoke_that_fails_names_the_flag(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    fake.cloud.fail("delete_key", times=100)
    assert fake.fails(1, "secrets", "disable", "-revoke", "fake") == (
        "fake/: 1 lease(s) could not be revoked; they stay in the store; fix the cause or "
        "revoke them with 'dynsecrets lease revoke -force'"
    )


def test_revoke_prefix_lists_failures_and_fails_once(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    fake.ok("read", "fake/creds/application-two")
    [first, second] = _lease_ids(fake)
    fake.cloud.fail("delete_key", times=100)
    result = fake("lease", "revoke", "-prefix", "fake/creds/app")
    assert result.code == 1
    assert result.out == (
        "Success! Revoked 0 lease(s) under fake/creds/app\n"
        f"  not revoked: {first}: PermanentProviderError: fake cloud delete_key failed: AccessDenied\n"
    )
    assert result.err == (
        "Error: 1 lease(s) could not be revoked; they stay in the store and the worker "
        "retries them (or drop them with -force)\n"
    )
    assert _lease_ids(fake) == [first, second]


def test_tidy_apply_reports_what_it_could_not_delete(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    [lease_id] = _lease_ids(fake)
    fake.cloud.fail("delete_key", times=100)
    fake("lease", "revoke", "-force", lease_id)
    [user] = fake.cloud.users
    result = fake("tidy", "-apply", "fake")
    assert result.code == 1
    assert result.out == (
        "Scanned 1 identity made by fake/; 1 without a lease.\n"
        f"  not deleted: {user} (lease {lease_id}): PermanentProviderError: fake cloud delete_key failed: AccessDenied\n"
    )
    assert result.err == "Error: 1 of 1 identities could not be deleted; see the list above\n"
    assert list(fake.cloud.users) == [user]


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lease", "lookup", "\udcff"], "argument '\\xff' is not valid UTF-8; arguments must be text"),
        (["lease", "revoke", "-prefix", "fake/\udcfe"], "argument 'fake/\\xfe' is not valid UTF-8; arguments must be text"),
        (["write", "fake/roles/x", "policies=a\udcff"], "the value of policies is not valid UTF-8; arguments must be text"),
        (["write", "fake/config/root", "api_key=s3cr\udcffet"], "the value of api_key is not valid UTF-8; arguments must be text"),
        (["secrets", "enable", "-path=x\udcff", "fake"], "the value of -path is not valid UTF-8; arguments must be text"),
        (["read", "fake/creds/app", "ttl=\ud800"], "the value of ttl is not valid UTF-8; arguments must be text"),
    ],
)  # fmt: skip
def test_arguments_that_are_not_utf8(fake: Run, argv: list[str], message: str) -> None:
    assert fake.fails(2, *argv) == message
    assert "s3cr" not in message
    assert _lease_ids(fake) == [] and fake.cloud.users == {}


def test_undecodable_argv_bytes_through_the_real_entry_point(tmp_path: Path) -> None:
    env = {"DYNSECRETS_STORE": f"sqlite:///{tmp_path / 's.db'}", "DYNSECRETS_KEY": KEY}
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"dynsecrets", b"lease", b"lookup", b"\xff"],
        capture_output=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr == b"Error: argument '\\xff' is not valid UTF-8; arguments must be text\n"


def test_values_that_are_not_utf8(fake: Run, tmp_path: Path) -> None:
    binary = tmp_path / "key.bin"
    binary.write_bytes(b"\x00\xff\xfe secret")
    assert fake.fails(2, "write", "fake/config/root", f"api_key=@{binary}") == (
        f"api_key: file '{binary}' is not UTF-8 text (at byte 1); values must be text"
    )
    assert fake.fails(2, "write", "fake/roles/x", "policies=-", stdin=b"ok\xc3(") == (
        "policies: standard input is not UTF-8 text (at byte 2); values must be text"
    )
    assert fake.fails(2, "write", "fake/roles/x", "policies=-", "credential_type=-") == (
        "credential_type: standard input was already read for policies; use key=@file for the others"
    )
    assert fake.ok("list", "fake/roles") == "Keys\n----\napp\napplication-two\n"


def test_a_value_without_its_key_is_not_echoed(fake: Run) -> None:
    assert fake.fails(2, "write", "fake/config/root", "=hunter2") == (
        "an argument starts with '='; write fields as key=value"
    )


def test_long_values_are_cut_short_in_errors(fake: Run) -> None:
    message = fake.fails(1, "lease", "lookup", "fake/creds/app/" + "x" * 10_000)
    assert len(message) < 300
    assert message.startswith("no lease 'fake/creds/app/xxx") and "..." in message
    assert message.endswith("; it may have expired or been revoked")


def test_a_failure_is_printed_once(fake: Run) -> None:
    fake.cloud.fail("create_key")
    fake.cloud.fail("delete_user", times=100)  # and the rollback fails too, and logs it
    # The rollback's own warning repeats the failure; only the error line shows.
    assert fake.fails(1, "read", "fake/creds/app") == "fake cloud create_key failed: AccessDenied"


# -- worker ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("-concurrency=0", "-concurrency: must be a whole number of at least 1, got '0'"),
        ("-concurrency=two", "-concurrency: must be a whole number of at least 1, got 'two'"),
        ("-interval=0", "-interval: must be a number of seconds above 0, got '0'"),
        ("-claim-ttl=0", "-claim-ttl: must be at least 1s, such as 30s"),
        (
            "-claim-ttl=soon",
            "-claim-ttl: 'soon' is not a duration; use seconds or units d/h/m/s such as '768h' or '1h30m'",
        ),
    ],
)
def test_worker_refuses_bad_options(run: Run, flag: str, message: str) -> None:
    assert run.fails(2, "worker", "-once", flag) == message
    assert run.fails(2, "worker", flag) == message


def test_worker_once_revokes_what_is_due(
    fake: Run, clock: tuple[ManualClock, list[dict[str, Any]]]
) -> None:
    manual, opened = clock
    fake.ok("read", "fake/creds/app", "ttl=1m")
    fake.ok("read", "fake/creds/app", "ttl=1h")
    manual.advance(61)
    summary = json.loads(fake.ok("worker", "-once", "-claim-ttl=30s", "-concurrency=2"))
    assert (summary["revoked"], summary["irrevocable"]) == (1, 0)
    assert set(summary) == {"revoked", "irrevocable", "seconds"}
    assert opened[-1]["claim_ttl"] == 30
    assert len(_lease_ids(fake)) == 1 and len(fake.cloud.users) == 1


def test_worker_with_a_wrong_key_refuses_in_one_line(
    fake: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise DecryptionError(
            "the key does not open this store; set the DYNSECRETS_KEY it was made with"
        )

    monkeypatch.setattr(dynsecrets.Engine, "expire_due", refuse)
    monkeypatch.setattr(dynsecrets.Engine, "start_worker", refuse)
    expected = "the key does not open this store; set the DYNSECRETS_KEY it was made with"
    assert fake.fails(1, "worker", "-once") == expected
    assert fake.fails(1, "worker", "-interval=0.1") == expected


def test_worker_with_a_wrong_key_end_to_end(fake: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.ok("write", "fake/config/root", "account=acme")
    fake.ok("read", "fake/creds/app")
    monkeypatch.setenv("DYNSECRETS_KEY", base64.urlsafe_b64encode(b"w" * 32).decode())
    message = fake.fails(1, "worker", "-once")
    assert "key" in message and "\n" not in message.strip()


# -- tidy ----------------------------------------------------------------------------------------
def test_tidy_is_a_dry_run_unless_apply(fake: Run) -> None:
    fake.ok("read", "fake/creds/app")
    [lease_id] = _lease_ids(fake)
    fake.cloud.fail("delete_key", times=100)
    fake("lease", "revoke", "-force", lease_id)  # the lease goes, the user stays: an orphan
    fake.cloud.reset_faults()
    [user] = fake.cloud.users
    dry = fake.ok("tidy", "fake")
    assert dry == (
        "Scanned 1 identity made by fake/; 1 without a lease.\n"
        f"  would delete {user} (lease {lease_id})\n"
        "This was a dry run; nothing was deleted. Run 'dynsecrets tidy -apply fake' to delete them.\n"
    )
    assert fake.ok("tidy", "-dry-run", "fake") == dry and list(fake.cloud.users) == [user]
    assert fake.ok("tidy", "-apply", "fake") == (
        "Scanned 1 identity made by fake/; 1 without a lease.\n"
        f"  deleted {user} (lease {lease_id})\n"
    )
    assert fake.cloud.users == {}
    assert fake.fails(2, "tidy", "-apply", "-dry-run", "fake").startswith(
        "argument -dry-run/--dry-run: not allowed with argument -apply/--apply"
    )


# -- path-help -----------------------------------------------------------------------------------
def test_path_help(fake: Run) -> None:
    assert fake.ok("path-help", "fake").splitlines()[:3] == [
        "fake/ is a fake secrets engine. Its paths:",
        "",
        "  fake/config/root           the root credential: write, read (secrets never shown)",
    ]
    assert fake.ok("path-help", "fake/config/root") == (
        "fake/config/root: the root credential (write, read; secrets never shown)\n"
        "\n"
        "  account (str, default fake-account)\n"
        "      must match: [a-z0-9-]{1,32}\n"
        "  api_key (str, secret)\n"
    )
    roles = fake.ok("path-help", "fake/roles/app")
    assert roles.startswith("fake/roles/app: a role (write, read, list, delete)\n\n")
    assert "  credential_type (str, default user)\n      one of: user, token\n" in roles
    assert "Fields every role takes (applied by the engine):\n  max_leases (int)\n" in roles
    creds = fake.ok("path-help", "fake/creds/app")
    assert "  ttl (duration)\n      lease TTL, capped by the role's and the mount's max\n" in creds
    assert fake.fails(2, "path-help", "fake/nope") == (
        "'fake/nope' is not a path of fake/; run 'dynsecrets path-help fake' to see its paths"
    )
    assert fake.fails(1, "path-help", "nomount") == (
        "no secrets engine is enabled at nomount/; enable one first"
    )


# -- map fields take Vault's k=v form ------------------------------------------------------------
@pytest.mark.parametrize(
    "values",
    [
        ["iam_tags=team=dev", "iam_tags=env=prod"],
        ["iam_tags=team=dev,env=prod"],
        ['iam_tags={"team": "dev", "env": "prod"}'],
    ],
)
def test_map_fields_take_k_v(run: Run, values: list[str]) -> None:
    run.ok("secrets", "enable", "-path=aws", "aws")
    run.ok(
        "write",
        "aws/roles/r",
        "credential_type=iam_user",
        "policy_arns=arn:aws:iam::aws:policy/ReadOnlyAccess",
        *values,
    )
    data = json.loads(run.ok("read", "-format=json", "aws/roles/r"))["data"]
    assert data["iam_tags"] == {"team": "dev", "env": "prod"}


def test_map_field_that_is_not_k_v(run: Run) -> None:
    run.ok("secrets", "enable", "-path=aws", "aws")
    assert run.fails(2, "write", "aws/roles/r", "credential_type=iam_user", "iam_tags=team") == (
        "iam_tags: 'team' is not k=v; write iam_tags=team=dev (repeatable) or "
        'iam_tags=\'{"team": "dev"}\''
    )


# -- in-process runs leave logging as they found it -------------------------------------------
def test_main_restores_the_library_logger(run: Run) -> None:
    import logging

    logger = logging.getLogger("dynsecrets")
    before: tuple[list[logging.Handler], int, bool] = (
        logger.handlers[:],
        logger.level,
        logger.propagate,
    )
    run.fails(2, "worker", "-concurrency=0")
    run.ok("lease", "list")
    assert (logger.handlers, logger.level, logger.propagate) == before


# -- static roles, rotate and -actor ---------------------------------------------------------
def test_static_role_seed_sequence_through_the_cli(fake: Run) -> None:
    from dynsecrets.testing.fake_cloud import FakeUser

    fake.cloud.users["svc"] = FakeUser("svc", {})
    out = fake.ok("write", "fake/static-roles/svc", "username=svc", "rotation_period=24h")
    assert "rotation_period" in out
    assert fake.ok("list", "fake/static-roles").split() == ["Keys", "----", "svc"]
    first = json.loads(fake.ok("read", "-format=json", "fake/static-creds/svc"))["data"]
    assert fake.cloud.key_works("svc", first["access_key"], first["secret_key"])
    assert "Rotated fake/static-roles/svc" in fake.ok("rotate", "fake/static-roles/svc")
    second = json.loads(fake.ok("read", "-format=json", "fake/static-creds/svc"))["data"]
    assert second["access_key"] != first["access_key"]
    assert fake.cloud.key_works("svc", first["access_key"], first["secret_key"])  # grace
    assert fake.fails(2, "rotate", "fake/roles/app").startswith("cannot rotate 'fake/roles/app'")
    assert fake.fails(
        2, "write", "fake/static-roles/x", "username=nobody", "rotation_period=1h"
    ) == ("username: no user 'nobody' in the fake cloud; create it first")
    fake.ok("delete", "fake/static-roles/svc")
    assert sorted(fake.cloud.users["svc"].keys) == []


def test_the_actor_flag_tags_what_the_cloud_creates(fake: Run) -> None:
    data = json.loads(fake.ok("-actor=ci-pipeline", "read", "-format=json", "fake/creds/app"))
    user = fake.cloud.users[data["data"]["user"]]
    assert user.tags["dynsecrets-actor"] == "ci-pipeline"
    looked = json.loads(fake.ok("lease", "lookup", "-format=json", data["lease_id"]))["data"]
    assert looked["actor"] == "ci-pipeline" and looked["age"] == 0
