"""uvicorn's wsproto WebSocket protocol, made fair to the rest of the server when one peer floods it with frames.

uvicorn parses every frame of a socket read (up to 256 KiB) in one callback and queues them all for the app, whose
reader then takes them from the queue without waiting: 256 KiB of small frames from one agent is a thousand frames
or more, and the event loop answered nothing else (not even `/health`) until all were handled, and a peer sending
as fast as it could kept the server busy all the time. Here each connection spends a budget: every frame costs its
bytes plus `FRAME_COST` (its fixed handling cost), at most `SLICE_COST` is handled per loop turn, and at most
`READ_RATE` per second on average (`READ_BURST` at once). Frames over the budget wait in wsproto's buffer, and the
socket is not read again until they are handled, so that buffer holds at most one read and a peer sending faster
than its budget is slowed down by TCP's own flow control. Nothing is dropped or reordered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

#: What a frame costs besides its bytes: about as long to handle as this many bytes of payload.
FRAME_COST = 4096
#: Cost one connection may spend per event-loop turn (a larger frame is handled alone in its turn).
SLICE_COST = 64 * 1024
#: Cost one connection may spend per second on average (2,000 small frames, or about 8 MB of large ones) and at once.
READ_RATE = 8 * 1024 * 1024
READ_BURST = 4 * 1024 * 1024
#: Bytes of outgoing frames gathered for one socket write at most: beyond it they are written at once, so a peer that
#: does not read fills the transport's buffer and its flow control holds the sender back, as without gathering.
FLUSH_BYTES = 64 * 1024
#: Messages waiting for the app at which the socket stops being read until the app took them.
QUEUE_LIMIT = 8


@dataclass(slots=True, kw_only=True)
class ReadBudget:
    """A token bucket of handling cost for one connection; a slice may take it into debt, which is waited off."""

    rate: float = READ_RATE
    burst: float = READ_BURST
    tokens: float = READ_BURST
    stamp: float = 0.0

    def available(self, now: float) -> float:
        """The cost that may be spent now (refilled up to `now`; negative while in debt)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def spend(self, cost: float) -> None:
        """Take `cost` from the bucket (it may go below zero)."""
        self.tokens -= cost

    def wait(self, now: float) -> float:
        """Seconds until something may be spent again (0 when it may now)."""
        tokens = self.available(now)
        return 0.0 if tokens > 0 else -tokens / self.rate + 1e-3


class _SlicedConnection(WSConnection):
    """A wsproto connection whose `events()` stops once `allowance` is spent (`cut` then says more may wait)."""

    allowance: float = SLICE_COST
    spent: float = 0.0
    cut = False

    def events(self) -> Generator[Event, None, None]:
        """The next events, until their cost reaches `allowance` (the rest stays buffered for the next call)."""
        self.cut, self.spent = False, 0.0
        for event in super().events():
            yield event
            if isinstance(event, TextMessage | BytesMessage | Ping | Pong):
                data: Any = event.data if isinstance(event, TextMessage | BytesMessage) else event.payload
                self.spent += len(data) + FRAME_COST
                if self.spent >= self.allowance:
                    self.cut = True
                    return


class FairWSProtocol(WSProtocol):
    """uvicorn's wsproto protocol, handling each connection's frames within its `ReadBudget`, a slice per turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = self._sliced = _SlicedConnection(ConnectionType.SERVER)
        self.budget = ReadBudget(stamp=self.loop.time())
        self.heard_at = self.loop.time()
        self._outgoing: list[bytes] = []
        self._outgoing_bytes = 0
        self._flushing: asyncio.Handle | None = None
        self._later: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        """Note when the peer was last heard from (a keepalive ping is needless on a link that talks), then read."""
        self.heard_at = self.loop.time()
        super().data_received(data)

    def send_keepalive_ping(self) -> None:
        """Ping only a link that has been silent for a whole ping period: agents heartbeat more often than that, so
        their links are kept alive by their own frames (docs/architecture.md#keepalive-and-pongs)."""
        if self.ping_interval is not None and self.loop.time() - self.heard_at < self.ping_interval:
            self.ping_timer = None
            self.schedule_ping()
            return
        super().send_keepalive_ping()

    def handle_events(self) -> None:
        """Handle the next slice of buffered frames; hold the rest (not reading) for a later turn."""
        if self._later is not None:
            return  # a held slice is scheduled: it handles what is buffered, in order
        now = self.loop.time()
        if (wait := self.budget.wait(now)) > 0:
            self._hold(wait)
            return
        self._sliced.allowance = min(self.budget.available(now), SLICE_COST)
        super().handle_events()
        self.budget.spend(self._sliced.spent)
        if self._sliced.cut:
            self._hold(self.budget.wait(now))

    def handle_message(self, event: TextMessage | BytesMessage) -> None:
        """Queue a finished message for the app; stop reading only once `QUEUE_LIMIT` messages wait for it.

        uvicorn pauses the socket after every message and the app's `receive` resumes it: two selector changes per
        frame, most of the cost of a small frame. The slice budget already bounds what one peer gets per loop turn,
        so reading goes on while the app keeps up, and pauses when it does not (or when a slice is held).
        """
        paused = self.read_paused
        self.read_paused = True  # uvicorn's handler skips its own pause
        super().handle_message(event)
        self.read_paused = paused
        if not paused and self.queue.qsize() >= QUEUE_LIMIT and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    async def send(self, message: Any) -> None:
        """Send an ASGI message; data frames sent in one loop turn leave in one socket write.

        A sync client drains its queue in one turn (several deltas at 500 changes a second): one `send()` system call
        for all of them instead of one each. Any other message first flushes what is waiting, so order is kept.
        """
        if (
            message['type'] != 'websocket.send'
            or not self.handshake_complete
            or self.close_sent
            or self.response_started
        ):
            self._flush()
            try:
                await super().send(message)
            except LocalProtocolError as exc:
                # the server's shutdown answered a handshake still in the app with 500 and closed it: the app's own
                # answer (accept, or a refusal) has no one to go to, as for a peer that left
                raise ClientDisconnected() from exc
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        data = message.get('bytes')
        try:
            frame = self.conn.send(Message(data=message.get('text') if data is None else data))
        except LocalProtocolError as exc:
            raise ClientDisconnected() from exc
        self._outgoing.append(frame)
        self._outgoing_bytes += len(frame)
        if self._outgoing_bytes >= FLUSH_BYTES:
            self._flush()  # the transport's flow control sees it now: a peer that does not read stops our sends
        elif self._flushing is None:
            self._flushing = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        if self._outgoing:
            frames, self._outgoing, self._outgoing_bytes = self._outgoing, [], 0
            if not self.transport.is_closing():
                self.transport.write(b''.join(frames))

    def handle_close(self, event: CloseConnection) -> None:
        """Send what is waiting before the close frame echoes the peer's."""
        self._flush()
        super().handle_close(event)

    def _hold(self, delay: float) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
        self._later = self.loop.call_later(delay, self._next_slice)

    def _next_slice(self) -> None:
        self._later = None
        if self.transport.is_closing():
            return
        self.handle_events()
        if self._later is None and self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()

    async def receive(self) -> Any:
        """The next ASGI event; a paused socket is read again once the app took every event and no frame is held."""
        message = await self.queue.get()
        if self.read_paused and self.queue.empty() and self._later is None:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget a held slice, then let uvicorn clean up."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        self._outgoing.clear()
        self._outgoing_bytes = 0
        super().connection_lost(exc)
