"""Run one command at a time: busy checks, kills, progress, and exactly one `status` per command."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from nixfleet.agent import plans
from nixfleet.agent.commands import HANDLERS, Handler, Result, Stopped, failed
from nixfleet.agent.compartments import Compartment, UpdateStatus, lock_state
from nixfleet.agent.config import AgentConfig
from nixfleet.agent.system import Emit, Facts, HostLog, Job, Probe, Restart, Step, System

log = logging.getLogger(__name__)

STOP_GRACE = 3.0  # seconds between `stop`'s SIGTERM and its SIGKILL fallback
SIGNALS = {'SIGTERM': signal.SIGTERM, 'SIGKILL': signal.SIGKILL}
PREEMPTING = frozenset({'restart', 'reboot'})  # accepted while busy: they stop the running command first

Send = Callable[[str, dict[str, Any]], None]


@dataclass(slots=True, kw_only=True)
class Running:
    """The command in progress and its current child process."""

    command: str
    job: Job | None = None
    pid: int | None = None
    stop_signal: int | None = None
    task: asyncio.Task[Any] | None = None


class Executor:
    """Start, reject, stop and report commands; the only writer of `running` and `update_status`."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        system: System,
        facts: Facts,
        send: Send,
        heartbeat: Callable[[Probe], None],
        request_restart: Callable[[Restart], None],
        handlers: Mapping[str, Handler] = HANDLERS,
    ) -> None:
        self.config = config
        self.log = HostLog(log, config.hostname)
        self.system = system
        self.facts = facts
        self.update_status = UpdateStatus()
        self.running: Running | None = None
        self.generation = ''
        self._send = send
        self._heartbeat = heartbeat
        self._request_restart = request_restart
        self._handlers = handlers
        self._restarting = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def handle(self, name: str) -> None:
        """Act on one `command` frame synchronously, so two commands can never both start."""
        if name == 'stop':
            self._stop_command()
        elif self._restarting:
            self._reject('agent restarting')
        elif name in PREEMPTING:
            self._restarting = True
            self._spawn(self._preempt(name, self.running))
        elif self.running is not None:
            self._reject('command already running')
        elif (handler := self._handlers.get(name)) is None:
            self._send_status(name, failed(1, 'unknown command'))
        else:
            running = self.running = Running(command=name)
            running.task = self._spawn(self._execute(running, handler))

    def kill(self, signal_name: str, pid: int) -> None:
        """Signal the running command's process group (`kill_command`); the agent itself is never hit."""
        running = self.running
        signum = SIGNALS.get(signal_name)
        if signum is None:
            self.output(f'❌ Unknown signal: {signal_name}', 'stderr')
        elif running is None:
            self.output('⚠️ No command running to kill', 'stderr')
        elif pid not in (0, running.pid):
            self.output(f'❌ PID {pid} is not the running command ({running.pid})', 'stderr')
        else:
            self.output(f'⚠️ Received kill command: {signal_name} (PID {running.pid or 0})', 'stderr')
            self._signal(running, signum)
            self.output(f'✓ {signal_name} sent, waiting for process to terminate...', 'stderr')

    async def shutdown(self) -> None:
        """Cancel every task (killing running children) and wait for them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def heartbeat_payload(self, probe: Probe) -> dict[str, Any]:
        """Return a heartbeat payload shaped exactly like docs/agent-protocol.md#heartbeat."""
        running, fresh = self.running, self.facts.freshness
        payload: dict[str, Any] = {
            'generation': probe.generation,
            'nixpkgs_version': self.facts.nixpkgs_version,
            'pending_command': running.command if running else None,
            'command_pid': running.pid if running else None,
            'metrics': probe.metrics,
            'update_status': self.update_status.payload(),
            'source_commit': fresh.source_commit,
            'store_path': fresh.store_path,
            'binary_hash': fresh.binary_hash,
        }
        if probe.lock_hash:
            payload['lock_hash'] = probe.lock_hash
        return payload

    # --- used by command handlers -------------------------------------------------------------------------

    def steps(self, op: str) -> list[Step]:
        """Return the steps of `op` on this host (see plans.py)."""
        return plans.steps(op, self.config, self.facts.platform)

    def output(self, line: str, stream: str = 'stdout') -> None:
        """Send one output line of the running command."""
        command = self.running.command if self.running else ''
        self._send('output', {'line': line, 'stream': stream, 'command': command, 'is_error': False})

    def progress(self, phase: str, current: int, total: int, status: str) -> None:
        """Send one `operation_progress` frame (one phase key, like the Go agent)."""
        tests_only = {'results': None} if phase == 'tests' else {}
        body = {'current': current, 'total': total, **tests_only, 'status': status}
        self._send('operation_progress', {'progress': {phase: body}})

    async def phase(self, phase: str, total: int, steps: list[Step]) -> int:
        """Run steps between an in_progress and a complete/error progress frame."""
        self.progress(phase, 0, total, 'in_progress')
        try:
            code = await self.run_steps(steps)
        except Stopped:
            self.progress(phase, 0, total, 'error')
            raise
        self.progress(phase, total if code == 0 else 0, total, 'complete' if code == 0 else 'error')
        return code

    async def run_steps(self, steps: list[Step], *, capture: list[str] | None = None) -> int:
        """Run steps of the running command until one fails; raise Stopped when it was killed."""
        running = self.running
        assert running is not None, 'run_steps outside a command'
        emit = self._emitter(capture)
        for step in steps:
            if running.stop_signal is not None:
                raise Stopped
            code = await self._run_step(step, emit, running)
            if running.stop_signal is not None:
                raise Stopped
            if code != 0:
                return code if code > 0 else 128 - code
        return 0

    async def check_lock(self, *, background: bool = False) -> Compartment:
        """Judge flake.lock by the date of its last commit and update the lock compartment."""
        lines: list[str] = []
        if background:
            code = await self._run_step(self.steps('refresh-lock')[0], self._emitter(lines, quiet=True), None)
        else:
            code = await self.run_steps(self.steps('refresh-lock'), capture=lines)
        if code != 0:
            return self.update_status.set('lock', 'error', f'git log failed (exit {code})')
        return self.update_status.set('lock', *lock_state(lines[0] if lines else ''))

    async def probe(self) -> Probe:
        """Read the host state and remember the generation for status frames."""
        probe = await self.system.probe()
        self.generation = probe.generation
        return probe

    # --- internals ------------------------------------------------------------------------------------------

    async def _run_step(self, step: Step, emit: Emit, running: Running | None) -> int:
        try:
            job = await self.system.start(step)
        except OSError as exc:
            emit('stderr', f'❌ cannot run {step.argv[0]}: {exc.strerror or exc}')
            return 127
        if running is None:
            return await job.run(emit)
        running.job, running.pid = job, job.pid
        if running.stop_signal is not None:
            job.signal(running.stop_signal)
        try:
            return await job.run(emit)
        finally:
            running.job = None

    def _emitter(self, capture: list[str] | None, *, quiet: bool = False) -> Emit:
        def emit(stream: str, line: str) -> None:
            if capture is not None and stream == 'stdout':
                capture.append(line)
            elif not quiet:
                self.output(line, stream)

        return emit

    async def _execute(self, running: Running, handler: Handler) -> Result:
        self.log.info('command %s started', running.command)
        try:
            result = await handler(self)
        except Stopped:
            result = Result(status='stopped', exit_code=130, message='terminated by user')
        except Exception:
            self.log.exception('command %s crashed inside the agent', running.command)
            result = failed(1, 'agent error')
        if result.status != 'ok':
            self.update_status.interrupt()
        probe = await self.probe()
        self.running = None  # cleared before the status and its heartbeat: the host is idle from here on
        if not result.silent:
            self._send_status(running.command, result)
            self._heartbeat(probe)
        self.log.info('command %s finished: %s (exit %d)', running.command, result.status, result.exit_code)
        if result.restart is not None:
            self._restarting = True
            self._request_restart(result.restart)
        return result

    async def _preempt(self, name: str, previous: Running | None) -> None:
        if previous is not None and previous.task is not None:
            self._signal(previous, signal.SIGTERM)
            self._spawn(self._escalate(previous))
            await asyncio.wait({previous.task})
        running = self.running = Running(command=name)
        running.task = asyncio.current_task()
        result = await self._execute(running, self._handlers[name])
        self._restarting = result.restart is not None

    def _stop_command(self) -> None:
        running = self.running
        if running is None:
            self._send_status('stop', failed(1, 'no command running'))
            return
        self._signal(running, signal.SIGTERM)
        self._spawn(self._escalate(running))

    async def _escalate(self, running: Running) -> None:
        await asyncio.sleep(STOP_GRACE)
        if self.running is running:
            self._signal(running, signal.SIGKILL)

    def _signal(self, running: Running, signum: int) -> None:
        running.stop_signal = signum
        if running.job is not None:
            running.job.signal(signum)

    def _reject(self, reason: str) -> None:
        payload: dict[str, Any] = {'reason': reason}
        if self.running is not None:
            payload['current_command'] = self.running.command
            if self.running.pid is not None:
                payload['current_pid'] = self.running.pid
        self._send('command_rejected', payload)

    def _send_status(self, command: str, result: Result) -> None:
        payload: dict[str, Any] = {'status': result.status, 'command': command, 'exit_code': result.exit_code}
        if result.message:
            payload['message'] = result.message
        if self.generation:
            payload['generation'] = self.generation
        self._send('status', payload)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
