"""`nixfleet` API commands end to end (issue 8): the CLI as a subprocess against a served dashboard with simulated
agents, configured by `NIXFLEET_API_URL` / `NIXFLEET_API_TOKEN` like a CI job would be."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator

import pytest

from nixfleet.client.render import Style
from nixfleet.client.runs import pipeline_table
from nixfleet.config import Settings
from tests.api.live_fleet import API_TOKEN, LiveFleet, failing, live_fleet
from tests.support import eventually

#: A pipeline's per-host line: `<host padded> │ <text>`.
BAR = '[│|]'


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveFleet]:
    """A served dashboard with sim-01..03 online; `switch` fails on sim-03."""
    async with live_fleet(settings, behaviours={'sim-03': failing('switch')}) as fleet:
        yield fleet


def cli_env(url: str, token: str | None = API_TOKEN) -> dict[str, str]:
    """The environment of a CI job pointed at the dashboard at `url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(NIXFLEET_API_URL=url, PYTHONIOENCODING='utf-8', NO_COLOR='1')
    if token is not None:
        env['NIXFLEET_API_TOKEN'] = token
    return env


async def spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """Start `python -m nixfleet ARGS`."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        '-m',
        'nixfleet',
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def nixfleet(live: LiveFleet, *args: str, token: str | None = API_TOKEN) -> tuple[int, str, str]:
    """Run the CLI to its end; return exit code, stdout and stderr."""
    process = await spawn(cli_env(live.url, token), *args)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def said(out: str, host: str, text: str) -> bool:
    """Whether the output has the line `text` prefixed with `host`."""
    return re.search(rf'^{re.escape(host)}\s+{BAR} {re.escape(text)}$', out, re.MULTILINE) is not None


# -- pipeline run ----------------------------------------------------------------------------------------------
async def test_pipeline_run_streams_per_host_output_and_exits_0_when_every_host_succeeds(live: LiveFleet) -> None:
    code, out, err = await nixfleet(live, 'pipeline', 'run', 'do-all', '--host', 'sim-01', '--host', 'sim-02')

    assert code == 0, out + err
    for host in ('sim-01', 'sim-02'):
        for op in ('pull', 'switch', 'test'):
            assert re.search(rf'^{host}\s+{BAR} Command: {op} \(', out, re.MULTILINE), (host, op, out)
        assert said(out, host, 'T08 PASS')
        assert re.search(rf'^{host}\s+{BAR} ✓ test SUCCESS', out, re.MULTILINE)
        assert re.search(rf'^{host}\s+done\s+\w+( \(.*\))?\s+SUCCESS\s+SUCCESS$', out, re.MULTILINE)  # the summary
    assert 'COMPLETE, 2/2 hosts done' in out
    runs = await live.server.dashboard.ops.list_pipelines()
    assert runs[0]['status'] == 'COMPLETE' and runs[0]['actor'] == 'api:tests'


async def test_pipeline_run_exits_1_when_a_host_fails(live: LiveFleet) -> None:
    code, out, err = await nixfleet(live, 'pipeline', 'run', 'do-all', '--host', 'sim-01,sim-03')

    assert code == 1, out + err
    why = "exit 1 — error: The option `services.sim-03.enable' does not exist."  # the last error line of its output
    assert re.search(rf'^sim-03\s+{BAR} ✗ switch ERROR \S+: {re.escape(why)}$', out, re.MULTILINE), out
    assert said(out, 'sim-03', '✗ test SKIPPED: left the pipeline at switch')
    assert said(out, 'sim-01', 'T08 PASS')  # the healthy host went on to the end
    assert re.search(r'^sim-03\s+failed\s+\w+( \(.*\))?\s+ERROR \(exit 1\)\s+SKIPPED$', out, re.MULTILINE), out
    summary = out[out.index('\nwhy:\n') :]  # below the table: why each host failed
    assert re.search(rf'^  sim-03 switch: ERROR {re.escape(why)}$', summary, re.MULTILINE), summary
    assert 'PARTIAL, 1/2 hosts done' in out


