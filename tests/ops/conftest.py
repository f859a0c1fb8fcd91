"""Fixtures for op-engine tests: a real server on a manual clock (isolation: fresh data dir per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pyotp
import pytest
from pydantic import SecretStr

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from tests.ops.helpers import Fleet
from tests.support import ManualClock, start_server

TOTP_SECRET = pyotp.random_base32()


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time: moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    """Test settings with TOTP and without periodic jobs (tests run deadline checks themselves)."""
    return settings.model_copy(update={'tick_interval': 3600.0, 'totp_secret': SecretStr(TOTP_SECRET)})


@pytest.fixture
async def fleet(ops_settings: Settings, clock: ManualClock) -> AsyncIterator[Fleet]:
    """A dashboard on virtual time, served on a free port; agents are added by the test."""
    server = await start_server(ops_settings, Dashboard(ops_settings, clock=clock))
    fleet = Fleet(ops_settings, clock, server)
    yield fleet
    for agent in fleet.agents.values():
        agent.stop_script()
        await agent.fake.close()
    await fleet.server.stop()
