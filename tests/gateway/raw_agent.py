"""A wire-level agent for gateway tests: RFC 6455 over a plain TCP stream, framed by wsproto (sans-I/O).

Unlike `websockets`, it answers pings exactly as the Go agent does, with an EMPTY pong (no echo), it records every
frame the dashboard sends (pings and close frames included), and it can abort the TCP connection without a close
frame. A refused upgrade surfaces as `UpgradeRefused` with the HTTP status and headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from tests.support import AGENT_TOKEN, register_payload


class UpgradeRefused(Exception):
    """The server answered the upgrade request with a non-101 HTTP response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f'upgrade refused with HTTP {status}')
        self.status = status
        self.headers = headers
        self.body = body


@dataclass
class RawAgent:
    """One agent connection; `messages` holds the data frames received, `pings` counts the server's pings."""

    port: int
    token: str | None = AGENT_TOKEN
    echo_pongs: bool = False
    messages: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    received: list[str | bytes] = field(default_factory=list)
    pings: int = 0
    close_code: int | None = None
    close_reason: str | None = None
    close_events: list[tuple[int, str]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self, *, authorization: str | None = None) -> RawAgent:
        """Open the TCP stream and upgrade to a WebSocket on `/ws`; raise UpgradeRefused on a non-101 answer."""
        self._reader, self._writer = await asyncio.open_connection('127.0.0.1', self.port)
        self._conn = WSConnection(ConnectionType.CLIENT)
        headers: list[tuple[bytes, bytes]] = []
        if authorization is None and self.token is not None:
            authorization = f'Bearer {self.token}'
        if authorization is not None:
            headers.append((b'authorization', authorization.encode()))
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._partial: list[str | bytes] = []
        self._refusal: tuple[int, dict[str, str]] | None = None
        self._body = b''
        self._writer.write(self._conn.send(Request(host=f'127.0.0.1:{self.port}', target='/ws', extra_headers=headers)))
        self._task = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self._handshake, 5)
        except BaseException:
            await self.abort()
            raise
        return self

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                self._conn.receive_data(data or None)
                self._handle_events()
                if not data:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            if not self._handshake.done():
                self._handshake.set_exception(ConnectionError('connection lost during the handshake'))
            self.closed.set()
            self._writer.close()

    def _handle_events(self) -> None:
        for event in self._conn.events():
            if isinstance(event, AcceptConnection):
                self._handshake.set_result(None)
            elif isinstance(event, RejectConnection):
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                self._refusal = (event.status_code, headers)
                if not event.has_body:
                    self._refuse()
            elif isinstance(event, RejectData):
                self._body += event.data
                if event.body_finished:
                    self._refuse()
            elif isinstance(event, Ping):
                self.pings += 1
                self._writer.write(self._conn.send(event.response() if self.echo_pongs else Pong(payload=b'')))
            elif isinstance(event, TextMessage | BytesMessage):
                self._partial.append(event.data)
                if event.message_finished:
                    frame: str | bytes = (
                        ''.join(self._partial)  # type: ignore[arg-type]
                        if isinstance(event, TextMessage)
                        else b''.join(self._partial)  # type: ignore[arg-type]
                    )
                    self._partial = []
                    self.received.append(frame)
                    self.messages.put_nowait(frame)
            elif isinstance(event, CloseConnection):
                self.close_events.append((event.code, event.reason))
                if self.close_code is None:  # wsproto adds a 1006 when the TCP stream ends afterwards
                    self.close_code, self.close_reason = event.code, event.reason
                if self._conn.state is ConnectionState.REMOTE_CLOSING:
                    self._writer.write(self._conn.send(event.response()))
                self.closed.set()

    def _refuse(self) -> None:
        assert self._refusal is not None
        status, headers = self._refusal
        self._handshake.set_exception(UpgradeRefused(status, headers, self._body))

    # -- sending -------------------------------------------------------------------------------------------------
    async def send_raw(self, frame: str | bytes) -> None:
        """Send one text (str) or binary (bytes) frame, exactly as given."""
        if self._conn.state is not ConnectionState.OPEN:
            raise ConnectionError(f'link is {self._conn.state.name}')
        self._writer.write(self._conn.send(Message(data=frame)))
        await self._writer.drain()

    async def send(self, mtype: str, payload: Any = None) -> None:
        """Send one `{type, payload}` text frame."""
        await self.send_raw(json.dumps({'type': mtype, 'payload': {} if payload is None else payload}))

    async def register(self, hostname: str, **fields: Any) -> dict[str, Any]:
        """Send a Go-agent-shaped register and return the dashboard's reply."""
        await self.send('register', register_payload(hostname, **fields))
        return await self.recv_json()

    async def recv_json(self, timeout: float = 5.0) -> dict[str, Any]:
        """Return the next data frame, parsed."""
        return json.loads(await asyncio.wait_for(self.messages.get(), timeout))

    # -- ending --------------------------------------------------------------------------------------------------
    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the dashboard's close frame (or the TCP end); return its close code."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    async def close(self, code: int = 1000) -> None:
        """Close the link with a close handshake and wait for the TCP end."""
        if self._conn.state is ConnectionState.OPEN:
            with contextlib.suppress(ConnectionError, OSError):
                self._writer.write(self._conn.send(CloseConnection(code=code)))
                await self._writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        await self.abort()

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame (like a killed agent)."""
        self._writer.transport.abort()
        with contextlib.suppress(Exception):
            await self._task
