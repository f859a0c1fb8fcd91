"""Theme colour authority (SPEC §3): the dashboard's colour wins over the agent's until reset to agent default."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from tests.ops.helpers import Fleet
from tests.support import ManualClock, eventually, start_server


@pytest.fixture
async def fleet(settings: Settings) -> AsyncIterator[Fleet]:
    """A dashboard on virtual time (no version tracking); agents are added by the test."""
    settings = settings.model_copy(update={'tick_interval': 3600.0})
    clock = ManualClock()
    fleet = Fleet(settings, clock, await start_server(settings, Dashboard(settings, clock=clock)))
    yield fleet
    for agent in fleet.agents.values():
        await agent.fake.close()
    await fleet.server.stop()


async def set_color(fleet: Fleet, host: str, color: str) -> None:
    [result] = await fleet.dispatch('set-color', host, args={'color': color})
    assert (await fleet.ended(result.command_id)).status is CommandStatus.SUCCESS


async def test_dashboard_colour_survives_reconnects_until_reset(fleet: Fleet) -> None:
    agent = await fleet.add('web-01', theme_color='#7aa2f7')
    await set_color(fleet, 'web-01', '#E09050')
    assert (fleet.host('web-01')['theme_color'], fleet.host('web-01')['color_source']) == ('#e09050', 'dashboard')

    await agent.reconnect(theme_color='#68c878')  # the host was rebuilt with another palette
    await eventually(lambda: fleet.host('web-01')['connection'] == 'online')
    assert (fleet.host('web-01')['theme_color'], fleet.host('web-01')['color_source']) == ('#e09050', 'dashboard')

    await fleet.restart_server()  # the override is persisted, not just held in memory
    await agent.reconnect(theme_color='#68c878')
    await eventually(lambda: fleet.host('web-01')['connection'] == 'online')
    assert fleet.host('web-01')['theme_color'] == '#e09050'

    await set_color(fleet, 'web-01', 'default')  # "agent default"
    assert (fleet.host('web-01')['theme_color'], fleet.host('web-01')['color_source']) == ('#68c878', 'agent')
