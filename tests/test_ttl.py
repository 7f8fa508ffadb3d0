from __future__ import annotations

import pytest

from dynsecrets import format_duration, parse_duration
from dynsecrets.errors import InvalidTTL, ValidationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("768h", 2764800),
        ("1h30m", 5400),
        ("90s", 90),
        ("3600", 3600),
        (3600, 3600),
        ("2d", 172800),
        ("1h0m1s", 3601),
        (" 15m ", 900),
        ("0", 0),
    ],
)
def test_parse(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2764800, "768h"),
        (5400, "1h30m"),
        (90, "1m30s"),
        (3601, "1h1s"),
        (0, "0s"),
        (60, "1m"),
        (3600, "1h"),
    ],
)
def test_format_like_vault(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "bad", ["forever", "1x", "h", "-5", "1.5h", "", True, 1.5, None, "9" * 30, -1]
)
def test_bad_durations_name_the_field(bad: object) -> None:
    with pytest.raises(InvalidTTL) as info:
        parse_duration(bad, field="default_ttl")  # type: ignore[arg-type]
    assert info.value.field == "default_ttl"
    assert isinstance(info.value, ValidationError)
    assert isinstance(info.value, ValueError)
