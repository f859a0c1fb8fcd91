"""A simulated fleet for op-engine tests: a dashboard on virtual time (in-process, or served when a test needs the
socket) plus scripted fake agents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.models import CommandStatus
from nixfleet.ops.commands import Command
from nixfleet.ops.engine import OpEngine
from tests.support import (
    WAIT,
    Dashboards,
    FakeAgent,
    ManualClock,
    eventually,
    register_payload,
    send_output,
    send_status,
    start_in_process,
    start_server,
)

#: What a scripted agent does with a command: a coroutine taking (agent, command).
Behaviour = Callable[['ScriptedAgent', str], Any]


@dataclass
class Fleet:
    """A dashboard on a manual clock with fake agents; `advance` moves time and applies deadlines.

    In-process (agents' links call the app directly) unless `served` (a real server on a free port)."""

    settings: Settings
    clock: ManualClock
    server: Dashboards
    served: bool = False
    agents: dict[str, ScriptedAgent] = field(default_factory=dict)

    @classmethod
    async def start(cls, settings: Settings, clock: ManualClock, *, served: bool = False) -> Fleet:
        return cls(settings, clock, await cls._start(settings, clock, served), served)

    @staticmethod
    async def _start(settings: Settings, clock: ManualClock, served: bool) -> Dashboards:
        dashboard = Dashboard(settings, clock=clock)
        return await (start_server if served else start_in_process)(settings, dashboard)

    async def stop(self) -> None:
        """Stop every scripted agent, close its link, then stop the dashboard."""
        for agent in self.agents.values():
            agent.stop_script()
            await agent.fake.close()
        await self.server.stop()

    @property
    def dashboard(self) -> Dashboard:
        return self.server.dashboard

    @property
    def engine(self) -> OpEngine:
        return self.server.dashboard.ops

    async def add(self, host: str, **register: Any) -> ScriptedAgent:
        """Connect an agent for `host`, heartbeat once, and wait until the host is online."""
        agent = ScriptedAgent(self, self.server.agent(host))
        await agent.fake.connect(**register)
        await agent.fake.heartbeat()
        await eventually(lambda: self.host(host).get('lock_hash') and 'busy' in self.host(host))
        self.agents[host] = agent
        return agent

    def host(self, host: str) -> dict[str, Any]:
        """The host's view in the current state snapshot."""
        return dict(self.dashboard.stream.value.hosts.get(host) or {})

    async def advance(self, seconds: float) -> None:
        """Advance virtual time and run the deadline check once."""
        self.clock.advance(seconds)
        await self.engine.tick()

    async def dispatch(self, op: str, *hosts: str, **kw: Any) -> list[Any]:
        return await self.engine.dispatch(op, hosts, **kw)

    async def started(self, op: str, host: str, **kw: Any) -> str:
        """Dispatch to one host, assert it started, return the command id."""
        [result] = await self.dispatch(op, host, **kw)
        assert result.started, result
        assert result.command_id is not None
        return result.command_id

    async def ended(self, command_id: str, timeout: float = WAIT) -> Command:
        """Wait for the command's terminal state."""
        return await asyncio.wait_for(self.engine.lifecycle.wait_terminal(command_id), timeout)

    async def status_of(self, command_id: str, *statuses: CommandStatus) -> Command:
        """Wait until the command is in one of `statuses`."""

        async def check() -> Command | None:
            cmd = await self.engine.get_command(command_id)
            return cmd if cmd is not None and cmd.status in statuses else None

        return await eventually(check)  # type: ignore[no-any-return]

    async def restart_server(self) -> None:
        """Stop the server (graceful) and start a new dashboard on the same data dir and clock."""
        for agent in self.agents.values():
            agent.stop_script()
        await self.server.stop()
        for agent in self.agents.values():
            await agent.fake.close()
        self.server = await self._start(self.settings, self.clock, self.served)
        for agent in self.agents.values():
            agent.fake.url, agent.fake.app = self.server.ws_url, self.server.agent(agent.host).app


class ScriptedAgent:
    """A FakeAgent that answers commands by script (`behaviours[command]`), like a real agent would."""

    def __init__(self, fleet: Fleet, fake: FakeAgent) -> None:
        self.fleet = fleet
        self.fake = fake
        self.behaviours: dict[str, Behaviour] = {}
        self.binary_hash = 'a' * 64
        self.source_commit = '2c4ef43821b466f9625d728042f7cb583baf66e1'
        self.pending: str | None = None
        self.seen: list[str] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return self.fake.hostname

    def script(self, **behaviours: Behaviour) -> ScriptedAgent:
        """Answer commands by script from now on (keys use `_` for `-`)."""
        self.behaviours.update({k.replace('_', '-'): v for k, v in behaviours.items()})
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._serve())
        return self

    def stop_script(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _serve(self) -> None:
        while True:
            msg = await self.fake.received.get()
            if msg.get('type') != 'command':
                self.inbox.put_nowait(msg)
                continue
            command = msg['payload']['command']
            self.seen.append(command)
            behaviour = self.behaviours.get(command, ok)
            with contextlib.suppress(Exception):
                await behaviour(self, command)

    async def expect(self, mtype: str, timeout: float = WAIT) -> dict[str, Any]:
        """The next non-command frame of this type (while scripted), else the next frame of this type."""
        if self._task is None or self._task.done():
            return await self.fake.expect(mtype, timeout)
        while True:
            msg = await asyncio.wait_for(self.inbox.get(), timeout)
            if msg.get('type') == mtype:
                return msg

    async def heartbeat(self, **fields: Any) -> None:
        await self.fake.heartbeat(
            pending_command=self.pending, binary_hash=self.binary_hash, source_commit=self.source_commit, **fields
        )

    async def reconnect(self, **register: Any) -> None:
        """Close the link and register again (as after an agent restart), then heartbeat."""
        await self.fake.close()
        await self.fake.connect(register=False)
        fields = {'binary_hash': self.binary_hash, 'source_commit': self.source_commit, **register}
        await self.fake.send('register', register_payload(self.host, **fields))
        scripted = self._task is not None and not self._task.done() and asyncio.current_task() is not self._task
        await (self.expect('registered') if scripted else self.fake.expect('registered'))
        await self.heartbeat()


# -- behaviours ------------------------------------------------------------------------------------------------
async def ok(agent: ScriptedAgent, command: str) -> None:
    """Output, `status ok`, then the post-status heartbeat that still shows the command (Go agent quirk)."""
    agent.pending = command
    await send_output(agent.fake, f'running {command}')
    await send_status(agent.fake, command, generation='686f817')
    await agent.heartbeat()
    agent.pending = None


async def fail(agent: ScriptedAgent, command: str) -> None:
    """Output on stderr, then `status error` exit 1."""
    await send_output(agent.fake, f'{command} failed', stream='stderr')
    await send_status(agent.fake, command, 'error', 1, 'command failed')


async def hang(agent: ScriptedAgent, command: str) -> None:
    """Start and never finish (until a test acts)."""
    agent.pending = command
    await send_output(agent.fake, f'{command} started, this takes a while')


async def switch_ok(agent: ScriptedAgent, command: str) -> None:
    """A successful switch that updates the agent: status ok, close, re-register with a new binary."""
    await ok(agent, command)
    agent.binary_hash = 'b' * 64
    await agent.reconnect()


async def restart(agent: ScriptedAgent, command: str) -> None:
    """The agent exits without a status and comes back."""
    await agent.reconnect()


async def switch_no_return(agent: ScriptedAgent, command: str) -> None:
    """status ok, then the agent goes away and never comes back."""
    await ok(agent, command)
    await agent.fake.close()
