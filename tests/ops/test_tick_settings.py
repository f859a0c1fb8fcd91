"""Which setting drives which periodic job, read from an env file as an operator writes it (issue 14 item 10).

`NIXFLEET_STALE_CLEANUP_INTERVAL` keeps the Go dashboard's meaning (how often offline hosts' unfinished commands
are given up, `1m` in Go env files); liveness, command deadlines and the kill escalation run every
`NIXFLEET_TICK_INTERVAL`. The jobs run on their own (no test calls them); deadlines are on virtual time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfleet.config import Settings
from nixfleet.models import CommandStatus as S
from tests.ops.helpers import Fleet, hang
from tests.support import eventually

GO_ENV = 'NIXFLEET_STALE_CLEANUP_INTERVAL=1m\nNIXFLEET_TICK_INTERVAL=50ms\n'
FAST_CLEANUP = 'NIXFLEET_STALE_CLEANUP_INTERVAL=50ms\nNIXFLEET_TICK_INTERVAL=1h\n'


@pytest.fixture
def ops_settings(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The test's settings with the two intervals read from an env file (`request.param`, its text)."""
    env_file = tmp_path / 'nixfleet.env'
    env_file.write_text(request.param)
    base = settings.model_dump(exclude={'stale_cleanup_interval', 'tick_interval'})
    return Settings(_env_file=env_file, **base)  # type: ignore[call-arg]


@pytest.mark.parametrize('ops_settings', [GO_ENV], indirect=True)
async def test_a_go_env_file_keeps_liveness_deadlines_and_kill_escalation_on_the_fast_tick(fleet: Fleet) -> None:
    assert (fleet.settings.stale_cleanup_interval, fleet.settings.tick_interval) == (60.0, 0.05)
    agent = (await fleet.add('web-01')).script(test=hang)
    fleet.clock.advance(16)  # three heartbeat intervals (5 s) without one
    await eventually(lambda: fleet.host('web-01')['connection'] == 'stale')
    await agent.heartbeat()
    await eventually(lambda: fleet.host('web-01')['connection'] == 'online')
    cid = await fleet.started('test', 'web-01')
    await fleet.engine.kill_command(cid)
    assert (await agent.expect('kill_command'))['payload']['signal'] == 'SIGTERM'
    fleet.clock.advance(5)
    assert (await agent.expect('kill_command'))['payload']['signal'] == 'SIGKILL'
    fleet.clock.advance(300)
    await fleet.status_of(cid, S.RUNNING_WARNING)


@pytest.mark.parametrize('ops_settings', [FAST_CLEANUP], indirect=True)
async def test_the_stale_cleanup_interval_paces_giving_up_commands_of_offline_hosts(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    await eventually(lambda: 'web-01' in fleet.engine.lifecycle.active and agent.pending == 'test')
    agent.stop_script()
    await agent.fake.close()
    cmd = fleet.engine.lifecycle.find_active(cid)
    await eventually(lambda: cmd.track.disconnected_at is not None)  # the lifecycle saw the link drop
    fleet.clock.advance(600)  # max(120 x 5 s, 5 min): the Go dashboard's give-up threshold
    ended = await fleet.ended(cid)
    assert ended.status is S.TIMEOUT and 'stayed offline for 600 s' in (ended.error or '')
