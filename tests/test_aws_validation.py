"""What AWS refuses at issue time is refused when the role, config or request is written
(issue 13): tags, paths, ASCII-only names, endpoints, access key ids, templates."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from dynsecrets import Engine, Mount
from dynsecrets.errors import ValidationError
from dynsecrets.testing.aws import AWSFaults, MotoServer

from .conftest import EC2_POLICY, READ_ONLY

ROLE_ARN = "arn:aws:iam::123456789012:role/app"
USER = {"credential_type": "iam_user", "policy_arns": [READ_ONLY]}
ASSUMED = {"credential_type": "assumed_role", "role_arns": [ROLE_ARN]}


@pytest.fixture
def mount(aws_engine: Engine) -> Mount:
    m = aws_engine.enable("aws", "aws")
    m.configure(region="us-west-2")
    return m


def _refused(mount: Mount, field: str, words: str, **fields: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        mount.write_role("r", **fields)
    assert info.value.field == field, info.value
    assert words in str(info.value), info.value
    assert mount.roles() == []
    return info.value


@pytest.mark.parametrize("value", ["a,b", "hello!", "x;y#z", "tab\there", "line\nbreak", "a\x00"])
@pytest.mark.parametrize(("base", "field"), [(USER, "iam_tags"), (ASSUMED, "session_tags")])
def test_tag_values_outside_awss_set_are_refused(
    mount: Mount, base: dict[str, Any], field: str, value: str
) -> None:
    _refused(
        mount, field, "AWS allows only letters, digits, spaces", **base, **{field: {"k": value}}
    )


@pytest.mark.parametrize("key", ["tab\tkey", "new\nline", "semi;colon", "", "k" * 129])
@pytest.mark.parametrize(("base", "field"), [(USER, "iam_tags"), (ASSUMED, "session_tags")])
def test_bad_tag_keys_are_refused(mount: Mount, base: dict[str, Any], field: str, key: str) -> None:
    _refused(mount, field, "tag key", **base, **{field: {key: "v"}})


@pytest.mark.parametrize(("base", "field"), [(USER, "iam_tags"), (ASSUMED, "session_tags")])
def test_tag_keys_equal_ignoring_case_are_refused(
    mount: Mount, base: dict[str, Any], field: str
) -> None:
    _refused(mount, field, "differ only in case", **base, **{field: {"Team": "a", "team": "b"}})


@pytest.mark.parametrize(
    "key",
    [
        "dynsecrets",
        "DynSecrets:Mount",
        "dynsecrets:role",
        "dynsecrets:LEASE-ID",
        "dynsecrets:store-id",
        "dynsecrets:future",
    ],
)
@pytest.mark.parametrize(("base", "field"), [(USER, "iam_tags"), (ASSUMED, "session_tags")])
def test_reserved_tag_keys_are_refused_not_overwritten(
    mount: Mount, base: dict[str, Any], field: str, key: str
) -> None:
    _refused(mount, field, "is reserved", **base, **{field: {key: "mine"}})


def test_tags_in_any_script_with_spaces_are_accepted(mount: Mount) -> None:
    # \u3000 and \u00a0 are spaces (\p{Z}); \u0663 is a digit (\p{N}) in another script.
    value = "서울\u3000東京\u00a0\u0663 _.:/=+-@"
    tags = {"Équipe données": value, "empty": "", "flag": True}
    role = mount.write_role("r", **USER, iam_tags=tags)
    assert role["iam_tags"] == {**tags, "flag": "true"}
    assert mount.write_role("s", **ASSUMED, session_tags=tags)["session_tags"]["empty"] == ""


def test_iam_tags_leave_room_for_the_five_reserved_tags(mount: Mount) -> None:
    err = _refused(
        mount, "iam_tags", "at most 45", **USER, iam_tags={f"k{i}": "v" for i in range(46)}
    )
    assert "dynsecrets adds 5" in str(err)
    mount.write_role("r", **USER, iam_tags={f"k{i}": "v" for i in range(45)})


@pytest.mark.parametrize("path", ["//", "/a\x7fb/", "/\x7f/", "/a b/", "/é/", "a/", "/a"])
def test_user_paths_outside_iams_pattern_are_refused(mount: Mount, path: str) -> None:
    _refused(mount, "user_path", "must be /", **USER, user_path=path)


@pytest.mark.parametrize("path", ["/", "/a/", "/a/b/", "/!~/", "/" + "x" * 510 + "/"])
def test_user_paths_in_iams_pattern_are_accepted(mount: Mount, path: str) -> None:
    assert mount.write_role("r", **USER, user_path=path)["user_path"] == path


@pytest.mark.parametrize("group", ["grüppe", "группа", "组", "a b", "x" * 129])
def test_group_names_are_ascii_only(mount: Mount, group: str) -> None:
    _refused(mount, "iam_groups", "ASCII letters", **USER, iam_groups=[group])


@pytest.mark.parametrize("fields", [{"policy_document": ""}, {"policy_document": "   "}])
@pytest.mark.parametrize("kind", ["iam_user", "federation_token"])
def test_empty_policy_document_is_called_empty(
    mount: Mount, fields: dict[str, Any], kind: str
) -> None:
    err = _refused(mount, "policy_document", "is empty", credential_type=kind, **fields)
    assert "needs" in str(err)


def test_empty_policy_document_next_to_arns_means_none(mount: Mount) -> None:
    assert mount.write_role("r", **USER, policy_document="")["policy_document"] is None


# -- request options ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"role_session_name": "sitzung-für-jörg"}, "role_session_name"),
        ({"role_session_name": "x"}, "role_session_name"),
        ({"mfa_code": "١٢٣٤٥٦"}, "mfa_code"),  # Arabic-Indic digits: Python's \d takes them
        ({"mfa_code": "12345"}, "mfa_code"),
    ],
)
def test_request_options_follow_awss_ascii_patterns(
    aws_mount: Mount, aws_faults: AWSFaults, options: dict[str, Any], field: str
) -> None:
    aws_mount.write_role("r", **ASSUMED)
    with pytest.raises(ValidationError) as info:
        aws_mount.issue("r", **options)
    assert info.value.field == field
    assert aws_faults.calls == [] and aws_mount.engine.leases() == []


def test_mfa_code_is_never_echoed(aws_mount: Mount) -> None:
    aws_mount.write_role("st", credential_type="session_token")
    with pytest.raises(ValidationError) as info:
        aws_mount.issue("st", mfa_code="98765x")
    assert info.value.field == "mfa_code" and "98765x" not in str(info.value)


@pytest.mark.parametrize(
    ("role", "options", "field"),
    [
        ({"credential_type": "session_token"}, {"mfa_code": "123456"}, "mfa_code"),
        (ASSUMED, {"mfa_code": "123456"}, "mfa_code"),
        (
            {"credential_type": "federation_token", "policy_document": EC2_POLICY},
            {"role_arn": ROLE_ARN},
            "role_arn",
        ),
        (USER, {"role_session_name": "mine"}, "role_session_name"),
        ({"credential_type": "session_token"}, {"wait_until_usable": True}, "wait_until_usable"),
    ],
)
def test_options_that_do_not_apply_are_refused(
    aws_mount: Mount,
    aws_faults: AWSFaults,
    role: dict[str, Any],
    options: dict[str, Any],
    field: str,
) -> None:
    aws_mount.write_role("r", **role)
    with pytest.raises(ValidationError) as info:
        aws_mount.issue("r", **options)
    assert info.value.field == field
    assert aws_faults.calls == [] and aws_mount.engine.leases() == []


# -- config ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://[", "not a valid URL"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("http://127.0.0.1:0", "port 0"),
        ("http://host:", "no port"),
        ("http://host:abc", "not a valid URL"),
        ("http://[::g]:5000", "IPv6"),
        ("http://user:pw@host", "user:password"),
        ("http://under_score:5000", "host name"),
        ("http://-bad.example", "host name"),
        ("http://a..b", "host name"),
        ("http://", "host name"),
        ("http://host/ x", "whitespace"),
        ("ftp://host", "http:// or https://"),
        ("host:5000", "http:// or https://"),
        ("http://host/?x=1", "query"),
    ],
)
@pytest.mark.parametrize("field", ["iam_endpoint", "sts_endpoint"])
def test_endpoints_are_validated_as_the_sdk_would(
    mount: Mount, field: str, url: str, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        mount.configure(**{field: url})
    assert info.value.field == field and words in str(info.value), info.value
    assert "pw" not in str(info.value)
    assert mount.read_config()["region"] == "us-west-2"  # the old config stays


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://[::1]:4566",
        "https://iam.amazonaws.com",
        "https://iam.us-gov.amazonaws.com./",
        "http://localstack:4566/path",
    ],
)
def test_valid_endpoints_are_accepted(mount: Mount, url: str) -> None:
    mount.configure(iam_endpoint=url, sts_endpoint=url)
    assert mount.read_config()["iam_endpoint"] == url


def test_bad_endpoint_never_reaches_issue(aws_engine: Engine) -> None:
    m = aws_engine.enable("bad", "aws")
    with pytest.raises(ValidationError):
        m.configure(region="us-west-2", sts_endpoint="http://127.0.0.1:99999")
    assert aws_engine.leases() == []


@pytest.mark.parametrize("key_id", ["testing", "test", "AKIA-custom.key"])
def test_any_key_id_goes_with_an_endpoint_override(
    aws_engine: Engine, moto_server: MotoServer, key_id: str
) -> None:
    m = aws_engine.enable("emu", "aws")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either
        m.configure(**{**moto_server.config(), "access_key": key_id})
    assert m.read_config()["access_key"] == key_id
    m.write_role("st", credential_type="session_token")
    assert m.issue("st").data["security_token"]


def test_odd_key_id_without_endpoint_is_accepted_with_a_warning(mount: Mount) -> None:
    with pytest.warns(UserWarning, match="does not look like an AWS access key id") as caught:
        mount.configure(access_key="testing", secret_key="s3cr3t-value")
    assert mount.read_config()["access_key"] == "testing"
    assert all("testing" not in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "pasted",
    ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIA 0000 1111 2222", "AKIAÄ0000111122223"],
)
def test_a_secret_pasted_into_access_key_is_refused_and_not_echoed(
    mount: Mount, pasted: str
) -> None:
    with pytest.raises(ValidationError) as info:
        mount.configure(access_key=pasted, secret_key="s")
    assert info.value.field == "access_key"
    assert pasted not in str(info.value) and pasted[:8] not in str(info.value)
    assert "secret key" in str(info.value)


def test_long_access_key_is_refused_without_echo(mount: Mount) -> None:
    with pytest.raises(ValidationError) as info:
        mount.configure(access_key="A" * 129, secret_key="s")
    assert info.value.field == "access_key" and "A" * 20 not in str(info.value)


def test_empty_keys_mean_the_default_chain(mount: Mount) -> None:
    mount.configure(access_key="", secret_key="", region="us-west-2")
    assert mount.read_config()["access_key"] is None


def test_forty_five_user_tags_fit_next_to_the_reserved_ones(aws_mount: Mount, iam: Any) -> None:
    tags = {f"Équipe {i}": f"valeur {i}" for i in range(45)}
    aws_mount.write_role("t", **USER, iam_tags=tags)
    lease = aws_mount.issue("t")
    [user] = [u["UserName"] for u in iam.list_users()["Users"]]
    got = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert {k: got[k] for k in tags} == tags and len(got) <= 50
    assert got["dynsecrets:lease-id"] == lease.lease_id


def test_unset_looking_options_are_not_refused(aws_mount: Mount, aws_faults: AWSFaults) -> None:
    aws_mount.write_role("st", credential_type="session_token")
    lease = aws_mount.issue("st", wait_until_usable=False, role_arn="")
    assert lease.data["security_token"] and aws_faults.calls == ["GetSessionToken"]
