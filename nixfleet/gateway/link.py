"""One accepted agent WebSocket: its token grant, its bounded send queue and its control-frame rate bucket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketState

from nixfleet.security.tokens import TokenGrant
from nixfleet.timeutil import Clock

#: Link problems are logged under the gateway's logger name, where operators filter agent-link lines.
log = logging.getLogger('nixfleet.gateway.agents')

#: Frames other than `output` an agent may send per second before they are dropped (burst allowed).
CONTROL_RATE = 20.0
CONTROL_BURST = 200.0
#: Frames waiting to be sent to one agent before the link is considered stuck.
SEND_QUEUE_LIMIT = 1000
#: Close codes we use (RFC 6455 and the private range).
CLOSE_GOING_AWAY = 1001
CLOSE_REPLACED = 4000
CLOSE_IDLE = 4001
CLOSE_STUCK = 4002


@dataclass(slots=True)
class _Bucket:
    tokens: float = CONTROL_BURST
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(CONTROL_BURST, self.tokens + (now - self.stamp) * CONTROL_RATE)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class AgentLink:
    """One accepted agent WebSocket: a bounded send queue drained by its own task."""

    def __init__(self, ws: WebSocket, peer: str, grant: TokenGrant, clock: Clock, *, source: str = '') -> None:
        self.ws = ws
        self.peer = peer
        self.grant = grant
        #: The client address refusals are counted under (behind trusted proxies: the forwarded one).
        self.source = source or peer.rpartition(':')[0]
        self.host: str | None = None
        self.last_frame = clock()
        self.bucket = _Bucket()
        self.warned: set[str] = set()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(SEND_QUEUE_LIMIT)
        self._sender = asyncio.get_running_loop().create_task(self._drain(), name=f'agent-send-{peer}')
        self.closing = False
        #: Since when (time.monotonic) the reader waits for the next frame; None while it handles one.
        self.idle_since: float | None = None
        #: Set once the reader has ended and the link is unlinked.
        self.finished = asyncio.Event()

    def send(self, frame: str) -> bool:
        """Queue a frame for the agent; False (and the link is closed) when the agent does not keep up."""
        if self.closing:
            return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning('agent %s is not reading; closing its link', self.host or self.peer)
            self.close(CLOSE_STUCK, 'send queue full')
            return False
        return True

    async def _drain(self) -> None:
        while (frame := await self._queue.get()) is not None:
            try:
                await self.ws.send_text(frame)
            except Exception as exc:  # the socket is gone; the reader notices and cleans up
                log.debug('send to %s failed: %r', self.host or self.peer, exc)
                return

    def close(self, code: int, reason: str) -> None:
        """Close the link (idempotent); the reader loop then ends and cleans up."""
        if self.closing:
            return
        self.closing = True
        self._sender.cancel()
        task = asyncio.get_running_loop().create_task(self._close(code, reason))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if self.ws.application_state is not WebSocketState.DISCONNECTED:
                await self.ws.close(code, reason)

    async def stop(self) -> None:
        """Cancel the sender task and wait for it."""
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender

    def warn_once(self, key: str, message: str, *args: Any) -> None:
        """Log a problem with this link once per kind, not once per frame."""
        if key not in self.warned:
            self.warned.add(key)
            log.warning('agent %s: ' + message, self.host or self.peer, *args)


_background: set[asyncio.Task[None]] = set()


async def wait_for_closes(timeout: float) -> None:
    """Wait at most `timeout` seconds for the closes started by `AgentLink.close` to be sent."""
    if _background:
        await asyncio.wait(list(_background), timeout=timeout)