def test_pipeline_table_gives_each_failure_its_cause_and_already_current_stages_none() -> None:
    run = {
        'ops': ['pull', 'switch'],
        'hosts': ['web-01', 'web-02', 'web-03'],
        'host_state': {'web-01': {'state': 'done'}, 'web-02': {'state': 'failed'}, 'web-03': {'state': 'done'}},
        'stages': [
            {
                'web-01': {'status': 'SKIPPED', 'code': 'already_current', 'message': 'Git is already up to date'},
                'web-02': {'status': 'BLOCKED', 'code': 'host_offline', 'message': 'web-02 is offline'},
                'web-03': 'SUCCESS',  # a run journaled before cells kept their cause
            },
            {
                'web-01': {'status': 'SUCCESS', 'code': None, 'message': '', 'exit_code': 0},
                'web-02': {'status': 'SKIPPED', 'code': None, 'message': 'left the pipeline at pull'},
                'web-03': {'status': 'SUCCESS'},
            },
        ],
    }
    lines = pipeline_table(run, Style(enabled=False)).splitlines()
    assert re.fullmatch(r'web-01\s+done\s+current\s+SUCCESS', lines[1])
    assert re.fullmatch(r'web-02\s+failed\s+BLOCKED \(host offline\)\s+SKIPPED', lines[2])
    assert re.fullmatch(r'web-03\s+done\s+SUCCESS\s+SUCCESS', lines[3])
    assert lines[4:] == ['why:', '  web-02 pull: BLOCKED host_offline — web-02 is offline']


async def test_output_is_streamed_while_the_pipeline_still_runs(live: LiveFleet) -> None:
    live.fleet.hosts['sim-02'].system.behaviour.slow_ops['test'] = 100_000.0  # sim-02's tests run until cancelled
    process = await spawn(cli_env(live.url), 'pipeline', 'run', 'do-all', '--host', 'sim-01', '--host', 'sim-02')
    assert process.stdout is not None
    seen: list[str] = []
    while not (seen and re.match(rf'^sim-01\s+{BAR} ✓ test SUCCESS', seen[-1])):
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, f'the CLI ended early: {seen}'
        seen.append(line.decode().rstrip('\n'))

    run = next(iter(live.server.dashboard.ops.pipelines.runs.values()))
    assert run.status.value == 'RUNNING'  # sim-01's whole output arrived while the run was still going
    assert process.returncode is None
    cid = live.host('sim-02')['command_id']
    await live.server.dashboard.ops.cancel_command(cid)
    rest, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert re.search(rf'^sim-02\s+{BAR} ✗ test CANCELLED', rest.decode(), re.MULTILINE)


async def test_pipeline_run_json_is_a_stream_of_records(live: LiveFleet) -> None:
    code, out, err = await nixfleet(live, 'pipeline', 'run', 'do-all', '--host', 'sim-02', '--json')

    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert records[0]['type'] == 'pipeline_started' and records[0]['pipeline']['hosts'] == ['sim-02']
    assert {r['type'] for r in records} == {'pipeline_started', 'output', 'command_finished', 'pipeline_finished'}
    lines = [r['line'] for r in records if r['type'] == 'output' and r['op'] == 'test' and r['stream'] == 'stdout']
    assert lines[-1] == 'T08 PASS'
    finished = [r['command']['op'] for r in records if r['type'] == 'command_finished']
    assert finished == ['pull', 'switch', 'test']
    assert records[-1]['type'] == 'pipeline_finished' and records[-1]['pipeline']['status'] == 'COMPLETE'


async def test_pipeline_refusals(live: LiveFleet) -> None:
    unknown = await nixfleet(live, 'pipeline', 'run', 'do-nothing', '--host', 'sim-01')
    ghost = await nixfleet(live, 'pipeline', 'run', 'do-all', '--host', 'ghost')
    no_host = await nixfleet(live, 'pipeline', 'run', 'do-all')

    assert unknown[0] == 1 and 'unknown_pipeline' in unknown[2]
    assert ghost[0] == 1 and 'unknown_host' in ghost[2]
    assert no_host[0] == 2 and '--host' in no_host[2]


