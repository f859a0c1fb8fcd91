"""The agent's link to the dashboard: dial, register, heartbeat, dispatch frames, reconnect
(docs/agent-protocol.md#python-agent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from nixfleet.agent.config import AgentConfig
from nixfleet.agent.executor import Executor
from nixfleet.agent.outbox import Outbox
from nixfleet.agent.real import RealSystem
from nixfleet.agent.system import HostLog, Probe, Restart, System
from nixfleet.agent.version import AGENT_IMPL
from nixfleet.protocol import encode

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True, frozen=True)
class Timing:
    """Link timings in seconds; the defaults are the Go agent's (tests shrink them)."""

    reconnect_delay: float = 1.0  # after losing an established connection
    backoff_initial: float = 1.0  # after a failed handshake, doubled per failure ...
    backoff_max: float = 60.0  # ... up to this cap; reset by a successful handshake
    ping_interval: float = 10.0
    ping_timeout: float = 45.0
    open_timeout: float = 10.0
    lock_check_interval: float = 300.0


#: Called when the agent process would exit; return True to reconnect in-process (simulation), False to exit.
OnRestart = Callable[[Restart], Awaitable[bool]]


class Agent:
    """One agent process lifetime: runs until a restart is requested or `stop_event` is set."""

    def __init__(
        self,
        config: AgentConfig,
        system: System,
        *,
        stop_event: asyncio.Event,
        timing: Timing | None = None,
        outbox_size: int = 1000,
    ) -> None:
        self.config = config
        self.log = HostLog(log, config.hostname)
        self.timing = timing or Timing()
        self.system = system
        self.outbox = Outbox(outbox_size)
        self._stop_event = stop_event
        self._restart: Restart | None = None
        self._restart_event = asyncio.Event()
        self._registered = asyncio.Event()
        self._warned: set[str] = set()
        self._executor: Executor | None = None

    @property
    def executor(self) -> Executor:
        """Return the command executor (exists once `run` has prepared the system)."""
        assert self._executor is not None, 'Agent.run() has not started'
        return self._executor

    async def run(self) -> Restart | None:
        """Connect and serve until stopped (None) or until a command asks the process to restart."""
        await self.system.prepare(lambda stream, line: self.log.info('%s: %s', stream, line))
        facts = self.system.facts()
        self._executor = Executor(
            config=self.config,
            system=self.system,
            facts=facts,
            send=self.outbox.put,
            heartbeat=self._heartbeat,
            request_restart=self._request_restart,
        )
        checks = asyncio.create_task(self._lock_checks())
        try:
            return await self._connect_loop()
        finally:
            checks.cancel()
            await asyncio.gather(checks, return_exceptions=True)
            await self.executor.shutdown()

    async def _connect_loop(self) -> Restart | None:
        backoff, failures = self.timing.backoff_initial, 0
        while not self._stop_event.is_set():
            try:
                ws = await connect(
                    self.config.url,
                    additional_headers={'Authorization': f'Bearer {self.config.token.get_secret_value()}'},
                    user_agent_header=f'nixfleet-agent/{self.executor.facts.agent_version} ({AGENT_IMPL})',
                    compression=None,
                    open_timeout=self.timing.open_timeout,
                    ping_interval=self.timing.ping_interval,
                    ping_timeout=self.timing.ping_timeout,
                    close_timeout=5,
                )
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                failures += 1
                reason = f'HTTP {exc.response.status_code}' if isinstance(exc, InvalidStatus) else repr(exc)
                level = logging.WARNING if failures == 1 else logging.DEBUG
                self.log.log(level, 'connection to %s failed (%s), retrying in %g s', self.config.url, reason, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, self.timing.backoff_max)
                continue
            backoff, failures = self.timing.backoff_initial, 0
            if await self._session(ws):
                return self._restart  # None when stopped
            if not self._stop_event.is_set():
                delay = self.timing.reconnect_delay
                self.log.info('connection lost (%s %s), reconnecting in %g s', ws.close_code, ws.close_reason, delay)
                await self._pause(delay)
        return None

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection; return True when the agent closed it to stop or restart."""
        self.log.info('connected to %s', self.config.url)
        self._registered.clear()
        tasks: set[asyncio.Task[Any]] = set()
        reader = asyncio.create_task(self._read(ws, tasks))
        leave = asyncio.create_task(self._leave_when_asked())
        try:
            await self.executor.probe()  # fresh generation for `register`
            await ws.send(encode('register', self._register_payload()))
            await asyncio.wait({reader, leave}, return_when=asyncio.FIRST_COMPLETED)
            if leave.done():
                await ws.close(1000, 'shutdown')
                return True
        except ConnectionClosed:
            self.log.debug('send failed: connection closed')
        finally:
            for task in (reader, leave, *tasks):
                task.cancel()
            await asyncio.gather(reader, leave, *tasks, return_exceptions=True)
            self._registered.clear()
            self.outbox.discard('heartbeat')  # stale; a fresh one follows the next `registered`
            await ws.close()
        return False

    async def _leave_when_asked(self) -> None:
        """Return when the agent must close this link: stop, or a restart once its status was delivered."""
        stop = asyncio.create_task(self._stop_event.wait())
        restart = asyncio.create_task(self._restart_flushed())
        try:
            await asyncio.wait({stop, restart}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            restart.cancel()
            await asyncio.gather(stop, restart, return_exceptions=True)

    async def _restart_flushed(self) -> None:
        await self._restart_event.wait()
        await self._registered.wait()
        await self.outbox.drained()

    async def _read(self, ws: ClientConnection, tasks: set[asyncio.Task[Any]]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                if self._dispatch(raw) and not tasks:
                    tasks.add(asyncio.create_task(self._send_loop(ws)))
                    tasks.add(asyncio.create_task(self._heartbeat_loop()))

    def _dispatch(self, raw: str | bytes) -> bool:
        """Handle one dashboard frame; return True when it is the first `registered`."""
        try:
            frame = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._warn('malformed', 'ignoring a frame that is not JSON')
            return False
        if not isinstance(frame, dict) or not isinstance(frame.get('type'), str):
            self._warn('untyped', 'ignoring a frame without a string "type"')
            return False
        mtype, payload = frame['type'], frame.get('payload')
        if mtype == 'registered' and (payload is None or isinstance(payload, dict)):
            if self._registered.is_set():
                return False
            self.log.info('registered as %s', (payload or {}).get('host_id', self.config.hostname))
            self._registered.set()
            return True
        if mtype == 'command' and isinstance(payload, dict):
            self.executor.handle(str(payload.get('command', '')))
        elif mtype == 'kill_command' and isinstance(payload, dict) and isinstance(payload.get('pid', 0), int):
            self.executor.kill(str(payload.get('signal', '')), payload.get('pid', 0))
        elif mtype in ('registered', 'command', 'kill_command'):
            self._warn(f'payload:{mtype}', f'ignoring {mtype} with an invalid payload')
        else:
            self._warn(f'type:{mtype}', f'ignoring unknown message type {mtype[:64]!r}')
        return False

    async def _send_loop(self, ws: ClientConnection) -> None:
        while True:
            frame = await self.outbox.peek()
            if dropped := self.outbox.take_dropped():
                line = f'[nixfleet-agent] {dropped} frames dropped while disconnected (outbox full)'
                await ws.send(encode('output', {'line': line, 'stream': 'stderr', 'command': '', 'is_error': False}))
            await ws.send(frame.text)
            self.outbox.pop()

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat(await self.executor.probe())
            await asyncio.sleep(self.config.interval)

    async def _lock_checks(self) -> None:
        while True:
            lock = await self.executor.check_lock(background=True)
            if lock.status == 'error':
                self._warn('lock', f'lock check failed: {lock.message}')
            await asyncio.sleep(self.timing.lock_check_interval)

    def _heartbeat(self, probe: Probe) -> None:
        if self._registered.is_set():
            self.outbox.put('heartbeat', self.executor.heartbeat_payload(probe))

    def _request_restart(self, restart: Restart) -> None:
        self.log.info('restart requested (%s, exit %d)', restart.reason, restart.exit_code)
        self._restart = restart
        self._restart_event.set()

    def _register_payload(self) -> dict[str, Any]:
        facts, config = self.executor.facts, self.config
        return {
            'hostname': config.hostname,
            'host_type': facts.platform.host_type,
            'agent_version': facts.agent_version,
            'agent_impl': AGENT_IMPL,
            'os_version': facts.os_version,
            'nixpkgs_version': facts.nixpkgs_version,
            'generation': self.executor.generation,
            'theme_color': config.theme_color,
            'heartbeat_interval': config.interval,
            'location': config.location,
            'device_type': config.device_type,
            'repo_url': config.repo_url,
            'repo_dir': config.repo_dir,
            'source_commit': facts.freshness.source_commit,
            'store_path': facts.freshness.store_path,
            'binary_hash': facts.freshness.binary_hash,
        }

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    def _warn(self, key: str, message: str) -> None:
        """Log a problem once per agent lifetime at WARNING, then at DEBUG."""
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        self.log.log(level, message)


async def run_agent(
    config: AgentConfig,
    *,
    system: System | None = None,
    stop_event: asyncio.Event | None = None,
    on_restart: OnRestart | None = None,
    timing: Timing | None = None,
) -> int:
    """Run one agent until `stop_event` (returns 0) or a restart that `on_restart` declines (returns its exit code)."""
    system = system or RealSystem(config)
    stop_event = stop_event or asyncio.Event()
    while True:
        restart = await Agent(config, system, stop_event=stop_event, timing=timing).run()
        if restart is None:
            return 0
        if on_restart is None or not await on_restart(restart):
            return restart.exit_code
        log.info('%s: restarted in-process', config.hostname)
