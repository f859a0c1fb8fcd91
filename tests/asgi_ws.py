"""A WebSocket client that calls an ASGI app directly, without a socket: for in-process tests of what the app does
with a link (the part of a `websockets` connection that `FakeAgent` uses: send, iterate, close, close_code)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.types import ASGIApp, Message
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

#: The close code `websockets` reports when a connection ended without a close frame.
ABNORMAL = 1006


class AsgiWebSocket:
    """One WebSocket link into `app` at `path`, opened by `open()`; refusals raise `InvalidStatus` like `connect`."""

    def __init__(self, app: ASGIApp, path: str, headers: Mapping[str, str]) -> None:
        self._app = app
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.close_reason = ''
        self._scope: dict[str, Any] = {
            'type': 'websocket',
            'asgi': {'version': '3.0', 'spec_version': '2.4'},
            'http_version': '1.1',
            'scheme': 'ws',
            'server': ('127.0.0.1', 80),
            'client': ('127.0.0.1', 50000),
            'root_path': '',
            'path': path,
            'raw_path': path.encode(),
            'query_string': b'',
            'headers': [(b'host', b'127.0.0.1'), *((k.lower().encode(), v.encode()) for k, v in headers.items())],
            'subprotocols': [],
            'extensions': {'websocket.http.response': {}},
        }

    async def open(self) -> AsgiWebSocket:
        """Run the app for this link until it accepts (or refuses: `InvalidStatus` with its HTTP answer)."""
        self._task = asyncio.create_task(self._run())
        self._to_app.put_nowait({'type': 'websocket.connect'})
        first = await self._from_app.get()
        if first is not None and first['type'] == 'websocket.accept':
            return self
        await self._task
        raise InvalidStatus(await self._refusal(first))

    async def _refusal(self, first: Message | None) -> Response:
        """The HTTP answer of a refused upgrade: a denial response, or 403 for a close before accept (as uvicorn)."""
        if first is None or first['type'] != 'websocket.http.response.start':
            return Response(403, 'Forbidden', Headers(), b'')
        body = b''
        while (part := await self._from_app.get()) is not None:
            body += part.get('body', b'')
            if not part.get('more_body', False):
                break
        headers = Headers([(k.decode(), v.decode()) for k, v in first.get('headers', [])])
        return Response(first['status'], '', headers, body)

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._receive, self._send)
        finally:
            if self.close_code is None:
                self.close_code = ABNORMAL
            self._from_app.put_nowait(None)

    async def _receive(self) -> Message:
        return await self._to_app.get()

    async def _send(self, message: Message) -> None:
        if message['type'] == 'websocket.close':
            self.close_code, self.close_reason = message.get('code', 1000), message.get('reason') or ''
            self._to_app.put_nowait({'type': 'websocket.disconnect', 'code': self.close_code})
            self._from_app.put_nowait(None)
            return
        self._from_app.put_nowait(message)

    async def send(self, data: str | bytes) -> None:
        if self.close_code is not None:
            raise ConnectionError(f'the link is closed ({self.close_code})')
        key = 'text' if isinstance(data, str) else 'bytes'
        self._to_app.put_nowait({'type': 'websocket.receive', key: data})

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while (message := await self._from_app.get()) is not None:
            if message['type'] == 'websocket.send':
                yield message['text'] if message.get('text') is not None else message['bytes']

    async def close(self, code: int = 1000) -> None:
        """Close from the client side (the app sees a disconnect) and wait for the app to finish the link."""
        if self.close_code is None:
            self.close_code = code
            self._to_app.put_nowait({'type': 'websocket.disconnect', 'code': code})
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._task), 5)
