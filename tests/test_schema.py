from __future__ import annotations

import pytest

from dynsecrets import Field, Schema
from dynsecrets.errors import ValidationError

S = Schema(
    {
        "name": Field("str", required=True, pattern=r"[a-z]+", max_length=8),
        "kind": Field("str", default="a", choices=("a", "b")),
        "count": Field("int", default=1, minimum=0),
        "on": Field("bool", default=False),
        "ttl": Field("duration"),
        "tags": Field("list", default=[]),
        "labels": Field("map"),
        "doc": Field("json"),
        "token": Field("str", secret=True),
    },
    what="role",
)


def test_coerces_cli_strings() -> None:
    out = S.validate(
        {
            "name": "x",
            "count": "3",
            "on": "true",
            "ttl": "1h",
            "tags": "a, b",
            "labels": '{"k": "v"}',
            "doc": '{ "Version": "2012-10-17" }',
        }
    )
    assert out["count"] == 3 and out["on"] is True and out["ttl"] == 3600
    assert out["tags"] == ["a", "b"] and out["labels"] == {"k": "v"}
    assert out["doc"] == '{"Version":"2012-10-17"}'
    assert out["kind"] == "a" and out["token"] is None


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({}, "name", "required"),
        ({"name": "x", "bogus": 1}, "bogus", "unknown role field"),
        ({"name": "X1"}, "name", "does not match"),
        ({"name": "toolongname"}, "name", "longer than 8"),
        ({"name": "x", "kind": "c"}, "kind", "one of a, b"),
        ({"name": "x", "count": "many"}, "count", "integer"),
        ({"name": "x", "count": -1}, "count", "at least 0"),
        ({"name": "x", "on": "maybe"}, "on", "true or false"),
        ({"name": "x", "ttl": "soon"}, "ttl", "not a duration"),
        ({"name": "x", "tags": 3}, "tags", "list"),
        ({"name": "x", "labels": "[1]"}, "labels", "mapping"),
        ({"name": "x", "doc": "{bad"}, "doc", "not valid JSON"),
        ({"name": 5}, "name", "expected a string"),
    ],
)
def test_errors_name_the_field(data: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        S.validate(data)
    assert info.value.field == field
    assert words in str(info.value)


def test_masked_drops_secret_fields() -> None:
    assert S.masked({"name": "x", "token": "s3cr3t"}) == {"name": "x"}
    assert S.secret_fields == {"token"}
