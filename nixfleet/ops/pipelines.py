"""Pipelines (docs/architecture.md#pipelines): ordered ops on many hosts with `&&` semantics, executed on the server.

The four pipeline definitions, and the runner that starts, cancels, retries and resumes runs. Each run executes
as an asyncio task (kept referenced) of a `RunExecution` (stages.py), which runs its stages from the journal on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from nixfleet.events import EventEntry, with_event
from nixfleet.journal.records import get_run
from nixfleet.models import ErrorCode, EventCategory, PipelineStatus
from nixfleet.ops.commands import new_id
from nixfleet.ops.dispatch import Dispatcher, DispatchError, DispatchResult, unique
from nixfleet.ops.gates import REQUESTED, activated, failed_wave, waves_left
from nixfleet.ops.pipeline_store import PipelineRun, save_run
from nixfleet.ops.registry import OPS
from nixfleet.ops.rollout import RolloutError, resolve_waves, rollout_options
from nixfleet.ops.stages import RunExecution
from nixfleet.streams.changes import Change, ChangeType

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
    """Per-run options beyond the upstream: parallelism, failure threshold, force, and a rollout's waves, soak and
    failure policy (nixfleet.ops.rollout; `waves` is the spec, resolved over the run's hosts when it starts)."""

    max_parallel: int | None = None
    stop_on_failure_pct: float | None = None
    force: bool = False
    waves: str | None = None
    on_failure: str | None = None
    soak: float | None = None
    gate: str | None = None

    def to_json(self, hosts: list[str]) -> dict[str, Any]:
        """JSON form, as the run journals it (raises `RolloutError` for unusable rollout options)."""
        return {
            'max_parallel': self.max_parallel,
            'stop_on_failure_pct': self.stop_on_failure_pct,
            'force': self.force,
            **rollout_options(hosts, waves=self.waves, on_failure=self.on_failure, soak=self.soak, gate=self.gate),
        }

    @classmethod
    def of_run(cls, options: dict[str, Any]) -> PipelineOptions:
        """The options a run was started with (to start another run like it)."""
        return cls(
            max_parallel=options.get('max_parallel'),
            stop_on_failure_pct=options.get('stop_on_failure_pct'),
            force=bool(options.get('force')),
            waves=options.get('wave_spec'),
            on_failure=options.get('on_failure'),
            soak=options.get('soak'),
            gate=options.get('gate'),
        )


class PipelineRunner:
    """Start, run, resume, cancel and retry pipeline runs."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.lc = dispatcher.lc
        #: The runs whose task is going (resumed runs included); a run leaves when its task ends.
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
        try:
            journaled = (options or PipelineOptions()).to_json(targets)
        except RolloutError as exc:
            raise DispatchError(exc.code, str(exc)) from None
        now = self.lc.clock()
        run = PipelineRun(
            id=new_id(now, 'p'),
            name=name,
            ops=list(definition.ops),
            hosts=targets,
            actor=actor,
            created_at=now,
            options=journaled,
            retry_of=retry_of,
        )
        started = self.lc.events.entry(
            f'pipeline:{name}',
            f'pipeline {name} started on {len(targets)} hosts' + (f' (retry of {retry_of})' if retry_of else ''),
            category=EventCategory.AUDIT,
            actor=actor,
            details={'pipeline_id': run.id, 'hosts': targets},
        )
        await self._save(run, started)  # the run and its "started" event commit together: never one without the other
        self._launch(run)
        return run

    async def cancel(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Cancel a running run: running commands finish, pending stages become CANCELLED."""
        run = self.runs.get(pipeline_id)
        if run is None or run.status is not PipelineStatus.RUNNING:
            raise DispatchError(ErrorCode.INVALID_STATE, f'pipeline {pipeline_id} is not running')
        run.cancel_requested = True
        await self._save(run)
        await self._audit(run, f'pipeline {run.name} cancelled by {actor}', actor)
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
        opts = PipelineOptions.of_run(run.options)
        if opts.waves:
            try:
                resolve_waves(opts.waves, failed)
            except RolloutError:
                opts.waves = None  # its waves name hosts that did not fail: one wave of the failed, still gated
        return await self.start(run.name, failed, actor=actor, options=opts, retry_of=run.id)

    async def continue_halted(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Start a new run of a halted rollout's waves that never started (same pipeline, gates and policy)."""
        run = await self._ended(pipeline_id, PipelineStatus.HALTED, 'only a halted rollout continues')
        left = waves_left(run.options.get('waves') or [run.hosts], run.host_state)
        if not left:
            raise DispatchError(ErrorCode.INVALID_STATE, 'no wave of this run is left to start')
        opts = PipelineOptions.of_run(run.options)
        opts.waves = ','.join('+'.join(wave) for wave in left)
        hosts = [h for wave in left for h in wave]
        return await self.start(run.name, hosts, actor=actor, options=opts, retry_of=run.id)

    async def roll_back_wave(self, pipeline_id: str, actor: str = 'user') -> list[DispatchResult]:
        """Roll back the hosts of a halted rollout's failed wave that switched and were not rolled back yet."""
        run = await self._ended(pipeline_id, PipelineStatus.HALTED, 'only a halted rollout has a wave to roll back')
        found = failed_wave(run)
        gate = found[1] if found is not None else {}
        rolled = gate.setdefault('rolled_back', {})
        undone = ('SUCCESS', REQUESTED)  # a rollback sent twice would go one more generation back
        hosts = [h for h in gate.get('hosts') or [] if rolled.get(h) not in undone and activated(run, h)]
        if not hosts:
            raise DispatchError(ErrorCode.INVALID_STATE, 'no host of the failed wave has a new generation to undo')
        results = await self.dispatcher.dispatch('rollback', hosts, actor=actor)
        rolled.update({str(r.host): REQUESTED for r in results if r.started})
        await self._save(run)
        text = f'{actor} rolled back wave {found[0] + 1 if found else "?"} of pipeline {run.name}: {", ".join(hosts)}'
        await self._audit(run, text, actor, hosts)
        return results

    async def _audit(self, run: PipelineRun, text: str, actor: str, hosts: list[str] | None = None) -> None:
        """Journal a user's action on a run (an audit event linked to the run)."""
        details: dict[str, Any] = {'pipeline_id': run.id, **({'hosts': hosts} if hosts else {})}
        await self.lc.events.record(
            f'pipeline:{run.name}', text, category=EventCategory.AUDIT, actor=actor, details=details
        )

    async def _ended(self, pipeline_id: str, status: PipelineStatus, refusal: str) -> PipelineRun:
        run = self.runs.get(pipeline_id) or await self.load_one(pipeline_id)
        if run is None:
            raise DispatchError(ErrorCode.UNKNOWN_PIPELINE, f'there is no pipeline run {pipeline_id}')
        if run.status is not status:
            raise DispatchError(ErrorCode.INVALID_STATE, f'{refusal} (this one is {run.status.value})')
        return run

    async def wait(self, pipeline_id: str) -> PipelineRun:
        """Wait for a run's task to end and return the run (tests, CLI)."""
        run = self.runs.get(pipeline_id)
        if (task := self._tasks.get(pipeline_id)) is not None:
            await asyncio.shield(task)
        found = run or await self.load_one(pipeline_id)
        if found is None:
            raise DispatchError(ErrorCode.UNKNOWN_PIPELINE, f'there is no pipeline run {pipeline_id}')
        return found

    async def load_one(self, pipeline_id: str) -> PipelineRun | None:
        """A run from the journal."""
        return await self.lc.store.read(lambda db: get_run(db, pipeline_id))

    # -- running -------------------------------------------------------------------------------------------------
    def _launch(self, run: PipelineRun, hosts_back_by: float | None = None) -> None:
        self.runs[run.id] = run
        execution = RunExecution(run, self.dispatcher, self._save, hosts_back_by)
        task = asyncio.get_running_loop().create_task(execution.execute(), name=f'pipeline-{run.id}')
        self._tasks[run.id] = task
        task.add_done_callback(partial(self._forget, run.id))

    def _forget(self, run_id: str, _task: asyncio.Task[None]) -> None:
        """Drop an ended task and its run: a finished run lives in the journal (and the live state for a while)."""
        self._tasks.pop(run_id, None)
        self.runs.pop(run_id, None)

    def resume(self, runs: Iterable[PipelineRun], hosts_back_by: float) -> None:
        """Continue RUNNING runs loaded from the journal (their in-flight commands reconcile via the lifecycle);
        new stage work for a host that is not back yet waits for it until `hosts_back_by`
        (docs/architecture.md#pipelines)."""
        for run in runs:
            log.info('resuming pipeline %s (%s) at stage %d', run.id, run.name, run.current_stage)
            self._launch(run, hosts_back_by)

    async def stop(self) -> None:
        """Stop the tasks (the runs stay RUNNING in the journal and resume at the next start)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _save(self, run: PipelineRun, event: EventEntry | None = None) -> None:
        await self.lc.store.write(with_event(save_run(run), event))
        self.lc.stream.emit(Change(ChangeType.PIPELINE_UPDATED, id=run.id, payload=run.view()))
        if event is not None:
            self.lc.events.publish(event)
