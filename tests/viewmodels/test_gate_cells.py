"""The Pipelines grid of a rollout (issue 19): each host's wave, and a gate column that says whether its wave's gate
is waiting, soaking, passed, or failed — with the cause and whether the host was rolled back."""

from __future__ import annotations

from typing import Any

from nixfleet.viewmodels.pipeline_cells import gate_view, gated, run_label, wave_of

WAVES = [['a'], ['b', 'c'], ['d', 'e']]


def rollout(**gates: dict[str, Any]) -> dict[str, Any]:
    hosts = [h for wave in WAVES for h in wave]
    return {'hosts': hosts, 'waves': WAVES, 'gates': gates, 'options': {'on_failure': 'rollback-and-halt'}}


def test_each_host_shows_its_wave_only_when_the_run_has_several() -> None:
    run = rollout()
    assert [wave_of(run, h) for h in ('a', 'b', 'e')] == [0, 1, 2]
    assert wave_of({'hosts': ['a'], 'waves': [['a']]}, 'a') is None
    assert gated(run) and not gated({'options': {'max_parallel': 2}})


def test_the_gate_cell_follows_its_waves_gate() -> None:
    run = rollout(
        **{
            '0': {'state': 'passed', 'failed': {}, 'rolled_back': {}},
            '1': {
                'state': 'failed',
                'failed': {'c': 'test failed (T05 FAIL)'},
                'rolled_back': {'c': 'SUCCESS'},
            },
        }
    )
    views = {h: gate_view(run, h) for h in ('a', 'b', 'c', 'd')}
    assert {h: (v.tone, v.words) for h, v in views.items()} == {
        'a': ('ok', 'passed'),
        'b': ('ok', 'passed'),  # its wave failed, not this host
        'c': ('fail', 'rolled back'),
        'd': ('none', 'waiting'),  # wave 3 has not started yet
    }
    assert views['c'].cause == 'test failed (T05 FAIL)'
    assert gate_view({**run, 'status': 'HALTED'}, 'd').words == 'not reached'  # the halted run never will
    assert views['c'].label == 'c, gate of wave 2: rolled back — test failed (T05 FAIL)'


def test_a_soaking_wave_and_a_rollback_that_failed_say_so() -> None:
    soaking = rollout(**{'0': {'state': 'checking', 'soak_until': '2026-12-08T03:00:00Z'}})
    assert (gate_view(soaking, 'a').tone, gate_view(soaking, 'a').words) == ('running', 'soaking')
    failed = rollout(**{'0': {'state': 'failed', 'failed': {'a': 'disconnected during the soak'},
                              'rolled_back': {'a': 'ERROR'}}})  # fmt: skip
    view = gate_view(failed, 'a')
    assert (view.tone, view.words, view.cause) == ('fail', 'failed', 'disconnected during the soak; rollback error')


def test_the_status_badge_of_a_running_rollout_says_its_wave() -> None:
    run = {'status': 'RUNNING', 'ops': ['pull', 'switch', 'test'], 'current_stage': 1}
    assert run_label(run) == 'running · stage 2/3'
    assert run_label({**run, 'waves': WAVES, 'current_wave': 1}) == 'running · wave 2/3 · stage 2'
    assert run_label({**run, 'waves': WAVES, 'cancel_requested': True}) == 'cancelling…'
    assert run_label({**run, 'status': 'HALTED'}) == 'halted'