# -- ops run ---------------------------------------------------------------------------------------------------
async def test_ops_run_waits_and_exits_by_outcome(live: LiveFleet) -> None:
    ok = await nixfleet(live, 'ops', 'run', 'test', '--host', 'sim-01', '--host', 'sim-03', '--wait')
    failed = await nixfleet(live, 'ops', 'run', 'switch', '--host', 'sim-03', '--wait')
    blocked = await nixfleet(live, 'ops', 'run', 'test', '--host', 'sim-01', '--host', 'ghost')
    colour = await nixfleet(live, 'ops', 'run', 'set-color', '--host', 'sim-02', '--arg', 'color=#ff9e64', '--wait')

    assert ok[0] == 0, ok
    assert said(ok[1], 'sim-01', 'T08 PASS') and said(ok[1], 'sim-03', 'T08 PASS')
    assert 'test: 2/2 hosts succeeded' in ok[1]
    assert failed[0] == 1 and re.search(rf'^sim-03\s+{BAR} ✗ switch ERROR', failed[1], re.MULTILINE)
    assert blocked[0] == 1 and re.search(r'^ghost\s+BLOCKED\s+\S+\s+unknown_host', blocked[1], re.MULTILINE)
    assert colour[0] == 0 and said(colour[1], 'sim-02', 'theme colour of sim-02 set to #ff9e64')
    assert live.host('sim-02')['theme_color'] == '#ff9e64'


async def test_ops_run_ends_when_a_finished_command_was_trimmed_from_the_live_state(settings: Settings) -> None:
    small = settings.model_copy(update={'state_finished_commands': 1})  # the state keeps one finished command
    async with live_fleet(small) as live:
        live.fleet.hosts['sim-02'].system.behaviour.slow_ops['test'] = 100_000.0  # runs until cancelled
        process = await spawn(cli_env(live.url), 'ops', 'run', 'test', '--wait', '--timeout', '30',
                              '--host', 'sim-01', '--host', 'sim-02', '--host', 'sim-03')  # fmt: skip
        assert process.stdout is not None
        seen: list[str] = []
        while sum(bool(re.match(rf'^sim-0[13]\s+{BAR} ✓ test SUCCESS', line)) for line in seen) < 2:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, f'the CLI ended early: {seen}'
            seen.append(line.decode().rstrip('\n'))
        stream = live.server.dashboard.stream  # one of the two ends is trimmed from the live state:
        await eventually(lambda: sum(1 for c in stream.value.commands.values() if c.get('terminal')) <= 1)
        await live.server.dashboard.ops.cancel_command(live.host('sim-02')['command_id'])
        rest, _ = await asyncio.wait_for(process.communicate(), 60)

    text = '\n'.join(seen) + '\n' + rest.decode()
    assert 'stopped waiting' not in text, text
    assert 'test: 2/3 hosts succeeded' in text
    assert said(text, 'sim-01', 'T08 PASS') and said(text, 'sim-03', 'T08 PASS')


# -- configuration and credentials -----------------------------------------------------------------------------
async def test_usage_and_credential_problems_exit_2(live: LiveFleet) -> None:
    bad_token = await nixfleet(live, 'hosts', token='wrong')
    no_token = await nixfleet(live, 'pipeline', 'run', 'do-all', '--host', 'sim-01', token=None)
    env = {k: v for k, v in cli_env(live.url).items() if k != 'NIXFLEET_API_URL'}
    process = await spawn(env, 'hosts')
    _, no_url = await asyncio.wait_for(process.communicate(), 60)
    flag = await nixfleet(live, 'hosts', '--api-url', 'http://127.0.0.1:9', '--json')

    assert bad_token[0] == 2 and 'unauthorized' in bad_token[2]
    assert no_token[0] == 2 and 'unauthorized' in no_token[2]
    assert process.returncode == 2 and 'NIXFLEET_API_URL' in no_url.decode()
    assert flag[0] == 2 and 'unreachable' in flag[2]


# -- listings --------------------------------------------------------------------------------------------------
async def test_listings_for_people_and_for_scripts(live: LiveFleet) -> None:
    await nixfleet(live, 'ops', 'run', 'test', '--host', 'sim-02', '--wait')
    hosts = await nixfleet(live, 'hosts')
    hosts_json = json.loads((await nixfleet(live, 'hosts', '--json'))[1])
    show = await nixfleet(live, 'hosts', 'show', 'sim-02')
    commands = json.loads((await nixfleet(live, 'commands', '--host', 'sim-02', '--json'))[1])
    table = await nixfleet(live, 'commands', 'list', '--status', 'SUCCESS')
    events = json.loads((await nixfleet(live, 'events', '--action', 'op:*', '--limit', '1', '--json'))[1])
    ops = json.loads((await nixfleet(live, 'ops', '--json'))[1])

    assert hosts[0] == 0 and re.search(r'^HOST\s+STATE\s+', hosts[1]) and '3 hosts: 3 online' in hosts[1]
    assert [h['id'] for h in hosts_json['hosts']] == ['sim-01', 'sim-02', 'sim-03']
    assert re.search(r'^connection\s+online$', show[1], re.MULTILINE)
    assert commands['total'] == 1 and commands['commands'][0]['op'] == 'test'
    assert table[0] == 0 and re.search(r'\bsim-02\s+test\s+SUCCESS\b', table[1])
    assert len(events['events']) == 1 and events['next_cursor'] and events['total'] == 2  # test started, ended
    assert 'do-all' in {p['id'] for p in ops['pipelines']}


