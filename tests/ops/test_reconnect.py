"""Switch-like ops end through reconnect (freshness triple), restart/reboot through re-register, Kill
(docs/agent-protocol.md#command-sequences)."""

from __future__ import annotations

import pyotp
import pytest

from nixfleet.models import CommandStatus as S
from nixfleet.ops.dispatch import DispatchError
from tests.ops.conftest import TOTP_SECRET
from tests.ops.helpers import Fleet, hang, restart, switch_no_return, switch_ok
from tests.support import expect_command, send_status

SWITCH_OPS = {'switch': 'switch', 'pull-switch': 'pull-switch', 'force-rebuild': 'force-update'}


@pytest.mark.parametrize('op', SWITCH_OPS)
async def test_switch_success_through_reconnect_with_new_binary(fleet: Fleet, op: str) -> None:
    agent = (await fleet.add('web-01')).script(**{SWITCH_OPS[op]: switch_ok})
    cmd = await fleet.ended(await fleet.started(op, 'web-01'))
    assert cmd.status is S.SUCCESS and 'new binary' in (cmd.message or '')
    assert agent.seen == [SWITCH_OPS[op]]
    assert fleet.host('web-01')['busy'] is False


async def test_switch_goes_awaiting_reconnect_then_times_out_after_90s(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(switch=switch_no_return)
    cid = await fleet.started('switch', 'web-01')
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await fleet.advance(89)
    assert fleet.engine.lifecycle.find_active(cid).status is S.AWAITING_RECONNECT
    await fleet.advance(1)
    cmd = await fleet.ended(cid)
    assert cmd.status is S.TIMEOUT and 'did not come back' in (cmd.error or '')


async def test_stale_binary_when_agent_update_was_expected(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    fleet.engine.lifecycle.compartments = _Fixed(agent='outdated')
    cid = await fleet.started('switch', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'switch')
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await agent.reconnect()  # same binary hash and source commit
    cmd = await fleet.ended(cid)
    assert cmd.status is S.STALE_BINARY and 'old binary' in (cmd.error or '')


async def test_unchanged_binary_without_expected_update_is_success(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('switch', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'switch')
    await agent.reconnect()
    assert (await fleet.ended(cid)).status is S.SUCCESS


async def test_suspicious_when_only_source_commit_changed(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('pull-switch', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'pull-switch')
    agent.source_commit = 'f' * 40
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert cmd.status is S.SUSPICIOUS and 'source commit changed' in (cmd.error or '')


async def test_disconnect_during_switch_then_new_binary_is_success(fleet: Fleet) -> None:
    """macOS: home-manager restarts the agent before it can send `status`."""
    agent = await fleet.add('mac-01', host_type='macos')
    cid = await fleet.started('switch', 'mac-01')
    await expect_command(agent.fake)
    agent.binary_hash = 'c' * 64
    await agent.fake.close()
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await agent.reconnect()
    assert (await fleet.ended(cid)).status is S.SUCCESS


async def test_network_blip_during_switch_keeps_tracking(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('switch', 'web-01')
    await expect_command(agent.fake)
    agent.pending = 'switch'
    await agent.fake.close()
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await agent.reconnect()  # heartbeat still shows the switch running
    await fleet.status_of(cid, S.EXECUTING)
    await send_status(agent.fake, 'switch')
    agent.pending, agent.binary_hash = None, 'd' * 64
    await agent.reconnect()
    assert (await fleet.ended(cid)).status is S.SUCCESS


async def test_force_rebuild_without_agent_restart_is_partial(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('force-rebuild', 'web-01')
    await expect_command(agent.fake)
    await send_status(agent.fake, 'force-update', message='force update complete')
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await fleet.advance(10)
    cmd = await fleet.ended(cid)
    assert cmd.status is S.PARTIAL and 'did not restart' in (cmd.error or '')


async def test_restart_succeeds_on_reregister(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(restart=restart)
    assert (await fleet.ended(await fleet.started('restart', 'web-01'))).status is S.SUCCESS


async def test_restart_times_out_when_agent_never_returns(fleet: Fleet) -> None:
    agent = await fleet.add('web-01')
    cid = await fleet.started('restart', 'web-01')
    await expect_command(agent.fake)
    await agent.fake.close()
    await fleet.status_of(cid, S.AWAITING_RECONNECT)
    await fleet.advance(90)
    assert (await fleet.ended(cid)).status is S.TIMEOUT


async def test_reboot_needs_a_fresh_totp_code(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(reboot=restart)
    for code, expected in ((None, 'totp_required'), ('000000', 'totp_invalid')):
        with pytest.raises(DispatchError) as refused:
            await fleet.dispatch('reboot', 'web-01', totp=code)
        assert refused.value.code == expected
    code = pyotp.TOTP(TOTP_SECRET).at(fleet.clock())
    cid = await fleet.started('reboot', 'web-01', totp=code)
    assert (await fleet.ended(cid)).status is S.SUCCESS
    with pytest.raises(DispatchError) as replay:
        await fleet.dispatch('reboot', 'web-01', totp=code)
    assert replay.value.code == 'totp_invalid' and 'already used' in replay.value.message


async def test_a_reboot_refused_for_the_host_does_not_spend_the_code(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(reboot=restart, test=hang)
    cid = await fleet.started('test', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    code = pyotp.TOTP(TOTP_SECRET).at(fleet.clock())
    [busy] = await fleet.dispatch('reboot', 'web-01', totp=code)
    assert (busy.started, busy.code) == (False, 'command_pending')
    with pytest.raises(DispatchError) as wrong:  # a wrong code is still said as such while the host is busy
        await fleet.dispatch('reboot', 'web-01', totp='000000')
    assert wrong.value.code == 'totp_invalid'
    await fleet.engine.kill_command(cid)
    await agent.expect('kill_command')
    await send_status(agent.fake, 'test', 'stopped', 130, 'terminated by user')
    await fleet.ended(cid)

    rebooted = await fleet.started('reboot', 'web-01', totp=code)  # the same code: it was never used
    assert (await fleet.ended(rebooted)).status is S.SUCCESS
    assert agent.seen == ['test', 'reboot']


async def test_a_wrong_code_gives_back_the_host_it_had_claimed(fleet: Fleet) -> None:
    (await fleet.add('web-01')).script(test=hang)
    with pytest.raises(DispatchError):
        await fleet.dispatch('reboot', 'web-01', totp='000000')
    assert fleet.host('web-01')['busy'] is False
    cid = await fleet.started('test', 'web-01')  # not refused as busy by the reboot that never was
    await fleet.status_of(cid, S.EXECUTING)
    assert fleet.host('web-01')['pending_command'] == 'test'


async def test_kill_during_long_switch_sigterm_then_sigkill_then_killed(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(switch=hang)
    cid = await fleet.started('switch', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await fleet.engine.kill_command(cid)
    kill = await agent.expect('kill_command')
    assert kill['payload'] == {'signal': 'SIGTERM', 'pid': 0}
    await fleet.advance(5)
    kill = await agent.expect('kill_command')
    assert kill['payload'] == {'signal': 'SIGKILL', 'pid': 0}
    agent.pending = None  # the process group (agent included) died; it comes back idle
    await agent.reconnect()
    cmd = await fleet.ended(cid)
    assert cmd.status is S.KILLED
    assert fleet.host('web-01')['busy'] is False


async def test_kill_ends_on_stopped_status(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(test=hang)
    cid = await fleet.started('test', 'web-01')
    await fleet.status_of(cid, S.EXECUTING)
    await fleet.engine.kill_command(cid)
    await agent.expect('kill_command')
    await send_status(agent.fake, 'test', 'stopped', 130, 'terminated by user')
    cmd = await fleet.ended(cid)
    assert (cmd.status, cmd.exit_code) == (S.KILLED, 130)


class _Fixed:
    """A compartment source with fixed statuses (others unknown)."""

    def __init__(self, **statuses: str) -> None:
        self._statuses = statuses

    def statuses(self, view: object) -> dict[str, str]:
        return {n: self._statuses.get(n, 'unknown') for n in ('agent', 'git', 'lock', 'system', 'tests')}
