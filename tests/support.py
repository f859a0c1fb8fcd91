"""Test helpers: a dashboard in-process or served on a free port, a fake agent speaking the Go agent's protocol,
and the one virtual clock."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from nixfleet.agent import SimBehaviour, SimulatedFleet, Timing
from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from nixfleet.server import DashboardServer, uvicorn_config
from tests.asgi_ws import AsgiWebSocket

AGENT_TOKEN = 'test-agent-token-4f1c'
PASSWORD = 'correct horse battery'
# bcrypt hash of PASSWORD (cost 4, for fast tests)
PASSWORD_HASH = '$2b$04$YOCbHSCNqvcAiG1RHmN6V.6k5cGFDL9YSVLVU0RxBf.kjo2qfEzzS'
SESSION_SECRET = 'test-session-secret-9b7e'


#: Under pytest-xdist each worker takes ports from its own block below the kernel's ephemeral range (32768+), so
#: two workers never pick the same port between probing it and a child process binding it.
_PORT_BLOCK = 1500
_PORT_BASE = 20000
_next_port = itertools.count()


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now (from this xdist worker's own block when there is one)."""
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')
    if not worker.startswith('gw'):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            return int(s.getsockname()[1])
    first = _PORT_BASE + int(worker[2:]) * _PORT_BLOCK % (32768 - _PORT_BASE - _PORT_BLOCK)
    for _ in range(_PORT_BLOCK):
        port = first + next(_next_port) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue  # still held (another run, a test's server that has not stopped yet): try the next one
            return port
    raise RuntimeError(f'no free port in {first}–{first + _PORT_BLOCK - 1}')


#: How long a test waits for an effect by default (seconds). Generous: a wait ends as soon as the effect shows, so only
#: a failing test waits this long, and a machine busy with parallel test workers must not turn a slow effect into a
#: failure (a bound on how fast something happens is a `perf` measurement, not a default-run assertion).
WAIT = 15.0


async def eventually(check: Callable[[], Any], timeout: float = WAIT, interval: float = 0.01) -> Any:
    """Await until `check()` returns a truthy value (awaiting it if it is a coroutine); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f'condition not met within {timeout} s (last value: {last!r})')
        await asyncio.sleep(interval)


@dataclass
class RunningServer:
    """A dashboard served by uvicorn on the test's own event loop."""

    dashboard: Dashboard
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def ws_url(self) -> str:
        return f'ws://127.0.0.1:{self.port}/ws'

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client for this server (the same call as `InProcess.client`)."""
        return httpx.AsyncClient(base_url=self.http, **kwargs)

    def agent(self, hostname: str, **kwargs: Any) -> FakeAgent:
        """A fake agent for this server's agent socket, not connected yet (the same call as `InProcess.agent`)."""
        return FakeAgent(self.ws_url, hostname, **kwargs)

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


async def start_server(settings: Settings, dashboard: Dashboard | None = None) -> RunningServer:
    """Start a real server (agents, health, API; no UI) for `settings` on a free port."""
    dashboard = dashboard or Dashboard(settings)
    # port 0: the kernel picks a free port as uvicorn binds, so parallel runs never race for one
    config = uvicorn_config(build_app(dashboard), settings, host='127.0.0.1', port=0, log_level='warning')
    server = DashboardServer(config, dashboard)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started or task.done(), timeout=15)
    if task.done():
        task.result()
    port = int(server.servers[0].sockets[0].getsockname()[1])
    return RunningServer(dashboard, server, task, port)


