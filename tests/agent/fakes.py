"""Agent test doubles: a real loopback websockets server playing the dashboard, and fast simulated systems."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from nixfleet.agent import AgentConfig, SimBehaviour, SimulatedSystem, System, Timing
from nixfleet.protocol import FrameError, encode, parse_agent_frame, registered
from tests.support import WAIT

TOKEN = 'test-token-123'
#: Go-agent timings shrunk for tests (keepalive stays real: the tests never wait for it).
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)


@dataclass(slots=True, kw_only=True, frozen=True)
class Received:
    """One frame the agent sent, with the number of the connection it came on."""

    conn: int
    type: str
    payload: Any


class FakeDashboard:
    """A real websockets server on 127.0.0.1: checks the Bearer token, answers `registered`, records frames."""

    def __init__(self) -> None:
        self.reject_next = 0  # answer this many handshakes with 401 whatever the token
        self.reject_while: Callable[[], bool] | None = None  # answer 401 while this returns True
        self.handshakes: list[tuple[float, int]] = []  # (monotonic time, HTTP status)
        self.log: list[Received] = []  # every frame, in arrival order
        self.invalid: list[str] = []  # frames the dashboard's own parser rejects
        self.conns: dict[int, ServerConnection] = {}
        self.current = 0
        self._frames: asyncio.Queue[Received] = asyncio.Queue()
        self._closes: asyncio.Queue[tuple[int, int | None, str | None]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """Return the agent endpoint URL."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f'ws://127.0.0.1:{port}/ws'

    async def start(self) -> None:
        """Listen on a free port with keepalive off, like a dashboard serving Go agents must."""
        self._server = await serve(
            self._handler, '127.0.0.1', 0, process_request=self._process_request, ping_interval=None
        )

    async def stop(self) -> None:
        """Close the server and every connection."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def expect(
        self, mtype: str, *, timeout: float = WAIT, where: Callable[[Received], bool] | None = None
    ) -> Received:
        """Return the next frame of `mtype` (matching `where`), skipping others; fail after `timeout` s."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._frames.get()
                if frame.type == mtype and (where is None or where(frame)):
                    return frame

    async def expect_close(self, *, timeout: float = 5.0) -> tuple[int, int | None, str | None]:
        """Return (connection, close code, reason) of the next connection that ended."""
        async with asyncio.timeout(timeout):
            return await self._closes.get()

    async def send(self, mtype: str, payload: Any = None, *, raw: str | bytes | None = None) -> None:
        """Send one message (or a raw frame) on the current connection."""
        await self.conns[self.current].send(raw if raw is not None else encode(mtype, payload))

    async def command(self, name: str) -> None:
        """Send a `command` frame."""
        await self.send('command', {'command': name})

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        auth = request.headers.get('Authorization')
        reject = self.reject_next > 0 or (self.reject_while is not None and self.reject_while())
        if reject or auth != f'Bearer {TOKEN}':
            self.reject_next = max(0, self.reject_next - 1)
            self.handshakes.append((time.monotonic(), 401))
            return Response(HTTPStatus.UNAUTHORIZED, 'Unauthorized', Headers(), b'unauthorized\n')
        self.handshakes.append((time.monotonic(), 101))
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        conn = self.current = next(self._ids)
        self.conns[conn] = ws
        try:
            async for raw in ws:
                try:
                    parse_agent_frame(raw)
                except FrameError as exc:
                    self.invalid.append(str(exc))
                frame = json.loads(raw)
                received = Received(conn=conn, type=frame['type'], payload=frame.get('payload'))
                self.log.append(received)
                self._frames.put_nowait(received)
                if received.type == 'register':
                    await ws.send(registered(received.payload['hostname']))
        except ConnectionClosed:
            pass  # recorded below like a clean close
        finally:
            self._closes.put_nowait((conn, ws.close_code, ws.close_reason))


@dataclass(slots=True, kw_only=True)
class AgentRun:
    """An agent running as a task: its system, stop switch and task."""

    system: System
    stop: asyncio.Event
    task: asyncio.Task[int]
    config: AgentConfig


def sim_system(hostname: str = 'sim-test', *, speed: float = 200.0, **behaviour: Any) -> SimulatedSystem:
    """Return a fast SimulatedSystem (`speed` 200: a 10 s switch takes 50 ms)."""
    return SimulatedSystem(hostname=hostname, behaviour=SimBehaviour(speed=speed, **behaviour))
