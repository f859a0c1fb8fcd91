"""A host's last outcome (`last_outcome` of its view): the last command its agent ran, how it ended and why — one
field the table's Failed chip and the row's activity cell both read, kept across dashboard restarts."""

from __future__ import annotations

from typing import Any

from nixfleet.viewmodels.table_sync import host_row
from tests.ops.helpers import Fleet, fail, ok
from tests.support import eventually


def last_outcome(fleet: Fleet, host: str) -> dict[str, Any] | None:
    return fleet.host(host).get('last_outcome')


async def outcome_of(fleet: Fleet, host: str, command_id: str) -> dict[str, Any] | None:
    last = last_outcome(fleet, host)
    return last if last is not None and last['command_id'] == command_id else None


async def test_the_last_command_that_ran_is_the_hosts_outcome_through_restarts_and_other_commands(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(test=fail, pull=ok)
    assert last_outcome(fleet, 'web-01') is None
    failed = await fleet.started('test', 'web-01')
    await fleet.ended(failed)

    last = await eventually(lambda: outcome_of(fleet, 'web-01', failed))
    assert {k: last[k] for k in ('op', 'status', 'cause')} == {
        'op': 'test',
        'status': 'ERROR',
        'cause': 'exit 1 — test failed',
    }
    row = host_row(fleet.host('web-01'))
    assert row['failed'] is True  # the Failed chip
    assert row['fail'] == {'text': 'Test failed', 'why': 'exit 1 — test failed', 'command': failed}  # the activity

    # a dashboard-side op says nothing about how the host does
    [colour] = await fleet.dispatch('set-color', 'web-01', args={'color': '#ff9e64'})
    assert colour.command_status == 'SUCCESS'
    assert last_outcome(fleet, 'web-01') == last

    await fleet.restart_server()  # the host is loaded offline, with its outcome from the journal
    assert fleet.host('web-01')['connection'] == 'offline'
    assert last_outcome(fleet, 'web-01') == last
    assert host_row(fleet.host('web-01'))['fail'] == row['fail']

    [refused] = await fleet.dispatch('pull', 'web-01')  # refused: it never ran
    assert refused.command_status == 'BLOCKED'
    assert last_outcome(fleet, 'web-01') == last

    await agent.reconnect()
    agent.script(pull=ok)
    pulled = await fleet.started('pull', 'web-01')
    assert host_row(fleet.host('web-01'))['fail'] is None  # busy: its progress is shown, not the old failure
    await fleet.ended(pulled)
    now = await eventually(lambda: outcome_of(fleet, 'web-01', pulled))
    assert (now['status'], now['cause']) == ('SUCCESS', '')
    assert host_row(fleet.host('web-01'))['failed'] is False
    assert host_row(fleet.host('web-01'))['fail'] is None


async def test_a_removed_host_that_comes_back_has_no_outcome_yet(fleet: Fleet) -> None:
    agent = (await fleet.add('web-01')).script(test=fail)
    await fleet.ended(await fleet.started('test', 'web-01'))
    assert (last_outcome(fleet, 'web-01') or {}).get('status') == 'ERROR'
    agent.stop_script()
    await agent.fake.close()
    await eventually(lambda: fleet.host('web-01').get('connection') == 'offline')
    [removed] = await fleet.dispatch('remove', 'web-01')
    assert removed.command_status == 'SUCCESS'

    await fleet.add('web-01')
    assert last_outcome(fleet, 'web-01') is None
    await fleet.restart_server()
    assert last_outcome(fleet, 'web-01') is None  # nor after a restart: its commands went with it
