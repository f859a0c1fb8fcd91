"""Pipelines (SPEC §6): ordered ops on many hosts with `&&` semantics, executed on the server.

Each run is an asyncio task (kept referenced). Stage k runs op k on every still-active host (at most `max_parallel`
at a time) and waits for each command's TERMINAL state; hosts that did not end SUCCESS/PARTIAL leave the run and
their later stages are journaled SKIPPED. The journal is the truth: every (stage, host) has exactly one command
row linked by `pipeline_id`, so a run resumed after a restart replays its stages from those rows and only starts
what has no row yet — a finished stage is never run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nixfleet.models import CommandStatus, ErrorCode, EventCategory, EventLevel, PipelineStatus
from nixfleet.ops.commands import SUCCEEDED, new_id
from nixfleet.ops.dispatch import Dispatcher, DispatchError, unique
from nixfleet.ops.pipeline_store import PipelineRun, load_records, save_run
from nixfleet.ops.registry import OPS, Scope

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineDef:
    """A named sequence of ops."""

    id: str
    ops: tuple[str, ...]
    description: str


PIPELINES: dict[str, PipelineDef] = {
    p.id: p
    for p in (
        PipelineDef('do-all', ('pull', 'switch', 'test'), 'Full update cycle'),
        PipelineDef('merge-deploy', ('merge-pr', 'pull', 'switch', 'test'), 'Merge the flake-update PR, then deploy'),
        PipelineDef('update-agent', ('bump-flake', 'pull', 'switch', 'restart'), 'Update the agent to the latest'),
        PipelineDef('force-update', ('force-rebuild', 'restart'), 'Force a rebuild with cache bypass'),
    )
}


@dataclass(slots=True, kw_only=True)
class PipelineOptions:
    """Per-run options beyond the upstream: parallelism, failure threshold, force."""

    max_parallel: int | None = None
    stop_on_failure_pct: float | None = None
    force: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {'max_parallel': self.max_parallel, 'stop_on_failure_pct': self.stop_on_failure_pct, 'force': self.force}


@dataclass(slots=True)
class _Stage:
    outcomes: dict[str | None, CommandStatus] = field(default_factory=dict)


class PipelineRunner:
    """Start, run, resume, cancel and retry pipeline runs."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.lc = dispatcher.lc
        self.runs: dict[str, PipelineRun] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- public API ----------------------------------------------------------------------------------------------
    async def start(
        self,
        name: str,
        hosts: Iterable[str],
        *,
        actor: str = 'user',
        totp: str | None = None,
        options: PipelineOptions | None = None,
        retry_of: str | None = None,
    ) -> PipelineRun:
        """Validate and start a run; refuses when any target host is unknown or busy."""
        definition = PIPELINES.get(name)
        if definition is None:
            raise DispatchError(ErrorCode.UNKNOWN_PIPELINE, f'there is no pipeline {name!r}')
        targets = unique(hosts)
        if not targets:
            raise DispatchError(ErrorCode.INVALID_REQUEST, 'no hosts given')
        if unknown := [h for h in targets if h not in self.lc.hosts.rows]:
            raise DispatchError(ErrorCode.UNKNOWN_HOST, f'unknown hosts: {", ".join(unknown)}')
        if busy := [h for h in targets if self.lc.active_for(h) is not None]:
            raise DispatchError(ErrorCode.COMMAND_PENDING, f'busy hosts: {", ".join(busy)}')
        self.dispatcher.check_totp([OPS[op] for op in definition.ops], totp)
        now = self.lc.clock()
        run = PipelineRun(
            id=new_id(now, 'p'),
            name=name,
            ops=list(definition.ops),
            hosts=targets,
            actor=actor,
            created_at=now,
            options=(options or PipelineOptions()).to_json(),
            retry_of=retry_of,
        )
        await self._save(run)
        await self.lc.events.record(
            f'pipeline:{name}',
            f'pipeline {name} started on {len(targets)} hosts' + (f' (retry of {retry_of})' if retry_of else ''),
            category=EventCategory.AUDIT,
            actor=actor,
            details={'pipeline_id': run.id, 'hosts': targets},
        )
        self._launch(run)
        return run

    async def cancel(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Cancel a running run: running commands finish, pending stages become CANCELLED."""
        run = self.runs.get(pipeline_id)
        if run is None or run.status is not PipelineStatus.RUNNING:
            raise DispatchError(ErrorCode.INVALID_STATE, f'pipeline {pipeline_id} is not running')
        run.cancel_requested = True
        await self._save(run)
        await self.lc.events.record(
            f'pipeline:{run.name}',
            f'pipeline {run.name} cancelled by {actor}',
            category=EventCategory.AUDIT,
            actor=actor,
            details={'pipeline_id': run.id},
        )
        return run

    async def retry_failed(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Start a new run of the same pipeline and options on exactly the hosts that failed."""
        run = self.runs.get(pipeline_id) or await self.load_one(pipeline_id)
        if run is None:
            raise DispatchError(ErrorCode.UNKNOWN_PIPELINE, f'there is no pipeline run {pipeline_id}')
        if run.status is PipelineStatus.RUNNING:
            raise DispatchError(ErrorCode.INVALID_STATE, 'the run is still going; retry when it has ended')
        failed = [h for h in run.hosts if run.host_state.get(h, {}).get('state') == 'failed']
        if not failed:
            raise DispatchError(ErrorCode.INVALID_STATE, 'no host failed in this run')
        opts = PipelineOptions(**run.options)
        return await self.start(run.name, failed, actor=actor, options=opts, retry_of=run.id)

    async def wait(self, pipeline_id: str) -> PipelineRun:
        """Wait for a run's task to end (tests, CLI)."""
        if (task := self._tasks.get(pipeline_id)) is not None:
            await asyncio.shield(task)
        return self.runs[pipeline_id]

    async def load_one(self, pipeline_id: str) -> PipelineRun | None:
        """A run from the journal."""
        from nixfleet.ops.pipeline_store import get_run

        return await self.lc.store.read(lambda db: get_run(db, pipeline_id))

    # -- running -------------------------------------------------------------------------------------------------
    def _launch(self, run: PipelineRun) -> None:
        self.runs[run.id] = run
        task = asyncio.get_running_loop().create_task(self._run(run), name=f'pipeline-{run.id}')
        self._tasks[run.id] = task
        task.add_done_callback(lambda _t, rid=run.id: self._tasks.pop(rid, None))

    def resume(self, runs: Iterable[PipelineRun]) -> None:
        """Continue RUNNING runs loaded from the journal (their in-flight commands reconcile via the lifecycle)."""
        for run in runs:
            log.info('resuming pipeline %s (%s) at stage %d', run.id, run.name, run.current_stage)
            self._launch(run)

    async def stop(self) -> None:
        """Stop the tasks (the runs stay RUNNING in the journal and resume at the next start)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, run: PipelineRun) -> None:
        try:
            records = await self.lc.store.read(lambda db: load_records(db, run.id))
            # Replay from stage 0: stages with journal records are only read back, never run again.
            run.host_state = {h: {'state': 'active'} for h in run.hosts}
            halted, next_stage = False, 0
            for k, op_id in enumerate(run.ops):
                survivors = [h for h in run.hosts if run.host_state[h]['state'] == 'active']
                if not survivors or halted:
                    break
                if run.cancel_requested and not any((k, h) in records for h in [*survivors, None]):
                    break
                next_stage = k + 1
                if run.current_stage != k:
                    run.current_stage = k
                    await self._save(run)
                stage = await self._stage(run, k, op_id, survivors, records)
                failed = [h for h in survivors if stage.outcomes[h] not in SUCCEEDED]
                for host in failed:
                    cancelled = stage.outcomes[host] is CommandStatus.CANCELLED and run.cancel_requested
                    run.host_state[host] = {'state': 'cancelled' if cancelled else 'failed', 'stage': k}
                    if cancelled:
                        await self._fill(run, host, k + 1, CommandStatus.CANCELLED, 'pipeline cancelled', records)
                    else:
                        reason = f'left the pipeline at {op_id}'
                        await self._fill(run, host, k + 1, CommandStatus.SKIPPED, reason, records)
                pct = run.options.get('stop_on_failure_pct')
                if pct is not None and failed and 100.0 * len(failed) / len(survivors) > pct:
                    halted = True
                    run.message = f'halted: {len(failed)} of {len(survivors)} hosts failed {op_id} (limit {pct:g} %)'
                await self._save(run)
            await self._finish(run, halted, next_stage, records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception('pipeline %s failed', run.id)
            run.status, run.message = PipelineStatus.FAILED, f'internal error: {exc}'
            run.finished_at = self.lc.clock()
            await self._save(run)

    async def _stage(
        self,
        run: PipelineRun,
        k: int,
        op_id: str,
        hosts: list[str],
        records: dict[tuple[int, str | None], tuple[str, str]],
    ) -> _Stage:
        op = OPS[op_id]
        stage = _Stage()
        if op.scope is Scope.FLEET:
            status = await self._one(run, k, op_id, None, records, asyncio.Semaphore(1))
            stage.outcomes = dict.fromkeys(hosts, status)
            return stage
        limit = run.options.get('max_parallel') or len(hosts)
        gate = asyncio.Semaphore(max(1, int(limit)))
        statuses = await asyncio.gather(*(self._one(run, k, op_id, h, records, gate) for h in hosts))
        stage.outcomes = dict(zip(hosts, statuses, strict=True))
        return stage

    async def _one(
        self,
        run: PipelineRun,
        k: int,
        op_id: str,
        host: str | None,
        records: dict[tuple[int, str | None], tuple[str, str]],
        gate: asyncio.Semaphore,
    ) -> CommandStatus:
        if (k, host) in records:
            command_id = records[(k, host)][0]
        else:
            async with gate:
                if run.cancel_requested:
                    await self._fill(run, host, k, CommandStatus.CANCELLED, 'pipeline cancelled', records, only=k)
                    return CommandStatus.CANCELLED
                _, cmd = await self.dispatcher.start(
                    OPS[op_id],
                    host,
                    force=bool(run.options.get('force')),
                    actor=run.actor,
                    pipeline_id=run.id,
                    stage=k,
                )
                if cmd is None:  # the host was removed meanwhile
                    return CommandStatus.BLOCKED
                records[(k, host)] = (cmd.id, cmd.status.value)
                command_id = cmd.id
                cmd = await self.lc.wait_terminal(command_id)
                run.cells[f'{k}:{host or "*"}'] = cmd.status.value
                return cmd.status
        cmd = await self.lc.wait_terminal(command_id)
        run.cells[f'{k}:{host or "*"}'] = cmd.status.value
        return cmd.status

    async def _fill(
        self,
        run: PipelineRun,
        host: str | None,
        first: int,
        status: CommandStatus,
        reason: str,
        records: dict[tuple[int, str | None], tuple[str, str]],
        only: int | None = None,
    ) -> None:
        """Journal SKIPPED/CANCELLED records for the host's stages from `first` on (each at most once)."""
        last = only if only is not None else len(run.ops) - 1
        for k in range(first, last + 1):
            op = OPS[run.ops[k]]
            key = (k, None if op.scope is Scope.FLEET else host)
            if key in records:
                continue
            cmd = self.lc.new_command(
                op.id, key[1], run.actor, agent_command=op.agent_command, pipeline_id=run.id, stage=k
            )
            await self.lc.record_ended(cmd, status, code=None, message=reason)
            records[key] = (cmd.id, status.value)
            run.cells[f'{k}:{key[1] or "*"}'] = status.value

    async def _finish(
        self, run: PipelineRun, halted: bool, next_stage: int, records: dict[tuple[int, str | None], tuple[str, str]]
    ) -> None:
        for host in run.hosts:
            if run.host_state[host]['state'] == 'active':
                if run.cancel_requested or halted:
                    reason = 'pipeline cancelled' if run.cancel_requested else 'pipeline halted'
                    status = CommandStatus.CANCELLED if run.cancel_requested else CommandStatus.SKIPPED
                    await self._fill(run, host, next_stage, status, reason, records)
                    run.host_state[host] = {'state': 'cancelled' if run.cancel_requested else 'halted'}
                else:
                    run.host_state[host] = {'state': 'done'}
        done = sum(1 for h in run.hosts if run.host_state[h]['state'] == 'done')
        if run.cancel_requested:
            run.status = PipelineStatus.CANCELLED
        elif done == len(run.hosts):
            run.status = PipelineStatus.COMPLETE
        else:
            run.status = PipelineStatus.PARTIAL if done else PipelineStatus.FAILED
        run.finished_at = self.lc.clock()
        await self._save(run)
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

    async def _save(self, run: PipelineRun) -> None:
        await self.lc.store.write(save_run(run))
        from nixfleet.streams.changes import Change, ChangeType

        self.lc.stream.emit(Change(ChangeType.PIPELINE_UPDATED, id=run.id, payload=run.view()))
