"""Safe rollouts (issue 19): waves resolved from a spec, each wave gated, a host that fails after its switch rolled
back by the gate, and the run halted before the next wave.

The rollout test runs simulated agents (the real agent code with simulated tools, 10x faster) against a real
server: their generations change as on a host, so a rollback is seen in the host's own system history.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nixfleet.agent import SimBehaviour, SimulatedFleet
from nixfleet.config import Settings
from nixfleet.models import CommandStatus as C
from nixfleet.models import PipelineStatus as P
from nixfleet.ops.gates import GATE_ACTOR
from nixfleet.ops.rollout import FailurePolicy, Rollout, RolloutError, resolve_waves, rollout_options
from tests.api.live_fleet import API_TOKEN, LiveFleet
from tests.cli.test_cli import nixfleet
from tests.support import RunningServer, eventually, idle, simulated_agents, start_server

HOSTS = [f'sim-{n:02d}' for n in range(1, 11)]
#: The host of wave 2 whose tests fail after its switch.
BROKEN = 'sim-03'


# -- wave specs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('spec', 'waves'),
    [
        ('1,3,rest', [HOSTS[:1], HOSTS[1:4], HOSTS[4:]]),
        ('1,10%,rest', [HOSTS[:1], HOSTS[1:2], HOSTS[2:]]),
        ('25%', [HOSTS[:3], HOSTS[3:]]),  # a spec that ends early: the hosts left are one last wave
        ('sim-05+sim-06,2,rest', [['sim-05', 'sim-06'], HOSTS[:2], [*HOSTS[2:4], *HOSTS[6:]]]),
        ('sim-10,rest', [['sim-10'], HOSTS[:9]]),
        ('5,20', [HOSTS[:5], HOSTS[5:]]),  # more than what is left: what is left
    ],
)
def test_a_wave_spec_puts_every_host_in_exactly_one_wave(spec: str, waves: list[list[str]]) -> None:
    resolved = resolve_waves(spec, HOSTS)
    assert resolved == waves
    assert sorted(h for wave in resolved for h in wave) == sorted(HOSTS)


@pytest.mark.parametrize(
    ('spec', 'says'),
    [
        ('', 'at least one wave'),
        ('0,rest', "'0' is not a count"),
        ('150%', "'150%' is not a count"),
        ('rest,1', '"rest" can only be the last wave'),
        ('web-99+sim-01', 'web-99 is not a target'),
        ('sim-01,sim-01+sim-02', 'sim-01 is in more than one wave'),
        ('half', "'half' is not a count"),
    ],
)
def test_an_unusable_wave_spec_is_refused_with_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(RolloutError, match=says.replace('(', r'\(').replace('%', '%')):
        resolve_waves(spec, HOSTS)


def test_rollout_options_default_to_rollback_and_halt_and_a_run_without_them_keeps_todays_rules() -> None:
    options = rollout_options(HOSTS, waves='1,rest', on_failure=None, soak=None)
    assert options == {'wave_spec': '1,rest', 'waves': [HOSTS[:1], HOSTS[1:]], 'on_failure': 'rollback-and-halt'}
    plan = Rollout.of(options, HOSTS)
    assert (plan.gated, plan.policy, len(plan.waves)) == (True, FailurePolicy.ROLLBACK_AND_HALT, 2)
    assert rollout_options(HOSTS, waves=None, on_failure=None, soak=None) == {}
    assert Rollout.of({}, HOSTS) == Rollout(waves=[HOSTS])  # one wave, no gate
    with pytest.raises(RolloutError, match='not one of'):
        rollout_options(HOSTS, waves=None, on_failure='pray', soak=None)


# -- a rollout on simulated hosts -------------------------------------------------------------------------------
@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[RunningServer]:
    server = await start_server(settings)
    server.dashboard.api_tokens['tests'] = API_TOKEN
    yield server
    await server.stop()


@pytest.fixture
async def fleet(served: RunningServer) -> AsyncIterator[SimulatedFleet]:
    behaviours = {BROKEN: SimBehaviour(speed=10.0, fail_ops={'test'})}
    sims = simulated_agents(served.ws_url, len(HOSTS), speed=10.0, behaviours=behaviours)
    sims.remote.push()  # a new commit upstream: every host has something to pull and switch to
    await sims.start()
    await eventually(lambda: idle(served.dashboard.stream.value.hosts, HOSTS), timeout=20)
    yield sims
    await sims.stop()


async def test_a_host_failing_its_test_in_wave_2_is_rolled_back_and_wave_3_never_starts(
    served: RunningServer, fleet: SimulatedFleet
) -> None:
    before = {h: list(fleet.hosts[h].system.switched) for h in HOSTS}
    async with served.client(headers={'Authorization': f'Bearer {API_TOKEN}'}) as api:
        started = await api.post(
            '/api/dispatch/pipeline', json={'pipeline': 'do-all', 'hosts': HOSTS, 'waves': '1,3,rest'}
        )
        assert started.status_code == 200, started.text
        run_id = started.json()['pipeline']['id']
        run = await served.dashboard.ops.pipelines.wait(run_id)

        assert run.status is P.HALTED
        assert run.message.startswith(f'halted: wave 2 failed its gate ({BROKEN}: test failed')
        assert run.message.endswith(f'rolled back {BROKEN}')
        first, second, third = HOSTS[:1], HOSTS[1:4], HOSTS[4:]
        assert {h: run.host_state[h]['state'] for h in HOSTS} == {
            **dict.fromkeys(first, 'done'),
            **{h: 'failed' if h == BROKEN else 'done' for h in second},
            **dict.fromkeys(third, 'halted'),
        }
        # the broken host runs its previous generation again; the others of waves 1-2 the new one; wave 3 never moved
        assert fleet.hosts[BROKEN].system.switched == before[BROKEN]
        for host in [*first, *second]:
            if host != BROKEN:
                assert len(fleet.hosts[host].system.switched) == len(before[host]) + 1, host
        for host in third:
            assert fleet.hosts[host].system.switched == before[host], host

        # the API shows the waves, the failed gate and the rollback
        view = (await api.get(f'/api/pipelines/{run_id}')).json()
        assert view['status'] == 'HALTED' and view['waves'] == [first, second, third]
        assert view['gates']['0']['state'] == 'passed'
        assert view['gates']['1']['state'] == 'failed'
        assert view['gates']['1']['rolled_back'] == {BROKEN: 'SUCCESS'}
        assert view['rollbacks'][BROKEN]['status'] == 'SUCCESS'
        assert '2' not in view['gates']  # wave 3 was never checked: it never ran

        # History: the rollback is a command of the run, started by the gate; wave 3's stages are SKIPPED, not run
        commands = await journal(served, run_id)
        [rollback] = [c for c in commands if c['op'] == 'rollback']
        assert (rollback['host_id'], rollback['actor'], rollback['status']) == (BROKEN, GATE_ACTOR, 'SUCCESS')
        assert {c['status'] for c in commands if c['host_id'] in third} == {C.SKIPPED.value}
        assert {(c['message'], c['error']) for c in commands if c['host_id'] in third} == {(None, 'pipeline halted')}
        listed = (await api.get('/api/commands', params={'pipeline': run_id, 'op': 'rollback'})).json()
        assert [c['host_id'] for c in listed['commands']] == [BROKEN]


async def journal(server: RunningServer, run_id: str) -> list[dict[str, Any]]:
    return await server.dashboard.store.read(
        lambda db: list(db.query('SELECT * FROM commands WHERE pipeline_id = ? ORDER BY created_at', [run_id]))
    )


async def test_the_cli_runs_a_rollout_with_its_options_and_exits_1_when_it_halts(
    served: RunningServer, fleet: SimulatedFleet
) -> None:
    targets = HOSTS[:5]  # waves sim-01 | sim-02 sim-03 | sim-04 sim-05
    code, out, err = await nixfleet(
        LiveFleet(served, fleet),
        *('pipeline', 'run', 'update-agent', '--host', ','.join(targets)),
        *('--waves', '1,2,rest', '--gate', 'test', '--on-failure', 'rollback-and-halt', '--soak', '0.2'),
    )

    assert code == 1, out + err
    assert re.search(r'HALTED, 2/5 hosts done \(halted: wave 2 failed its gate \(sim-03: gate test failed', out), out
    [view] = [v for v in await served.dashboard.ops.list_pipelines() if v['name'] == 'update-agent']
    assert view['options']['waves'] == [targets[:1], targets[1:3], targets[3:]]
    assert (view['options']['gate'], view['options']['soak']) == ('test', 0.2)
    commands = await journal(served, view['id'])
    gate_tests = [c['host_id'] for c in commands if c['op'] == 'test']  # update-agent has no test stage: the gate's
    assert sorted(gate_tests) == ['sim-01', 'sim-02', 'sim-03']
    assert [(c['host_id'], c['actor']) for c in commands if c['op'] == 'rollback'] == [(BROKEN, GATE_ACTOR)]


async def test_a_halted_rollout_rolls_back_its_wave_or_continues_with_the_waves_it_did_not_start(
    served: RunningServer, fleet: SimulatedFleet
) -> None:
    async with served.client(headers={'Authorization': f'Bearer {API_TOKEN}'}) as api:
        body = {'pipeline': 'do-all', 'hosts': HOSTS, 'waves': '1,3,rest'}
        run_id = (await api.post('/api/dispatch/pipeline', json=body)).json()['pipeline']['id']
        assert (await served.dashboard.ops.pipelines.wait(run_id)).status is P.HALTED
        switched = {h: len(fleet.hosts[h].system.switched) for h in HOSTS}

        # roll back the failed wave: its hosts that switched and were not rolled back by the gate already
        rolled = await api.post(f'/api/pipelines/{run_id}/rollback-wave')
        assert rolled.status_code == 200, rolled.text
        assert {r['host_id'] for r in rolled.json()['results'] if r['status'] == 'started'} == {'sim-02', 'sim-04'}
        for result in rolled.json()['results']:
            await served.dashboard.ops.lifecycle.wait_terminal(result['command_id'])
        assert {h: len(fleet.hosts[h].system.switched) for h in ('sim-02', 'sim-03', 'sim-04')} == {
            'sim-02': switched['sim-02'] - 1,
            'sim-03': switched['sim-03'],  # already back on its previous generation
            'sim-04': switched['sim-04'] - 1,
        }

        # continue: a new run of the waves it never started, with the same gate and policy
        again = await api.post(f'/api/pipelines/{run_id}/continue')
        assert again.status_code == 200, again.text
        view = again.json()['pipeline']
        assert (view['hosts'], view['waves'], view['retry_of']) == (HOSTS[4:], [HOSTS[4:]], run_id)
        assert view['options']['on_failure'] == 'rollback-and-halt'
        assert (await served.dashboard.ops.pipelines.wait(view['id'])).status is P.COMPLETE

        refused = await api.post(f'/api/pipelines/{view["id"]}/continue')  # it did not halt
        assert refused.status_code == 409 and 'only a halted rollout continues' in refused.text

    # the CLI says the same: nothing of the failed wave is left to roll back now
    code, out, err = await nixfleet(LiveFleet(served, fleet), 'pipeline', 'rollback-wave', run_id)
    assert (code, out) == (1, ''), out + err
    assert 'no host of the failed wave has a new generation to undo' in err
