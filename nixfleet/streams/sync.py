"""The sync protocol (SPEC §8) for any client: `init`, ordered `delta`s, the `sync` beacon and `get_state`.

Every message is `{"type", "version", "payload"}`. A client gets its snapshot and its delta subscription in one
synchronous step, so the first delta it receives is exactly `init.version + 1`. Each client has a bounded queue;
when it overflows the queued deltas are dropped and replaced by one `full_state`, never by unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from reactivex.abc import DisposableBase

from nixfleet.streams.changes import VersionedChange
from nixfleet.streams.state import FleetState, FleetStateStream

log = logging.getLogger(__name__)

#: Deltas a client may have queued before it is resynced instead.
QUEUE_LIMIT = 5000


def encode(mtype: str, version: int, payload: Any = None) -> str:
    """Serialize one sync message."""
    return orjson.dumps({'type': mtype, 'version': version, 'payload': payload}).decode()


def state_message(mtype: str, state: FleetState) -> str:
    """An `init` or `full_state` message for a snapshot."""
    return encode(mtype, state.version, {'state': state.to_wire(), 'version': state.version})


def delta_message(item: VersionedChange) -> str:
    """A `delta` message for one versioned change."""
    return encode('delta', item.version, {'change': item.change.to_wire(), 'version': item.version})


class SyncClient:
    """One subscribed client: a bounded outgoing queue drained by `run` through `send`."""

    def __init__(self, stream: FleetStateStream, send: Callable[[str], Awaitable[None]], name: str) -> None:
        self._stream = stream
        self._send = send
        self.name = name
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._resync = False
        self._subscription: DisposableBase | None = None
        self.resyncs = 0
        self.sent = 0

    def start(self) -> None:
        """Take the snapshot and subscribe atomically; queue `init`."""
        snapshot, self._subscription = self._stream.snapshot_and_subscribe(self._on_delta)
        self._push(state_message('init', snapshot))

    def _on_delta(self, item: VersionedChange) -> None:
        if self._resync:
            return
        if len(self._queue) >= QUEUE_LIMIT:
            log.warning('sync client %s fell %d messages behind; it will be resynced', self.name, QUEUE_LIMIT)
            self._queue.clear()
            self._resync = True
            self._wake.set()
            return
        self._push(delta_message(item))

    def _push(self, message: str) -> None:
        self._queue.append(message)
        self._wake.set()

    def beacon(self) -> None:
        """Queue a `sync` beacon with the current version (after every delta already queued)."""
        self._push(encode('sync', self._stream.version))

    def request_state(self) -> None:
        """Answer `get_state`: a `full_state` after whatever is queued."""
        self._push(state_message('full_state', self._stream.value))

    def reply_error(self, code: str, message: str) -> None:
        """Queue an `error` message for this client."""
        self._push(encode('error', self._stream.version, {'code': code, 'message': message}))

    async def run(self) -> None:
        """Drain the queue into `send` until cancelled or the connection fails."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._resync:
                self._resync = False
                self.resyncs += 1
                self._queue.clear()
                self._push(state_message('full_state', self._stream.value))
            while self._queue:
                await self._send(self._queue.popleft())
                self.sent += 1

    def close(self) -> None:
        """Dispose the subscription."""
        if self._subscription is not None:
            self._subscription.dispose()
            self._subscription = None


class SyncHub:
    """All connected sync clients; the beacon job calls `beacon_all`."""

    def __init__(self, stream: FleetStateStream) -> None:
        self.stream = stream
        self.clients: set[SyncClient] = set()
        self.resyncs_requested = 0

    def attach(self, send: Callable[[str], Awaitable[None]], name: str) -> SyncClient:
        """Create, start and register a client."""
        client = SyncClient(self.stream, send, name)
        client.start()
        self.clients.add(client)
        return client

    def detach(self, client: SyncClient) -> None:
        """Dispose and forget a client."""
        client.close()
        self.clients.discard(client)

    async def beacon_all(self) -> None:
        """Send the version beacon to every client."""
        for client in list(self.clients):
            client.beacon()

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
