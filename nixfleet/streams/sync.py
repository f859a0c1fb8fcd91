"""The sync protocol (docs/architecture.md#sync-protocol) for any client: `init`, ordered `delta`s, the `sync` beacon
and `get_state`.

Every message is `{"type", "version", "payload"}`. A client gets its snapshot and its delta subscription in one
synchronous step, so the first delta it receives is exactly `init.version + 1`. Each client has a bounded queue
(messages and bytes); when it overflows the queued messages are dropped and replaced by one `full_state` built when
the client drains again, never by unbounded memory. A `get_state` queues a placeholder that becomes a `full_state` of
the then current state when its turn comes, and only one is ever pending: a client repeating it without reading
costs nothing more.

The hub also publishes each beacon on `beacons`, so in-process clients (the NiceGUI tabs) check their version at the
same moments as the `/api/sync` clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from reactivex.abc import DisposableBase
from reactivex.subject import Subject

from nixfleet.streams.changes import VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream

log = logging.getLogger(__name__)

#: Messages a client may have queued before it is resynced instead.
QUEUE_LIMIT = 5000
#: Bytes a client may have queued before it is resynced instead.
QUEUE_BYTES = 16 * 1024 * 1024
#: Shortest time between two drains of a client's queue (seconds): what a delta may wait to leave with the next ones.
SEND_WINDOW = 0.005
#: Error replies a client gets; after that its bad messages are only counted (a client that floods garbage).
ERROR_REPLIES = 100
#: Queue placeholder for a requested `full_state` (built when it is its turn to be sent).
_FULL_STATE = None


def encode(mtype: str, version: int, payload: Any = None) -> str:
    """Serialize one sync message."""
    return orjson.dumps({'type': mtype, 'version': version, 'payload': payload}).decode()


def state_message(mtype: str, state: FleetState) -> str:
    """An `init` or `full_state` message for a snapshot."""
    return encode(mtype, state.version, {'state': state.to_wire(), 'version': state.version})


def delta_message(item: VersionedChange) -> str:
    """A `delta` message for one versioned change."""
    return encode('delta', item.version, {'change': item.change.to_wire(), 'version': item.version})


class DeltaEncoder:
    """Encode each delta once for all clients (they receive the same object one after the other)."""

    __slots__ = ('_item', '_text')

    def __init__(self) -> None:
        self._item: VersionedChange | None = None
        self._text = ''

    def __call__(self, item: VersionedChange) -> str:
        if item is not self._item:
            self._item, self._text = item, delta_message(item)
        return self._text


class SyncClient:
    """One subscribed client: a bounded outgoing queue drained by `run` through `send`."""

    def __init__(
        self,
        stream: FleetStateStream,
        send: Callable[[str], Awaitable[None]],
        name: str,
        *,
        encoder: DeltaEncoder | None = None,
        limit: int = QUEUE_LIMIT,
        limit_bytes: int = QUEUE_BYTES,
    ) -> None:
        self._stream = stream
        self._send = send
        self._encode = encoder or DeltaEncoder()
        self._limit = limit
        self._limit_bytes = limit_bytes
        self.name = name
        self._queue: deque[str | None] = deque()  # None: the requested full state
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._init: str | None = None
        self._resync = False
        self._state_requested = False
        self._subscription: DisposableBase | None = None
        #: Full states sent because the queue overflowed.
        self.resyncs = 0
        #: Full states sent because the client asked (`get_state`).
        self.states_requested = 0
        #: Messages the client sent that were not understood.
        self.bad_messages = 0
        self.sent = 0

    @property
    def queued(self) -> int:
        """Messages waiting to be sent."""
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        """Characters waiting to be sent."""
        return self._queued_bytes

    def start(self) -> None:
        """Take the snapshot and subscribe atomically; queue `init`."""
        snapshot, self._subscription = self._stream.snapshot_and_subscribe(self._on_delta)
        self._init = state_message('init', snapshot)  # sent first, outside the bounded queue
        self._wake.set()

    def _on_delta(self, item: VersionedChange) -> None:
        if not self._resync:
            self._push(self._encode(item))

    def _push(self, message: str) -> None:
        if self._resync:
            return  # a full state is pending: it will hold everything queued meanwhile
        if len(self._queue) >= self._limit or self._queued_bytes + len(message) > self._limit_bytes:
            log.warning(
                'sync client %s fell behind (%d messages, %d bytes queued); it will be resynced',
                self.name,
                len(self._queue),
                self._queued_bytes,
            )
            self.resyncs += 1
            self._schedule_full_state()
            return
        self._queue.append(message)
        self._queued_bytes += len(message)
        self._wake.set()

    def _schedule_full_state(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0
        self._state_requested = False
        self._resync = True
        self._wake.set()

    def beacon(self) -> None:
        """Queue a `sync` beacon with the current version (after every delta already queued)."""
        self._push(encode('sync', self._stream.version))

    def request_state(self) -> None:
        """Answer `get_state`: a `full_state` after what is queued, of the state current when it is sent."""
        self.states_requested += 1
        if not self._resync and not self._state_requested:  # else one is on its way already
            self._state_requested = True
            self._queue.append(_FULL_STATE)
            self._wake.set()

    def reply_error(self, code: str, message: str) -> None:
        """Queue an `error` message for this client (only the first `ERROR_REPLIES` of them)."""
        self.bad_messages += 1
        if self.bad_messages == 1:
            log.warning('sync client %s sent a bad message: %s', self.name, message)
        if self.bad_messages <= ERROR_REPLIES:
            self._push(encode('error', self._stream.version, {'code': code, 'message': message}))

    async def run(self) -> None:
        """Drain the queue into `send` until cancelled or the connection fails.

        At most one drain per `SEND_WINDOW`: a change after a quiet spell goes out at once, and under a steady stream
        the deltas of a few milliseconds leave together (one socket write for all of them, see
        nixfleet.gateway.fair_ws) instead of one write per delta.
        """
        loop = asyncio.get_running_loop()
        drained = -SEND_WINDOW
        while True:
            await self._wake.wait()
            if (pause := drained + SEND_WINDOW - loop.time()) > 0:
                await asyncio.sleep(pause)
            drained = loop.time()
            self._wake.clear()
            if self._init is not None:
                init, self._init = self._init, None
                await self._send(init)
                self.sent += 1
            if self._resync:  # the snapshot goes out at once; deltas after it queue up behind
                self._resync = False
                await self._send(state_message('full_state', self._stream.value))
                self.sent += 1
            while self._queue and not self._resync:
                queued = self._queue.popleft()
                if queued is _FULL_STATE:
                    self._state_requested = False
                    message = state_message('full_state', self._stream.value)
                else:
                    message = queued
                    self._queued_bytes -= len(message)
                await self._send(message)
                self.sent += 1

    def close(self) -> None:
        """Dispose the subscription."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None


