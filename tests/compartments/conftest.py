"""Fixtures for the compartment tests that need a version.json: a local fake server (never the network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integrations.fake_version import FakeVersionServer


@pytest.fixture
def version_server() -> Iterator[FakeVersionServer]:
    """A fake version.json server on a free loopback port, serving a valid version.json until told otherwise."""
    server = FakeVersionServer()
    server.start()
    yield server
    server.stop()