async def test_command_output_follow_and_actions(live: LiveFleet) -> None:
    live.fleet.hosts['sim-01'].system.behaviour.slow_ops['test'] = 100_000.0
    dispatched = json.loads((await nixfleet(live, 'ops', 'run', 'test', '--host', 'sim-01', '--json'))[1])
    cid = dispatched['results'][0]['command_id']
    follower = await spawn(cli_env(live.url), 'commands', 'output', cid, '--follow')
    assert follower.stdout is not None
    first = await asyncio.wait_for(follower.stdout.readline(), 30)
    waited = await nixfleet(live, 'commands', 'wait', cid, '--minutes', '10')
    cancelled = await nixfleet(live, 'commands', 'cancel', cid)
    rest, _ = await asyncio.wait_for(follower.communicate(), 30)
    again = await nixfleet(live, 'commands', 'kill', cid)

    assert first.decode().startswith(f'# Command: test ({cid})')
    assert waited[0] == 0 and 'EXECUTING' in waited[1]
    assert cancelled[0] == 0 and 'CANCELLED' in cancelled[1]
    assert follower.returncode == 1 and 'CANCELLED' in rest.decode().splitlines()[-1]  # not a success
    assert again[0] == 1 and 'invalid_state' in again[2]


# -- tokens through the API ------------------------------------------------------------------------------------
async def test_tokens_through_the_api(live: LiveFleet) -> None:
    code, token, err = await nixfleet(live, 'token', 'create', '--name', 'deploy')
    listed = json.loads((await nixfleet(live, 'token', 'list', '--json'))[1])
    as_deploy = await nixfleet(live, 'hosts', '--json', token=token.strip())
    revoked = await nixfleet(live, 'token', 'revoke', '--name', 'deploy')
    refused = await nixfleet(live, 'hosts', token=token.strip())
    anonymous = await nixfleet(live, 'token', 'list', token=None)

    assert code == 0 and token.strip().startswith('nfapi_') and 'shown only now' in err
    assert [t['name'] for t in listed['tokens']] == ['deploy']
    assert as_deploy[0] == 0
    assert revoked[0] == 0 and 'Revoked api token' in revoked[2]
    assert refused[0] == 2
    assert anonymous[0] == 2 and 'unauthorized' in anonymous[2]
    events = await live.server.dashboard.store.read(
        lambda db: db.execute("SELECT actor FROM event_log WHERE action LIKE 'token%'").fetchall()
    )
    assert {actor for (actor,) in events} == {'api:tests'}


async def test_a_read_token_made_with_the_cli_reads_and_runs_nothing(live: LiveFleet) -> None:
    code, token, err = await nixfleet(live, 'token', 'create', '--name', 'board', '--scope', 'read')
    listing = await nixfleet(live, 'token', 'list')
    reads = await nixfleet(live, 'hosts', '--json', token=token.strip())
    runs = await nixfleet(live, 'ops', 'run', 'pull', '--host', 'sim-01', token=token.strip())
    agent_scope = await nixfleet(live, 'token', 'create', '--host', 'web1', '--scope', 'read')

    assert code == 0 and token.strip().startswith('nfapi_'), err
    [row] = [line for line in listing[1].splitlines() if 'board' in line]
    assert ' read ' in row and 'SCOPE' in listing[1]
    assert reads[0] == 0 and json.loads(reads[1])['hosts']
    assert runs[0] == 2 and 'forbidden' in runs[2] and 'operate' in runs[2]
    assert agent_scope[0] == 2 and '--scope is for API tokens' in agent_scope[2]
    assert live.server.dashboard.ops.lifecycle.active_for('sim-01') is None
