"""Fixtures for op-engine tests: a dashboard on a manual clock, in-process (isolation: fresh data dir per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pyotp
import pytest
from pydantic import SecretStr

from nixfleet.config import Settings
from tests.ops.helpers import Fleet
from tests.support import ManualClock

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
    """A dashboard on virtual time, in-process (agents' links call the app); agents are added by the test."""
    fleet = await Fleet.start(ops_settings, clock)
    yield fleet
    await fleet.stop()


@pytest.fixture
async def served_fleet(ops_settings: Settings, clock: ManualClock) -> AsyncIterator[Fleet]:
    """`fleet` served on a free port: for tests that need the socket (another process, real HTTP)."""
    fleet = await Fleet.start(ops_settings, clock, served=True)
    yield fleet
    await fleet.stop()
