"""Shared fixtures: each test gets its own data directory (fresh SQLite file) and, on request, a real server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

os.environ.setdefault('SE_OFFLINE', 'true')

from nixfleet.config import Settings
from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET, RunningServer, start_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with test secrets and a fresh data dir under tmp_path (isolation: one database per test)."""
    return Settings(
        data_dir=tmp_path / 'data',
        agent_token=AGENT_TOKEN,
        password_hash=PASSWORD_HASH,
        session_secret=SESSION_SECRET,
        listen='127.0.0.1:0',
        log_level='info',
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A real dashboard (no UI) on a free port, on the test's event loop; stopped after the test."""
    running = await start_server(settings)
    yield running
    await running.stop()
