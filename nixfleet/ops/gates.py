"""The gate after each wave of a rollout (nixfleet.ops.rollout): soak, then roll back and halt as the policy says.

A host passes its wave's gate when every stage of the pipeline passed on it and it stayed connected through the
soak. A host that failed after its switch activated a new generation (the switch SUCCESS or PARTIAL, a later stage or
the soak failed) is rolled back with the `rollback` op, journaled under the run as its rollback stage (stage index
`len(ops)`), so a run resumed after a restart waits for that command instead of sending a second one. A host whose
switch did not activate anything is never rolled back: `rollback` goes one generation back from what runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nixfleet.causes import cell_of, detail
from nixfleet.models import CommandStatus, EventLevel
from nixfleet.ops.registry import OPS, Completion
from nixfleet.ops.rollout import Rollout
from nixfleet.timeutil import iso, parse_iso

if TYPE_CHECKING:
    from nixfleet.ops.pipeline_store import PipelineRun
    from nixfleet.ops.stages import RunExecution

log = logging.getLogger(__name__)

#: The actor of the rollback commands a gate sends (History shows who started a command).
GATE_ACTOR = 'rollout-gate'
#: How often a soak looks at the clock (the dashboard's, virtual in tests).
SOAK_TICK = 0.25
#: What a wave's `rolled_back` says of a host whose rollback a user asked for after the run halted.
REQUESTED = 'REQUESTED'
#: Switch statuses after which a new generation is active.
_ACTIVATED = frozenset({CommandStatus.SUCCESS.value, CommandStatus.PARTIAL.value})


class WaveGate:
    """Checks each wave of one run once its stages ended; journals the outcome in the run (`run.gates`)."""

    def __init__(self, execution: RunExecution, plan: Rollout) -> None:
        self.ex = execution
        self.plan = plan
        self.run = execution.run

    @property
    def rollback_stage(self) -> int:
        """The stage index of a host's gate rollback in the run's command records."""
        return len(self.run.ops)

    @property
    def test_stage(self) -> int:
        """The stage index of a host's gate test (`gate: test` on a pipeline without a test stage)."""
        return len(self.run.ops) + 1

    async def check(self, wave_index: int, wave: list[str]) -> bool:
        """Soak and judge one wave; roll back what failed; whether the run must halt before the next wave."""
        run = self.run
        gate = run.gates.setdefault(str(wave_index), {'hosts': wave, 'state': 'checking'})
        passed = [h for h in wave if run.host_state[h]['state'] == 'active']
        if self.plan.test and 'test' not in run.ops and passed:
            tested = await asyncio.gather(*(self._test(h) for h in passed if activated(run, h)))
            for host, ok in tested:
                if not ok:
                    run.host_state[host] = {'state': 'failed', 'stage': len(run.ops) - 1, 'gate': 'test'}
            passed = [h for h in passed if run.host_state[h]['state'] == 'active']
        if self.plan.soak > 0 and passed:
            for host in await self._soak(gate, passed):
                run.host_state[host] = {'state': 'failed', 'stage': len(run.ops) - 1, 'gate': 'disconnected'}
        failed = [h for h in wave if run.host_state[h]['state'] == 'failed']
        reasons = {h: self._reason(h) for h in failed}
        rolled: dict[str, str] = {}
        if failed and self.plan.policy.rolls_back:
            targets = [h for h in failed if activated(run, h)]
            statuses = await asyncio.gather(*(self._roll_back(h) for h in targets))
            rolled = dict(zip(targets, statuses, strict=True))
        gate.update(state='failed' if failed else 'passed', failed=reasons, rolled_back=rolled)
        if not failed:
            await self.ex.save(run)
            return False
        text = _summary(wave_index, reasons, rolled)
        halts = self.plan.policy.halts and wave_index < len(self.plan.waves) - 1
        if halts:
            run.message = f'halted: {text}'
        await self.ex.save(run)
        await self.ex.lc.events.record(
            f'pipeline:{run.name}',
            f'pipeline {run.name}: {text}' + ('; the next waves do not start' if halts else ''),
            level=EventLevel.ERROR,
            details={'pipeline_id': run.id, 'wave': wave_index + 1, 'failed': reasons, 'rolled_back': rolled},
        )
        return halts  # the last wave has no next one to hold back

    async def _soak(self, gate: dict[str, Any], hosts: list[str]) -> list[str]:
        """Wait out the soak (from where it stood after a restart); the hosts that disconnected meanwhile."""
        lc = self.ex.lc
        until = parse_iso(gate.get('soak_until'))
        if until is None:
            until = lc.clock() + self.plan.soak
            gate['soak_until'] = iso(until)
            await self.ex.save(self.run)
        drops = {h: lc.hosts.disconnects[h] for h in hosts}
        # the dashboard's clock (virtual in tests) announces nothing, so the soak looks at it every SOAK_TICK
        while (left := until - lc.clock()) > 0 and not self.run.cancel_requested:  # noqa: ASYNC110
            await asyncio.sleep(min(SOAK_TICK, left))
        back = await asyncio.gather(*(self._back(h) for h in hosts))
        return [h for h, ok in zip(hosts, back, strict=True) if lc.hosts.disconnects[h] != drops[h] or not ok]

    async def _back(self, host: str) -> bool:
        """Whether the host is online at the end of its soak. After a dashboard restart (a resumed run) every link
        dropped with the dashboard, not because of the host: one not back yet gets until the run's re-adoption deadline
        (`hosts_back_by`) to register again."""
        hosts, back_by = self.ex.lc.hosts, self.ex.hosts_back_by
        return hosts.is_online(host) or (back_by is not None and await hosts.wait_online(host, back_by))

    def _reason(self, host: str) -> str:
        """Why the host failed its gate, in a few words."""
        state = self.run.host_state[host]
        if state.get('gate') == 'disconnected':
            return 'disconnected during the soak'
        if state.get('gate') == 'test':
            cell = self.run.cells.get(f'{self.test_stage}:{host}') or {}
            why = detail(cell) if cell else ''
            return 'gate test failed' + (f' ({why})' if why else '')
        stage = int(state.get('stage', 0))
        cell = self.run.cells.get(f'{stage}:{host}') or {}
        why = detail(cell) if cell else ''
        return f'{self.run.ops[stage]} failed' + (f' ({why})' if why else '')

    async def _test(self, host: str) -> tuple[str, bool]:
        """Run (or, resumed, wait for) the host's gate test; whether it passed."""
        status = await self._gate_command('test', host, self.test_stage)
        return host, status == CommandStatus.SUCCESS.value

    async def _roll_back(self, host: str) -> str:
        """Send (or, resumed, wait for) the host's gate rollback; its terminal status."""
        status = await self._gate_command('rollback', host, self.rollback_stage)
        log.info('pipeline %s: %s rolled back by its gate: %s', self.run.id, host, status)
        return status

    async def _gate_command(self, op: str, host: str, k: int) -> str:
        """A command of the gate, journaled under the run at stage `k`: sent once, waited for after a restart."""
        ex = self.ex
        record = ex.records.get((k, host))
        if record is not None:
            cmd = await ex.lc.wait_terminal(record[0])
        else:
            _, started = await ex.dispatcher.start(OPS[op], host, actor=GATE_ACTOR, pipeline_id=self.run.id, stage=k)
            if started is None:  # the host was removed meanwhile
                return CommandStatus.CANCELLED.value
            ex.records[(k, host)] = (started.id, started.status.value)
            cmd = await ex.lc.wait_terminal(started.id)
        self.run.cells[f'{k}:{host}'] = cell_of(cmd.view())
        return cmd.status.value


