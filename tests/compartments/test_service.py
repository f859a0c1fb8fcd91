"""Compartments in the running dashboard: in-process, fake agents, a local fake version.json, virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from nixfleet.compartments.service import SHIPPED_AGENT_VERSIONS
from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from nixfleet.streams.changes import ChangeType, VersionedChange
from tests.integrations.fake_version import FakeVersionServer, version_json
from tests.ops.helpers import Fleet, ScriptedAgent, ok, switch_ok
from tests.support import ManualClock, eventually, expect_command, send_status

GEN = 'b6a4b4d'  # the fake agent's generation (tests/support.heartbeat_payload)
LOCK = '744b04a0'  # and its lock hash
NEXT = '1234567' + '0' * 33
ANY_VERSION = SHIPPED_AGENT_VERSIONS['python']  # the dashboard's own version, whatever it is


def remote(commit: str = GEN + '0' * 33, lock: str | None = LOCK) -> dict[str, Any]:
    return version_json(commit=commit, lock=lock)


async def make_fleet(settings: Settings, clock: ManualClock) -> Fleet:
    return await Fleet.start(settings, clock)


@pytest.fixture
async def fleet(settings: Settings, version_server: FakeVersionServer) -> AsyncIterator[Fleet]:
    """A dashboard on virtual time tracking the fake version.json (fetched at start, then only on demand)."""
    version_server.serve(remote())
    tracked = settings.model_copy(
        update={'version_url': version_server.url, 'version_fetch_ttl': 3600.0, 'tick_interval': 3600.0}
    )
    fleet = await make_fleet(tracked, ManualClock())
    await eventually(lambda: fleet.dashboard.compartments.remote.version is not None)  # type: ignore[union-attr]
    yield fleet
    await fleet.stop()


def statuses(fleet: Fleet, host: str) -> dict[str, str]:
    comps = fleet.host(host).get('compartments') or {}
    return {name: part['status'] for name, part in comps.items()}


def part(fleet: Fleet, host: str, name: str) -> dict[str, Any]:
    return dict((fleet.host(host).get('compartments') or {}).get(name) or {})


def record_deltas(fleet: Fleet) -> tuple[list[VersionedChange], Callable[[], None]]:
    seen: list[VersionedChange] = []
    _, sub = fleet.dashboard.stream.snapshot_and_subscribe(seen.append)
    return seen, sub.dispose


async def test_every_host_view_has_compartments_and_the_fleet_has_the_remote(fleet: Fleet) -> None:
    await fleet.add('web-01')
    await eventually(lambda: statuses(fleet, 'web-01').get('git') == 'ok')
    assert statuses(fleet, 'web-01') == {
        'agent': 'ok', 'git': 'ok', 'lock': 'ok', 'system': 'unknown', 'tests': 'unknown'
    }  # fmt: skip
    fleet_facts = fleet.dashboard.stream.value.fleet
    assert fleet_facts['remote']['short'] == GEN and fleet_facts['remote']['error'] is None
    assert fleet_facts['expected_agent_versions'] == SHIPPED_AGENT_VERSIONS == {'go': '3.1.5', 'python': ANY_VERSION}
    assert 'pull' not in fleet.host('web-01')['available_ops']  # validation reads the same compartments


async def test_remote_moving_on_updates_the_fleet_and_only_changed_hosts(
    fleet: Fleet, version_server: FakeVersionServer
) -> None:
    await fleet.add('web-01')
    await eventually(lambda: statuses(fleet, 'web-01').get('git') == 'ok')
    seen, dispose = record_deltas(fleet)
    version_server.serve(remote(NEXT))
    await fleet.dashboard.compartments.refresh_remote()
    dispose()
    kinds = [(d.change.type, d.change.id) for d in seen]
    assert kinds == [(ChangeType.FLEET_UPDATED, None), (ChangeType.HOST_UPDATED, 'web-01')]
    assert seen[0].change.fields is not None and seen[0].change.fields['remote']['short'] == '1234567'
    assert seen[1].change.fields is not None and {'compartments', 'available_ops'} <= set(seen[1].change.fields)
    assert part(fleet, 'web-01', 'git') == {
        'status': 'outdated',
        'message': f'Behind remote ({GEN} → 1234567): hosts: enable zram',
        'hint': "Pull to move the host's config checkout to the remote commit",
        'action': 'pull',
    }
    assert 'pull' in fleet.host('web-01')['available_ops']
    seen, dispose = record_deltas(fleet)
    await fleet.dashboard.compartments.refresh_remote()  # same content again: nothing moves
    dispose()
    assert seen == []


async def test_fetch_failing_is_red_with_the_reason_then_recovers(
    fleet: Fleet, version_server: FakeVersionServer
) -> None:
    await fleet.add('web-01')
    version_server.fail(500)
    await fleet.dashboard.compartments.refresh_remote()
    assert statuses(fleet, 'web-01')['git'] == 'error'
    assert part(fleet, 'web-01', 'lock')['message'] == 'version.json fetch failing: HTTP 500 Internal Server Error'
    assert fleet.dashboard.stream.value.fleet['remote']['error'] == 'HTTP 500 Internal Server Error'
    assert fleet.dashboard.stream.value.fleet['remote']['short'] == GEN  # the last good copy stays in the header
    version_server.serve(remote())
    await fleet.dashboard.compartments.refresh_remote()
    assert statuses(fleet, 'web-01')['git'] == 'ok'
    assert fleet.dashboard.stream.value.fleet['remote']['error'] is None


async def test_missing_lock_hash_names_the_field(fleet: Fleet, version_server: FakeVersionServer) -> None:
    await fleet.add('web-01')
    version_server.serve(remote(lock=None))
    await fleet.dashboard.compartments.refresh_remote()
    assert part(fleet, 'web-01', 'lock')['status'] == 'error'
    assert part(fleet, 'web-01', 'lock')['message'] == 'Remote version.json has no lockHash'
    assert statuses(fleet, 'web-01')['git'] == 'ok'


async def test_refresh_git_op_fetches_now(fleet: Fleet, version_server: FakeVersionServer) -> None:
    version_server.serve(remote(NEXT))
    [result] = await fleet.dispatch('refresh-git')
    cmd = await fleet.ended(result.command_id)
    assert cmd.status is CommandStatus.SUCCESS
    assert fleet.dashboard.stream.value.fleet['remote']['short'] == '1234567'


async def test_not_configured_is_gray_with_a_hint(settings: Settings) -> None:
    fleet = await make_fleet(settings.model_copy(update={'tick_interval': 3600.0}), ManualClock())
    try:
        await fleet.add('web-01')
        git = part(fleet, 'web-01', 'git')
        assert (git['status'], git['message']) == ('unknown', 'Version tracking not configured')
        assert 'NIXFLEET_VERSION_URL' in git['hint']
        assert fleet.dashboard.stream.value.fleet['remote']['configured'] is False
    finally:
        await fleet.stop()


async def deploy_and_test(fleet: Fleet, agent: ScriptedAgent) -> None:
    agent.script(switch=switch_ok, test=ok)
    switched = await fleet.ended(await fleet.started('switch', agent.host))
    assert switched.status is CommandStatus.SUCCESS, switched
    await eventually(lambda: statuses(fleet, agent.host)['tests'] == 'outdated')
    assert statuses(fleet, agent.host)['system'] == 'ok'
    tested = await fleet.ended(await fleet.started('test', agent.host))
    assert tested.status is CommandStatus.SUCCESS, tested
    await eventually(lambda: statuses(fleet, agent.host)['tests'] == 'ok')


async def test_switch_then_test_turn_system_and_tests_green(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await deploy_and_test(fleet, agent)
    assert set(statuses(fleet, 'web-01').values()) == {'ok'}
    assert 'switch' not in fleet.host('web-01')['available_ops']  # already current


async def test_a_finished_command_has_its_result_recorded_when_its_waiters_wake(fleet: Fleet) -> None:
    """The lifecycle's finished-listener records the result itself: whoever waited for the command's end sees its
    host's System and Tests with the result already (no later change from a task started by the change stream)."""
    agent = await fleet.add('web-01')
    agent.script(switch=switch_ok)
    switched = await fleet.ended(await fleet.started('switch', 'web-01'))
    assert switched.status is CommandStatus.SUCCESS, switched
    assert statuses(fleet, 'web-01')['system'] == 'ok'
    assert part(fleet, 'web-01', 'tests')['message'] == 'Tests need a re-run after the switch'


