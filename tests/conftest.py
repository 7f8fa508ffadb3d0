"""Shared fixtures. The dynsecrets pytest plugin (dynsecrets_engine, fake_mount,
fake_cloud, dynsecrets_clock) is loaded through its pytest11 entry point."""

from __future__ import annotations