class SyncHub:
    """All connected sync clients; the beacon job calls `beacon_all`."""

    def __init__(self, stream: FleetStateStream, *, limit: int = QUEUE_LIMIT, limit_bytes: int = QUEUE_BYTES) -> None:
        self.stream = stream
        #: Per-client queue bounds (messages, characters) for clients attached from now on.
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.clients: set[SyncClient] = set()
        self.resyncs_requested = 0
        self._encoder = DeltaEncoder()
        #: The version at every beacon, for in-process clients (the UI's tabs); emitted on the loop thread.
        self.beacons: Subject[int] = Subject()

    def attach(self, send: Callable[[str], Awaitable[None]], name: str) -> SyncClient:
        """Create, start and register a client."""
        client = SyncClient(
            self.stream, send, name, encoder=self._encoder, limit=self.limit, limit_bytes=self.limit_bytes
        )
        client.start()
        self.clients.add(client)
        return client

    def detach(self, client: SyncClient) -> None:
        """Dispose and forget a client."""
        client.close()
        self.clients.discard(client)

    async def beacon_all(self) -> None:
        """Send the version beacon to every client and to the in-process subscribers of `beacons`."""
        for client in list(self.clients):
            client.beacon()
        try:
            self.beacons.on_next(self.stream.version)
        except Exception:
            log.exception('a beacon subscriber failed')

    def handle_incoming(self, client: SyncClient, raw: str | bytes) -> None:
        """Handle one client message: `get_state` queues a `full_state`; anything else an `error` reply."""
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            client.reply_error('invalid_request', 'message is not JSON')
            return
        mtype = message.get('type') if isinstance(message, dict) else None
        if mtype == 'get_state':
            self.resyncs_requested += 1
            client.request_state()
        elif mtype not in ('subscribe', 'unsubscribe', 'ping'):
            client.reply_error('invalid_request', f'unknown message type {str(mtype)[:40]!r}')
