"""Random names and lease ids: base62, every character equally likely."""

from __future__ import annotations

from collections import Counter

import pytest

from dynsecrets._names import _BASE62, new_lease_id, random_base62


@pytest.mark.parametrize("n", [1, 8, 24, 200])
def test_random_base62_has_the_length_and_alphabet(n: int) -> None:
    got = random_base62(n)
    assert len(got) == n and set(got) <= set(_BASE62)


def test_random_base62_is_uniform_over_all_62_characters() -> None:
    counts = Counter("".join(random_base62(24) for _ in range(5000)))
    assert set(counts) == set(_BASE62)
    expected = 5000 * 24 / 62  # ~1935 each
    # A character 4 and more standard deviations off is a bias, not chance
    # (sd ~ 43.6); the bytes 248-255 mapped in would make the first eight ~25 % likelier.
    assert all(abs(c - expected) < 4 * 44 for c in counts.values()), counts


def test_lease_ids_do_not_repeat() -> None:
    ids = {new_lease_id("aws", "creds/r") for _ in range(10000)}
    assert len(ids) == 10000
    assert all(i.startswith("aws/creds/r/") and len(i) == len("aws/creds/r/") + 24 for i in ids)
