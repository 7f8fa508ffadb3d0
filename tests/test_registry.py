"""Provider discovery through entry points, as a separately installed plugin sees it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from dynsecrets import Engine, ProviderRegistry
from dynsecrets.errors import ProviderLoadError, ProviderNotFound
from dynsecrets.testing import FakeProvider


def _install_dist(site: Path, dist: str, ep_line: str, module: str, source: str) -> None:
    """Lay out a distribution the way pip would: a module plus its .dist-info."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[dynsecrets.providers]\n{ep_line}\n")


def test_builtin_providers_use_the_same_group() -> None:
    names = ProviderRegistry().names()
    assert {"fake", "aws"} <= set(names)
    assert ProviderRegistry().get("fake") is FakeProvider


def test_separately_installed_plugin_is_discovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_dist(
        tmp_path,
        "acme_dynsecrets",
        "acme = acme_provider:AcmeProvider",
        "acme_provider",
        """
        from dynsecrets.testing import FakeProvider

        class AcmeProvider(FakeProvider):
            name = "acme"
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = ProviderRegistry()
    assert "acme" in registry.names()
    with Engine.open("memory://", registry=registry) as engine:
        m = engine.enable("acme", "acme")
        m.write_role("r", policies=["p"])
        lease = m.issue("r")
        assert lease.data["user"] in m.provider.cloud.users  # type: ignore[attr-defined]
        engine.revoke(lease.lease_id)
    monkeypatch.delitem(sys.modules, "acme_provider")


def test_broken_plugin_names_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_dist(
        tmp_path,
        "broken_plugin",
        "broken = broken_mod:Nope",
        "broken_mod",
        "raise RuntimeError('boom at import')\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProviderLoadError) as info:
        ProviderRegistry().get("broken")
    assert "broken_plugin" in str(info.value) and "boom at import" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_unknown_provider_message() -> None:
    with pytest.raises(ProviderNotFound) as info:
        ProviderRegistry(entry_points=False).get("azure")
    assert "pip install 'dynsecrets[azure]'" in str(info.value)
    with pytest.raises(ProviderNotFound, match="install the distribution"):
        ProviderRegistry().get("nimbus")


def test_explicit_registration_without_entry_points() -> None:
    registry = ProviderRegistry(entry_points=False)
    assert registry.names() == []
    registry.register(FakeProvider)
    assert registry.get("fake") is FakeProvider
    registry.unregister("fake")
    with pytest.raises(ProviderNotFound):
        registry.get("fake")


def test_builtin_fast_path_matches_the_entry_points() -> None:

    from dynsecrets.providers.registry import BUILTIN, ENTRY_POINT_GROUP

    from ._project import entry_points

    declared = entry_points(ENTRY_POINT_GROUP)
    assert {name: declared[name] for name in BUILTIN} == BUILTIN
    registry = ProviderRegistry()
    from dynsecrets.providers.aws import AWSProvider

    assert registry.get("aws") is AWSProvider
    assert registry._eps is None  # found without scanning every distribution
