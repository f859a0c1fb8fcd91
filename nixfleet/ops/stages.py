"""Executing one pipeline run stage by stage (docs/architecture.md#pipelines), from its journal records on.

Stage k runs op k on every still-active host (at most `max_parallel` at a time) and waits for each command's
TERMINAL state; hosts that did not end SUCCESS/PARTIAL leave the run and their later stages are journaled SKIPPED.
A stage whose goal already holds on a host (its op refuses with `already_current`) is satisfied: journaled SKIPPED
`already_current`, and the host goes on to its next stage.
The journal is the truth: every (stage, host) has exactly one command row linked by `pipeline_id`, so a run resumed
after a restart replays its stages from those rows and only starts what has no row yet — a finished stage is never
run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nixfleet.causes import cell_of
from nixfleet.journal.records import run_records
from nixfleet.models import CommandStatus, EventLevel, PipelineStatus
from nixfleet.ops.commands import Command, satisfied
from nixfleet.ops.dispatch import Dispatcher
from nixfleet.ops.gates import WaveGate
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.ops.registry import OPS, Scope
from nixfleet.ops.rollout import Rollout
from nixfleet.ops.tracking import ORPHANED_BACK_IDLE

log = logging.getLogger(__name__)

#: (stage, host) → (command id, status) of a run's journaled commands; host None for fleet-wide stages.
Records = dict[tuple[int, str | None], tuple[str, str]]
#: How one stage ended on one host: the command's terminal status and its code.
Outcome = tuple[CommandStatus, str | None]


class RunExecution:
    """Run the stages of one pipeline run to its end; `save` journals and publishes the run."""

    def __init__(
        self,
        run: PipelineRun,
        dispatcher: Dispatcher,
        save: Callable[[PipelineRun], Awaitable[None]],
        hosts_back_by: float | None = None,
    ):
        self.run = run
        self.dispatcher = dispatcher
        self.lc = dispatcher.lc
        self.save = save
        self.records: Records = {}
        #: Resumed after a restart: until then, new work for a host waits for it to come back (not refused offline).
        self.hosts_back_by = hosts_back_by
        #: Commands cut off by the restart that this execution ran again (each at most once).
        self._rerun: set[str] = set()
        #: Whether the run rolls out with gates (waves, a soak or a failure policy): a halt then ends it HALTED.
        self.rollout = False

    async def execute(self) -> None:
        """Replay and run every wave's stages (one wave of every host unless the run rolls out in waves), gate each
        wave of a rollout, then record how the run ended (FAILED with a message on an internal error)."""
        run = self.run
        try:
            self.records = await self.lc.store.read(lambda db: run_records(db, run.id))
            # Replay from stage 0: stages with journal records are only read back, never run again.
            run.host_state = {h: {'state': 'active'} for h in run.hosts}
            plan = Rollout.of(run.options, run.hosts)
            gate = WaveGate(self, plan) if plan.gated else None
            self.rollout = plan.gated
            halted = False
            for w, wave in enumerate(plan.waves):
                if halted or (run.cancel_requested and not self._began(wave)):
                    break
                if run.current_wave != w:
                    run.current_wave = w
                    await self.save(run)
                halted = await self._stages(wave)
                if gate is not None and not run.cancel_requested:
                    halted = await gate.check(w, wave) or halted
                for host in wave:  # through every stage and its gate: done, whatever the next waves do
                    if run.host_state[host]['state'] == 'active' and self._through(host):
                        run.host_state[host] = {'state': 'done'}
            await self._finish(halted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception('pipeline %s failed', run.id)
            run.status, run.message = PipelineStatus.FAILED, f'internal error: {exc}'
            run.finished_at = self.lc.clock()
            await self.save(run)

    def _through(self, host: str) -> bool:
        """Whether every stage has a command record for the host (or a fleet-wide one)."""
        return all((k, host) in self.records or (k, None) in self.records for k in range(len(self.run.ops)))

    def _began(self, hosts: list[str]) -> bool:
        """Whether any stage already has a command record for one of `hosts` (or a fleet-wide one)."""
        return any((k, h) in self.records for k in range(len(self.run.ops)) for h in [*hosts, None])

    async def _stages(self, hosts: list[str]) -> bool:
        """Run (or replay) every stage on `hosts`; whether `stop_on_failure_pct` halted the run."""
        run = self.run
        for k, op_id in enumerate(run.ops):
            survivors = [h for h in hosts if run.host_state[h]['state'] == 'active']
            if not survivors:
                return False
            if run.cancel_requested and not any((k, h) in self.records for h in [*survivors, None]):
                return False
            if run.current_stage != k:
                run.current_stage = k
                await self.save(run)
            outcomes = await self._stage(k, op_id, survivors)
            failed = [h for h in survivors if not satisfied(*outcomes[h])]
            for host in failed:
                cancelled = outcomes[host][0] is CommandStatus.CANCELLED and run.cancel_requested
                run.host_state[host] = {'state': 'cancelled' if cancelled else 'failed', 'stage': k}
                if cancelled:
                    await self._fill(host, k + 1, CommandStatus.CANCELLED, 'pipeline cancelled')
                else:
                    await self._fill(host, k + 1, CommandStatus.SKIPPED, f'left the pipeline at {op_id}')
            pct = run.options.get('stop_on_failure_pct')
            if pct is not None and failed and 100.0 * len(failed) / len(survivors) > pct:
                run.message = f'halted: {len(failed)} of {len(survivors)} hosts failed {op_id} (limit {pct:g} %)'
                await self.save(run)
                return True
            await self.save(run)
        return False

    async def _stage(self, k: int, op_id: str, hosts: list[str]) -> dict[str | None, Outcome]:
        """Run (or replay) stage k on `hosts`; how it ended on each host."""
        if OPS[op_id].scope is Scope.FLEET:
            outcome = await self._one(k, op_id, None, asyncio.Semaphore(1))
            return dict.fromkeys(hosts, outcome)
        limit = self.run.options.get('max_parallel') or len(hosts)
        gate = asyncio.Semaphore(max(1, int(limit)))
        statuses = await asyncio.gather(*(self._one(k, op_id, h, gate) for h in hosts))
        return dict(zip(hosts, statuses, strict=True))

    async def _one(self, k: int, op_id: str, host: str | None, gate: asyncio.Semaphore) -> Outcome:
        record = self.records.get((k, host))
        cmd = await self.lc.wait_terminal(record[0]) if record is not None else None
        if cmd is not None and self._lost_before_running(cmd):
            log.info('pipeline %s: %s on %s runs again (%s)', self.run.id, op_id, host, cmd.error)
            self._rerun.add(cmd.id)
            cmd = await self._start(k, op_id, host, gate) or cmd
        elif cmd is None:
            cmd = await self._start(k, op_id, host, gate)
            if cmd is None:
                return CommandStatus.CANCELLED if self.run.cancel_requested else CommandStatus.BLOCKED, None
        self.run.cells[f'{k}:{host or "*"}'] = cell_of(cmd.view())
        return cmd.status, cmd.code

    def _lost_before_running(self, cmd: Command) -> bool:
        """Whether a command of a resumed run was cut off by the dashboard's restart and may simply run again.

        A command journaled just before a `kill -9` may never have reached its agent (or its result was lost with
        the link, as the Go agent keeps none): it ends ORPHANED when the agent comes back idle without it. Decision:
        in a resumed run such a stage runs once more when its op is retryable (pull, switch, test, … —
        docs/architecture.md#ops's
        "retry" column; never rollback, restart or reboot). It is safe: a goal already reached makes the new attempt
        a satisfied `already_current`. Both commands stay in the journal; the run follows the newest.
        """
        return (
            self.hosts_back_by is not None
            and cmd.status is CommandStatus.ORPHANED
            and cmd.error == ORPHANED_BACK_IDLE
            and OPS[cmd.op].retryable
            and cmd.id not in self._rerun
        )

    async def _start(self, k: int, op_id: str, host: str | None, gate: asyncio.Semaphore) -> Command | None:
        """Dispatch stage k's op on `host` (once it is back, in a resumed run) and wait for its end; None when it was
        not started (the run was cancelled, or the host removed)."""
        run = self.run
        if host is not None and self.hosts_back_by is not None:
            await self.lc.hosts.wait_online(host, self.hosts_back_by)
        async with gate:
            if run.cancel_requested:
                await self._fill(host, k, CommandStatus.CANCELLED, 'pipeline cancelled', only=k)
                return None
            _, cmd = await self.dispatcher.start(
                OPS[op_id],
                host,
                force=bool(run.options.get('force')),
                actor=run.actor,
                pipeline_id=run.id,
                stage=k,
                lock_bumped=self._lock_bumped_before(k),
            )
            if cmd is None:  # the host was removed meanwhile
                return None
            self.records[(k, host)] = (cmd.id, cmd.status.value)
            return await self.lc.wait_terminal(cmd.id)

    def _lock_bumped_before(self, k: int) -> bool:
        """Whether a host still in the run at stage k had its flake.lock bumped by an earlier stage of this run.

        Decision (update-agent = bump-flake, pull, switch, restart): the bump is the point of the pipeline, so the
        switch that follows deploys the locally bumped lock. On a host whose Git is current the pull is satisfied
        (`already_current`) and the Lock compartment is `outdated` because of our own bump; refusing the switch
        with `lock_outdated` would fail the host and leave the bumped flake.lock behind, undeployed. A host still
        active here ran the bump successfully (it has no `already_current` refusal), so the flag needs no per-host
        check.
        """
        return 'bump-flake' in self.run.ops[:k]

    async def _fill(
        self, host: str | None, first: int, status: CommandStatus, reason: str, only: int | None = None
    ) -> None:
        """Journal SKIPPED/CANCELLED records for the host's stages from `first` on (each at most once)."""
        run = self.run
        last = only if only is not None else len(run.ops) - 1
        for k in range(first, last + 1):
            op = OPS[run.ops[k]]
            key = (k, None if op.scope is Scope.FLEET else host)
            if key in self.records:
                continue
            cmd = self.lc.new_command(
                op.id, key[1], run.actor, agent_command=op.agent_command, pipeline_id=run.id, stage=k
            )
            await self.lc.record_ended(cmd, status, code=None, message=reason)
            self.records[key] = (cmd.id, status.value)
            run.cells[f'{k}:{key[1] or "*"}'] = cell_of(cmd.view())

    async def _finish(self, halted: bool) -> None:
        run = self.run
        for host in run.hosts:
            if run.host_state[host]['state'] == 'active':
                if run.cancel_requested or halted:
                    reason = 'pipeline cancelled' if run.cancel_requested else 'pipeline halted'
                    status = CommandStatus.CANCELLED if run.cancel_requested else CommandStatus.SKIPPED
                    await self._fill(host, 0, status, reason)  # the stages it has no record of yet
                    run.host_state[host] = {'state': 'cancelled' if run.cancel_requested else 'halted'}
                else:
                    run.host_state[host] = {'state': 'done'}
        done = sum(1 for h in run.hosts if run.host_state[h]['state'] == 'done')
        if run.cancel_requested:
            run.status = PipelineStatus.CANCELLED
        elif halted and self.rollout and any(state['state'] == 'halted' for state in run.host_state.values()):
            run.status = PipelineStatus.HALTED  # hosts were left out: the run stopped, it did not just fail
        elif done == len(run.hosts):
            run.status = PipelineStatus.COMPLETE
        else:
            run.status = PipelineStatus.PARTIAL if done else PipelineStatus.FAILED
        run.finished_at = self.lc.clock()
        await self.save(run)
        level = {PipelineStatus.COMPLETE: EventLevel.SUCCESS, PipelineStatus.CANCELLED: EventLevel.INFO}.get(
            run.status, EventLevel.WARN if run.status is PipelineStatus.PARTIAL else EventLevel.ERROR
        )
        await self.lc.events.record(
            f'pipeline:{run.name}',
            f'pipeline {run.name} ended {run.status.value}: {done}/{len(run.hosts)} hosts '
            'completed' + (f' ({run.message})' if run.message else ''),
            level=level,
            details={'pipeline_id': run.id, 'host_state': run.host_state},
        )