@dataclass
class InProcess:
    """A started dashboard and its app, in the test's process without a socket: HTTP goes through httpx's ASGI
    transport. For tests of what the app answers, where the network edge is not what is tested."""

    dashboard: Dashboard
    app: FastAPI
    lifespan: AbstractAsyncContextManager[Any]
    http: str = 'http://127.0.0.1'
    ws_url: str = 'ws://127.0.0.1/ws'

    async def stop(self) -> None:
        """End the lifespan: the dashboard stops as it does when uvicorn shuts down (its links closed with 1001;
        a failing shutdown is logged, as uvicorn logs it, not raised)."""
        await self.dashboard.close_agents()
        try:
            await self.lifespan.__aexit__(None, None, None)
        except Exception:
            logging.getLogger('uvicorn.error').exception('Exception in the lifespan shutdown (in-process)')

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client calling the app directly (the same call as `RunningServer.client`)."""
        transport = httpx.ASGITransport(app=self.app, client=('127.0.0.1', 50000))
        return httpx.AsyncClient(transport=transport, base_url=self.http, **kwargs)

    def agent(self, hostname: str, **kwargs: Any) -> FakeAgent:
        """A fake agent whose link calls the app directly, not connected yet (as `RunningServer.agent`)."""
        return FakeAgent(self.ws_url, hostname, app=self.app, **kwargs)


async def start_in_process(settings: Settings, dashboard: Dashboard | None = None) -> InProcess:
    """Build the app for `settings` and enter its lifespan (the dashboard's start), as uvicorn does before serving;
    ASGITransport does not. `stop()` leaves it (the same calls as `start_server`)."""
    dashboard = dashboard or Dashboard(settings)
    app = build_app(dashboard)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    return InProcess(dashboard, app, lifespan)


@asynccontextmanager
async def in_process(settings: Settings, dashboard: Dashboard | None = None) -> AsyncIterator[InProcess]:
    """`start_in_process` around a block; stopped after it."""
    started = await start_in_process(settings, dashboard)
    try:
        yield started
    finally:
        await started.stop()


#: Either kind of started dashboard: helpers taking one work with both (`.dashboard`, `.client()`).
Dashboards = RunningServer | InProcess


def register_payload(hostname: str, **overrides: Any) -> dict[str, Any]:
    """A register payload shaped exactly like the Go agent 3.1.5's."""
    payload = {
        'hostname': hostname,
        'host_type': 'nixos',
        'agent_version': '3.1.5',
        'os_version': '25.05',
        'nixpkgs_version': '25.05.20250612.abcdef0',
        'generation': 'b6a4b4d',
        'theme_color': '#7aa2f7',
        'heartbeat_interval': 5,
        'location': 'cloud',
        'device_type': 'server',
        'repo_url': '',
        'repo_dir': '/srv/agent/repo',
        'source_commit': '2c4ef43821b466f9625d728042f7cb583baf66e1',
        'store_path': '/srv/agent/nixfleet-agent',
        'binary_hash': 'a' * 64,
    }
    payload.update(overrides)
    return payload


def heartbeat_payload(generation: str = 'b6a4b4d', *, load: float = 0.42, **overrides: Any) -> dict[str, Any]:
    """A heartbeat payload shaped like the Go agent's (busy fields null)."""
    empty = {'status': '', 'message': '', 'checked_at': ''}
    payload = {
        'generation': generation,
        'nixpkgs_version': '',
        'pending_command': None,
        'command_pid': None,
        'metrics': {'cpu': 12.5, 'ram': 43.2, 'swap': 0, 'load': load},
        'update_status': {
            'git': empty,
            'lock': {'status': 'ok', 'message': 'Updated today', 'checked_at': ''},
            'system': empty,
            'tests': empty,
        },
        'source_commit': '2c4ef43821b466f9625d728042f7cb583baf66e1',
        'store_path': '/srv/agent/nixfleet-agent',
        'binary_hash': 'a' * 64,
        'lock_hash': '744b04a0',
    }
    payload.update(overrides)
    return payload


@dataclass
class FakeAgent:
    """A scripted agent over a real WebSocket; pongs are empty like the Go agent's unless `echo_pongs`."""

    url: str
    hostname: str
    token: str = AGENT_TOKEN
    #: An app to call directly (an in-memory link, `InProcess.agent`) instead of connecting to `url`.
    app: FastAPI | None = None
    ws: ClientConnection | AsgiWebSocket | None = None
    received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _reader: asyncio.Task[None] | None = None

    async def connect(self, *, register: bool = True, **register_fields: Any) -> FakeAgent:
        headers = {'Authorization': f'Bearer {self.token}'}
        if self.app is not None:
            self.ws = await AsgiWebSocket(self.app, urlsplit(self.url).path, headers).open()
        else:
            self.ws = await connect(self.url, additional_headers=headers, ping_interval=None, max_size=None)
        self._reader = asyncio.create_task(self._read())
        if register:
            await self.send('register', register_payload(self.hostname, **register_fields))
            reply = await self.expect('registered')
            assert reply['payload'] == {'host_id': self.hostname}
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.received.put_nowait(json.loads(raw))
        except Exception:  # the connection ended; tests look at ws.close_code
            return

    async def send(self, mtype: str, payload: Any = None) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({'type': mtype, 'payload': payload if payload is not None else {}}))

    async def send_raw(self, raw: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(raw)

    async def heartbeat(self, **fields: Any) -> None:
        await self.send('heartbeat', heartbeat_payload(**fields))

    async def expect(self, mtype: str, timeout: float = WAIT) -> dict[str, Any]:
        while True:
            msg = await asyncio.wait_for(self.received.get(), timeout)
            if msg.get('type') == mtype:
                return msg

    async def closed(self, timeout: float = WAIT) -> int | None:
        assert self.ws is not None and self._reader is not None
        await asyncio.wait_for(self._reader, timeout)
        return self.ws.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class ManualClock:
    """The tests' one virtual clock: it stands still until a test advances it (pass `time.time()` to start at the
    real time)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move time forward and return the new now."""
        self.now += seconds
        return self.now


async def expect_command(agent: FakeAgent, timeout: float = WAIT) -> str:
    """Wait for the next `command` frame sent to the agent and return the command name."""
    msg = await agent.expect('command', timeout)
    return str(msg['payload']['command'])


async def send_status(
    agent: FakeAgent, command: str, status: str = 'ok', exit_code: int = 0, message: str = '', generation: str = ''
) -> None:
    """Send a `status` frame shaped like the Go agent's (empty fields omitted)."""
    payload: dict[str, Any] = {'status': status, 'command': command, 'exit_code': exit_code}
    if message:
        payload['message'] = message
    if generation:
        payload['generation'] = generation
    await agent.send('status', payload)


async def send_output(agent: FakeAgent, *lines: str, stream: str = 'stdout') -> None:
    """Send output lines the way the Go agent does (`command` empty, `is_error` false)."""
    for line in lines:
        await agent.send('output', {'line': line, 'stream': stream, 'command': '', 'is_error': False})


#: Simulated agents reconnect at once in tests.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)


def simulated_agents(
    url: str, count: int = 3, *, speed: float, behaviours: Mapping[str, SimBehaviour] | None = None
) -> SimulatedFleet:
    """`count` simulated agents (`sim-01`…) for the agent socket `url`: test token, 2 s heartbeats, fast reconnects."""
    return SimulatedFleet(
        url=url, token=AGENT_TOKEN, count=count, interval=2, speed=speed, timing=FAST, behaviours=dict(behaviours or {})
    )


def idle(views: Mapping[str, Mapping[str, Any]], hosts: Iterable[str]) -> bool:
    """Whether every host is online with a heartbeat (its lock hash) and runs nothing."""
    return all(
        (v := views.get(h)) is not None
        and v.get('connection') == 'online'
        and bool(v.get('lock_hash'))
        and not v.get('busy')
        for h in hosts
    )
