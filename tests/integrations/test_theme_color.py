"""Theme colour authority (docs/architecture.md#hosts-and-liveness): the dashboard's colour wins over the agent's until
reset to agent default."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator

import pytest

from nixfleet.config import Settings
from nixfleet.models import DEFAULT_COLOR, CommandStatus
from nixfleet.store import Store
from tests.ops.helpers import Fleet
from tests.store.test_go_migration import create_go_database
from tests.support import ManualClock, eventually


@pytest.fixture
async def fleet(settings: Settings) -> AsyncIterator[Fleet]:
    """A dashboard on virtual time (no version tracking); agents are added by the test."""
    settings = settings.model_copy(update={'tick_interval': 3600.0})
    clock = ManualClock()
    fleet = await Fleet.start(settings, clock)
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


HOSTILE = [
    '#fff;position:fixed;inset:0;z-index:9999',
    'red}body{display:none',
    'url(https://x.example/a.png)',
    'expression(alert(1))',
    '#fff\n',
    '#12345',
]
API_TOKEN = 'theme-colour-api-token'


@pytest.mark.parametrize('color', HOSTILE)
async def test_a_colour_that_could_carry_css_is_refused_at_every_entry(fleet: Fleet, color: str) -> None:
    """An agent's register, the set-color op (UI/API/CLI, over HTTP too) and a stored value from a migrated database:
    none of them puts anything but `#rgb`/`#rrggbb` into a host view (which the UI writes into CSS)."""
    await fleet.add('web-01', theme_color=color)  # the agent's colour is ignored (logged), the default shown
    assert fleet.host('web-01')['theme_color'] == DEFAULT_COLOR
    stored = await fleet.dashboard.store.read(lambda db: db['hosts'].get('web-01')['theme_color'])
    assert stored == ''

    [result] = await fleet.dispatch('set-color', 'web-01', args={'color': color})
    assert (result.started, result.code) == (False, 'invalid_color')
    fleet.dashboard.api_tokens['ci'] = API_TOKEN
    async with fleet.server.client(headers={'Authorization': f'Bearer {API_TOKEN}'}) as api:
        for method in ('PUT', 'POST'):
            response = await api.request(method, '/api/hosts/web-01/color', json={'color': color})
            assert response.status_code == 422, response.text
        body = (
            await api.post('/api/dispatch', json={'op': 'set-color', 'hosts': ['web-01'], 'args': {'color': color}})
        ).json()
        assert [(r['status'], r['code']) for r in body['results']] == [('blocked', 'invalid_color')]
    assert fleet.host('web-01')['theme_color'] == DEFAULT_COLOR

    await fleet.dashboard.store.write(  # as a drop-in migration of a Go database may have left it
        lambda db: db['hosts'].update('web-01', {'theme_color_override': color, 'theme_color': color})
    )
    await fleet.restart_server()
    assert fleet.host('web-01')['theme_color'] == DEFAULT_COLOR


@pytest.mark.parametrize('color', HOSTILE)
def test_a_colour_that_could_carry_css_is_dropped_when_a_go_database_is_adopted(settings: Settings, color: str) -> None:
    """The Go dashboard stored whatever its agents sent: the adoption drops such a colour and reports it."""
    create_go_database(settings.database_path)
    conn = sqlite3.connect(settings.database_path)
    conn.execute("UPDATE hosts SET theme_color = ? WHERE id = 'gpc0'", [color])
    conn.commit()
    conn.close()
    store = Store(settings.database_path)
    store.open()
    stored = store.read_sync(lambda db: db.execute("SELECT theme_color FROM hosts WHERE id = 'gpc0'").fetchone()[0])
    details = store.read_sync(
        lambda db: db.execute("SELECT details FROM event_log WHERE message LIKE 'adopted the Go%'").fetchone()[0]
    )
    store.close()
    assert stored == ''
    assert json.loads(details)['colors_dropped'] == [{'host': 'gpc0', 'column': 'theme_color', 'value': color}]