def activated(run: PipelineRun, host: str) -> bool:
    """Whether a switch-like stage of the run activated a new generation on the host."""
    return any(
        OPS[op].completion is Completion.SWITCH and (run.cells.get(f'{k}:{host}') or {}).get('status') in _ACTIVATED
        for k, op in enumerate(run.ops)
    )


def failed_wave(run: PipelineRun) -> tuple[int, dict[str, Any]] | None:
    """The wave whose gate failed last (its index and gate), or None."""
    failed = [(int(w), gate) for w, gate in run.gates.items() if gate.get('state') == 'failed']
    return max(failed, key=lambda item: item[0]) if failed else None


def waves_left(waves: list[list[str]], host_state: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """The waves of a halted run that never started (every host of them `halted`), from the run or its view."""
    return [w for w in waves if all((host_state.get(h) or {}).get('state') == 'halted' for h in w)]


def _summary(wave_index: int, reasons: dict[str, str], rolled: dict[str, str]) -> str:
    failed = '; '.join(f'{host}: {why}' for host, why in reasons.items())
    text = f'wave {wave_index + 1} failed its gate ({failed})'
    if rolled:
        outcome = ', '.join(h if s == CommandStatus.SUCCESS.value else f'{h} ({s.lower()})' for h, s in rolled.items())
        text += f'; rolled back {outcome}'
    return text
