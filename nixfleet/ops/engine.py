"""The op engine: registry, dispatch, lifecycle, pipelines — the one surface UI, API and CLI call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from nixfleet.compartments.source import CompartmentSource, ViewCompartments
from nixfleet.config import Settings
from nixfleet.events import EventLog
from nixfleet.gateway.agents import AgentGateway
from nixfleet.hosts import HostRegistry
from nixfleet.journal.records import get_run, latest_commands, recent_commands, recent_runs, running_runs
from nixfleet.models import CommandStatus, EventLevel
from nixfleet.ops.commands import Command
from nixfleet.ops.dashboard_ops import DashboardOps
from nixfleet.ops.dispatch import Dispatcher, DispatchResult
from nixfleet.ops.lifecycle import ADOPT_WINDOW, Lifecycle
from nixfleet.ops.logs import CommandLogs, LogRead
from nixfleet.ops.pipeline_store import PipelineRun
from nixfleet.ops.pipelines import PIPELINES, PipelineOptions, PipelineRunner
from nixfleet.ops.registry import OPS, Executor, Scope
from nixfleet.ops.remote import NotConfiguredRemote, RemoteState
from nixfleet.ops.state_machine import FinishedListener
from nixfleet.ops.timeouts import TimeoutWatch
from nixfleet.ops.tracking import AgentTracker
from nixfleet.ops.validation import CheckContext
from nixfleet.security.totp import TotpGuard
from nixfleet.store import Store
from nixfleet.streams import trim
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: Finished commands and pipelines younger than this are part of the client state
#: (docs/architecture.md#live-state-bounds).
RECENT_SECONDS = trim.WINDOW


class OpEngine:
    """Build and own the op engine's parts; expose plain methods for every caller."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        stream: FleetStateStream,
        events: EventLog,
        hosts: HostRegistry,
        gateway: AgentGateway,
        clock: Clock,
        *,
        remote: RemoteState | None = None,
        compartments: CompartmentSource | None = None,
        finished_listeners: Sequence[FinishedListener] = (),
        totp: TotpGuard,
    ) -> None:
        """`remote` is the version.json / GitHub integration, `compartments` where checks read compartment statuses,
        `finished_listeners` what the lifecycle calls with every command that ended."""
        self.settings = settings
        self.clock = clock
        self.logs = CommandLogs(settings.logs_dir, stream, clock)
        self.lifecycle = Lifecycle(
            settings,
            store,
            stream,
            events,
            hosts,
            gateway,
            self.logs,
            clock,
            compartments=compartments,
            finished_listeners=finished_listeners,
        )
        self.tracker = AgentTracker(self.lifecycle)
        self.timeouts = TimeoutWatch(self.lifecycle, self.tracker)
        self.dashboard_ops = DashboardOps(self.lifecycle, remote or NotConfiguredRemote())
        self.dispatcher = Dispatcher(self.lifecycle, self.dashboard_ops, totp)
        self.pipelines = PipelineRunner(self.dispatcher)
        limits = trim.Limits(commands=settings.state_finished_commands, pipelines=settings.state_finished_pipelines)
        #: Keeps the live state bounded: finished commands and pipelines leave after an hour or beyond the limits.
        self.trimmer = trim.StateTrimmer(stream, clock, limits)
        self._loaded: list[Command] = []
        self._running: list[PipelineRun] = []
        self._resume_task: asyncio.Task[None] | None = None
        self._started_at = clock()
        hosts.derivers.append(self.derive)
        gateway.listeners.append(self.tracker)

    @property
    def remote(self) -> RemoteState:
        """The version.json / GitHub integration dashboard ops use (given at construction; tests swap in doubles)."""
        return self.dashboard_ops.remote

    @remote.setter
    def remote(self, value: RemoteState) -> None:
        self.dashboard_ops.remote = value

    # -- host view -----------------------------------------------------------------------------------------------
    def derive(self, view: dict[str, Any]) -> dict[str, Any]:
        """Derived host fields: busy-ness from the lifecycle, and the ops the host accepts right now."""
        derived = self.lifecycle.derive(view)
        if derived['busy']:
            derived['available_ops'] = []
            return derived
        # the compartment deriver ran first and put this host's compartments in the view: read them instead of
        # computing them a second time (the source would compute the same statuses from the same facts)
        source = ViewCompartments() if 'compartments' in view else self.lifecycle.compartments
        ctx = CheckContext(view, source.statuses(view), {})
        derived['available_ops'] = [
            op.id for op in OPS.values() if op.scope is Scope.HOST and op.id != 'set-color' and op.validate(ctx) is None
        ] + ['set-color']
        return derived

    # -- startup and shutdown ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Reload unfinished commands and RUNNING pipelines from the journal (blocking; before host views)."""
        self._loaded = self.lifecycle.load()
        self._running = self.lifecycle.store.read_sync(running_runs)

    def publish_loaded(self) -> None:
        """Put active and recent commands and pipelines into the state snapshot (same version), trimmed."""
        since = iso(self.clock() - RECENT_SECONDS)
        store, stream, limits = self.lifecycle.store, self.lifecycle.stream, self.trimmer.limits
        loaded = store.read_sync(lambda db: recent_commands(db, since, limits.commands))
        recent = {c.id: c.view() for c in loaded}
        recent.update({c.id: c.view() for c in self.lifecycle.active.values()})
        runs = {r.id: r.view() for r in store.read_sync(lambda db: recent_runs(db, since, limits.pipelines))}
        runs.update({r.id: r.view() for r in self._running})
        state = stream.value
        state = replace(state, commands={**state.commands, **recent}, pipelines={**state.pipelines, **runs})
        stream.replace_quietly(self.trimmer.quietly(state))

    def start(self) -> None:
        """Start output flushing and reconcile what the journal left unfinished (on the loop)."""
        self.tracker.stopping = False
        self._started_at = self.clock()
        self.logs.start()
        self.trimmer.follow()
        self._resume_task = asyncio.get_running_loop().create_task(self._resume(), name='ops-resume')

    async def _resume(self) -> None:
        lc = self.lifecycle
        for cmd in self._loaded:
            superseded = lc.active.get(cmd.key) is not cmd
            if superseded or OPS.get(cmd.op) is None or OPS[cmd.op].executor is Executor.DASHBOARD:
                await lc.finish(cmd, CommandStatus.ORPHANED, error='dashboard restarted while it ran: outcome unknown')
        if waiting := [c for c in lc.active.values() if c.recovered]:
            await lc.events.record(
                'recovery',
                f'{len(waiting)} unfinished commands reloaded; waiting up to 2 min for their agents',
                level=EventLevel.WARN,
                details={'commands': [c.id for c in waiting]},
            )
        self.pipelines.resume(self._running, hosts_back_by=self._started_at + ADOPT_WINDOW)
        self._loaded, self._running = [], []

    async def stop(self) -> None:
        """Ignore agents from now on, stop pipeline tasks (they resume at the next start), flush output."""
        self.tracker.stopping = True
        if self._resume_task is not None:
            with contextlib.suppress(Exception):
                await self._resume_task
        await self.pipelines.stop()
        await self.trimmer.stop()
        await self.logs.stop()

    async def tick(self) -> None:
        """Apply passed deadlines (scheduler job; tests call it after advancing their clock)."""
        self.lifecycle.hosts.returns.expire()
        await self.timeouts.check()

    async def sweep_offline(self) -> None:
        """Give up the commands of hosts offline too long (scheduler job, the Go dashboard's stale cleanup)."""
        await self.timeouts.give_up_offline()

    # -- the public surface (UI, API, CLI) -----------------------------------------------------------------------
    async def dispatch(
        self,
        op: str,
        hosts: Iterable[str],
        *,
        force: bool = False,
        totp: str | None = None,
        actor: str = 'user',
        args: Mapping[str, Any] | None = None,
    ) -> list[DispatchResult]:
        """Run an op on hosts; one result per distinct host (raises DispatchError for a refused request)."""
        return await self.dispatcher.dispatch(op, hosts, force=force, totp=totp, actor=actor, args=args)

    async def start_pipeline(
        self,
        name: str,
        hosts: Iterable[str],
        *,
        actor: str = 'user',
        totp: str | None = None,
        options: PipelineOptions | None = None,
    ) -> PipelineRun:
        """Start a pipeline run (raises DispatchError when refused)."""
        return await self.pipelines.start(name, hosts, actor=actor, totp=totp, options=options)

    async def cancel_pipeline(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Cancel a running pipeline."""
        return await self.pipelines.cancel(pipeline_id, actor)

    async def retry_failed(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Re-run a finished pipeline on exactly its failed hosts."""
        return await self.pipelines.retry_failed(pipeline_id, actor)

    async def continue_halted(self, pipeline_id: str, actor: str = 'user') -> PipelineRun:
        """Start the waves a halted rollout never started, as a new run."""
        return await self.pipelines.continue_halted(pipeline_id, actor)

    async def roll_back_wave(self, pipeline_id: str, actor: str = 'user') -> list[DispatchResult]:
        """Roll back the switched hosts of a halted rollout's failed wave."""
        return await self.pipelines.roll_back_wave(pipeline_id, actor)

    async def wait_command(self, command_id: str, minutes: float, actor: str = 'user') -> Command:
        """Wait N min: no deadline of the running command passes in the next N minutes (from now)."""
        return await self.lifecycle.wait(command_id, minutes, actor)

    async def kill_command(self, command_id: str, actor: str = 'user') -> Command:
        """Kill the running command (SIGTERM, SIGKILL after 5 s)."""
        return await self.lifecycle.kill(command_id, actor)

    async def ignore_command(self, command_id: str, actor: str = 'user') -> Command:
        """Dismiss the command's alert; keep tracking it."""
        return await self.lifecycle.ignore(command_id, actor)

    async def cancel_command(self, command_id: str, actor: str = 'user') -> Command:
        """Stop tracking the command (CANCELLED); the host is free again."""
        return await self.lifecycle.cancel(command_id, actor)

    async def read_output(self, command_id: str) -> str:
        """The command's whole log so far."""
        return await self.lifecycle.read_output(command_id)

    async def read_output_at(self, command_id: str) -> LogRead:
        """The command's whole log so far, and the state version its output changes are complete up to."""
        return await self.lifecycle.read_output_at(command_id)

    async def get_command(self, command_id: str) -> Command | None:
        """One command (active or journaled)."""
        return await self.lifecycle.get(command_id)

    async def list_commands(self, host: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest commands first, optionally of one host."""
        rows = await self.lifecycle.store.read(lambda db: latest_commands(db, host or None, limit))
        active = {c.id: c for c in self.lifecycle.active.values()}
        return [(active.get(r['id']) or Command.from_row(r)).view() for r in rows]

    async def get_pipeline(self, pipeline_id: str) -> PipelineRun | None:
        """One pipeline run."""
        if (run := self.pipelines.runs.get(pipeline_id)) is not None:
            return run
        return await self.lifecycle.store.read(lambda db: get_run(db, pipeline_id))

    async def list_pipelines(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest pipeline runs first."""
        runs = await self.lifecycle.store.read(lambda db: recent_runs(db, '', limit))
        return [(self.pipelines.runs.get(r.id) or r).view() for r in runs]

    @staticmethod
    def catalog() -> dict[str, Any]:
        """Every op and pipeline definition."""
        return {
            'ops': [op.to_wire() for op in OPS.values()],
            'pipelines': [{'id': p.id, 'ops': list(p.ops), 'description': p.description} for p in PIPELINES.values()],
        }