def next_is_published(fleet: Fleet) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: fetch version.json now; whether the dashboard has NEXT as the remote commit."""

    async def check() -> bool:
        state = await fleet.dashboard.compartments.refresh_remote()
        return state is not None and state.version is not None and state.version.git_commit == NEXT

    return check


async def test_a_no_op_pull_keeps_system_current_but_a_real_one_does_not(
    fleet: Fleet, version_server: FakeVersionServer
) -> None:
    agent = await fleet.add('web-01')
    await deploy_and_test(fleet, agent)
    await fleet.dashboard.compartments.record_result('web-01', 'pull', True, GEN)
    # the Go agent marks System outdated after any pull, even one that brought nothing
    await agent.heartbeat(update_status={'system': {'status': 'outdated', 'message': 'Pull completed'}})
    await eventually(lambda: (fleet.host('web-01')['update_status']['system'] or {}).get('status') == 'outdated')
    assert statuses(fleet, 'web-01')['system'] == 'ok'
    version_server.serve(remote(NEXT))  # the config repo moved on and the host pulls it
    await eventually(next_is_published(fleet))  # a fetch the recorded pull started may still bring the old one
    await agent.heartbeat(generation=NEXT[:7])
    # git was `ok` before the pull too: wait for the heartbeat itself (its generation), not only for git `ok`
    await eventually(lambda: fleet.host('web-01')['generation'] == NEXT[:7])
    await eventually(lambda: statuses(fleet, 'web-01')['git'] == 'ok')
    assert part(fleet, 'web-01', 'system')['status'] == 'outdated'
    assert part(fleet, 'web-01', 'system')['message'] == f'Deployed {GEN}; the host is now at {NEXT[:7]}'
    assert part(fleet, 'web-01', 'system')['action'] == 'switch'
    assert statuses(fleet, 'web-01')['tests'] == 'outdated'


async def test_tests_survive_agent_and_dashboard_restarts(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await deploy_and_test(fleet, agent)
    await agent.reconnect()  # the agent forgets: its heartbeat reports empty system/tests
    await eventually(lambda: fleet.host('web-01')['connection'] == 'online')
    assert set(statuses(fleet, 'web-01').values()) == {'ok'}
    await fleet.restart_server()
    await eventually(lambda: fleet.dashboard.compartments.remote.version is not None)  # type: ignore[union-attr]
    assert statuses(fleet, 'web-01') == dict.fromkeys(('agent', 'git', 'lock', 'system', 'tests'), 'ok')


async def test_a_rogue_agent_version_changes_no_other_host_and_no_switch_result(fleet: Fleet) -> None:
    """Issue 15 item 3: an agent claiming `99.0.0` became the expected version, and a healthy switch elsewhere then
    ended STALE_BINARY."""
    web = await fleet.add('web-01')
    before = part(fleet, 'web-01', 'agent')
    assert before['status'] == 'ok' and before['message'] == 'Agent 3.1.5 (current)'
    seen, dispose = record_deltas(fleet)

    await fleet.add('rogue', agent_version='99.0.0')
    await eventually(lambda: part(fleet, 'rogue', 'agent').get('message', '').startswith('Agent 99.0.0'))
    dispose()

    assert [d.change.id for d in seen if d.change.id == 'web-01' or d.change.type is ChangeType.FLEET_UPDATED] == []
    assert part(fleet, 'web-01', 'agent') == before
    assert fleet.dashboard.stream.value.fleet['expected_agent_versions'] == SHIPPED_AGENT_VERSIONS
    cid = await fleet.started('switch', 'web-01')
    await expect_command(web.fake)
    await send_status(web.fake, 'switch')
    await web.reconnect()  # a healthy switch that did not touch the agent: same binary
    assert (await fleet.ended(cid)).status is CommandStatus.SUCCESS


async def test_version_json_names_the_expected_agent_version(fleet: Fleet, version_server: FakeVersionServer) -> None:
    web = await fleet.add('web-01')
    await fleet.add('py-01', agent_impl='python', agent_version=ANY_VERSION)
    version_server.serve(remote() | {'agentVersion': {'go': '3.1.6'}})
    await fleet.dashboard.compartments.refresh_remote()

    assert part(fleet, 'web-01', 'agent')['message'] == 'Agent 3.1.5 (expected 3.1.6)'
    assert statuses(fleet, 'py-01')['agent'] == 'ok'  # implementations are compared separately
    assert fleet.dashboard.stream.value.fleet['expected_agent_versions'] == {'go': '3.1.6', 'python': ANY_VERSION}
    cid = await fleet.started('switch', 'web-01')  # the outdated agent is expected to change with the switch
    await expect_command(web.fake)
    await send_status(web.fake, 'switch')
    await web.reconnect()  # ... and did not
    assert (await fleet.ended(cid)).status is CommandStatus.STALE_BINARY


async def test_the_setting_beats_version_json(settings: Settings, version_server: FakeVersionServer) -> None:
    version_server.serve(remote() | {'agentVersion': '3.1.6'})
    pinned = settings.model_copy(
        update={'version_url': version_server.url, 'tick_interval': 3600.0, 'expected_agent_version': 'go=3.1.5'}
    )
    fleet = await make_fleet(pinned, ManualClock())
    try:
        await eventually(lambda: fleet.dashboard.stream.value.fleet['remote']['commit'] is not None)
        await fleet.add('web-01')
        await fleet.add('py-01', agent_impl='python', agent_version=ANY_VERSION)
        assert part(fleet, 'web-01', 'agent')['message'] == 'Agent 3.1.5 (current)'
        assert part(fleet, 'py-01', 'agent')['status'] == 'outdated'  # version.json's 3.1.6 is for every agent
        assert fleet.dashboard.stream.value.fleet['expected_agent_versions'] == {'go': '3.1.5', 'python': '3.1.6'}
    finally:
        await fleet.stop()


async def test_stale_working_turns_unknown_on_the_periodic_recheck(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    await agent.heartbeat(update_status={'system': {'status': 'working', 'message': 'Switch in progress...'}})
    await eventually(lambda: statuses(fleet, 'web-01')['system'] == 'working')
    fleet.clock.advance(301)
    await fleet.dashboard.compartments.recheck_job()
    assert statuses(fleet, 'web-01')['system'] == 'unknown'
    assert 'never finished' in part(fleet, 'web-01', 'system')['message']
