"""pytest fixtures for applications that use dynsecrets (registered as ``pytest11``).

Nothing here runs at import time beyond defining fixtures, so the plugin costs
nothing in test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..clock import ManualClock
    from ..engine import Engine, Mount
    from ._fake import FakeCloud
    from .aws import MotoServer


@pytest.fixture
def dynsecrets_clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    from ..clock import ManualClock

    return ManualClock()


@pytest.fixture
def fake_cloud(dynsecrets_clock: ManualClock) -> FakeCloud:
    """The fake cloud behind the ``fake`` provider of ``dynsecrets_engine``."""
    from ._fake import FakeCloud

    return FakeCloud(clock=dynsecrets_clock)


@pytest.fixture
def dynsecrets_engine(dynsecrets_clock: ManualClock, fake_cloud: FakeCloud) -> Iterator[Engine]:
    """An engine on ``memory://`` with the manual clock and the ``fake`` provider."""
    from . import fake_engine

    engine = fake_engine(clock=dynsecrets_clock, cloud=fake_cloud)
    yield engine
    engine.close()


@pytest.fixture
def fake_mount(dynsecrets_engine: Engine) -> Mount:
    """A configured ``fake`` mount at ``fake/`` with a role ``app`` (policy ``read``)."""
    mount = dynsecrets_engine.enable("fake", "fake", default_ttl="1h", max_ttl="24h")
    mount.configure(account="test")
    mount.write_role("app", policies=["read"])
    return mount


@pytest.fixture(scope="session")
def dynsecrets_moto_server() -> Iterator[MotoServer]:
    """One moto server (HTTP, free loopback port) for the test session; skips without moto."""
    pytest.importorskip("moto.server", reason="needs moto[server]")
    from .aws import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture
def moto_server(dynsecrets_moto_server: MotoServer) -> MotoServer:
    """The session's moto server, reset to empty for this test."""
    dynsecrets_moto_server.reset()
    return dynsecrets_moto_server
