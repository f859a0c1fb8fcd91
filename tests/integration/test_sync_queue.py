"""A sync client's bounded queue, in process: whatever the client misses while it is stuck, what it finally gets
replays into exactly the server's state (overflow → one full state; get_state → one full state in order)."""

from __future__ import annotations

import asyncio
import json

from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.mirror import StateMirror, Verdict
from nixfleet.streams.state import FleetState, FleetStateStream
from nixfleet.streams.sync import SyncHub
from tests.support import eventually


class GatedSocket:
    """A client socket whose sends hang while the gate is closed (a client that does not read)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.sent: list[dict[str, object]] = []

    async def send(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(text))


def host_change(i: int) -> Change:
    return Change(ChangeType.HOST_UPDATED, id=f'h{i % 5}', fields={'metrics': {'cpu': i}})


def replay(messages: list[dict[str, object]]) -> StateMirror:
    mirror = StateMirror()
    for msg in messages:
        assert mirror.message(msg) is not Verdict.RESYNC, msg
    return mirror


async def test_overflow_while_stuck_becomes_one_full_state_then_deltas_resume() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(*(Change(ChangeType.HOST_ADDED, id=f'h{i}', payload={'id': f'h{i}'}) for i in range(5)))
    hub = SyncHub(stream, limit=50, limit_bytes=1 << 20)
    socket = GatedSocket()
    client = hub.attach(socket.send, 'stuck')
    runner = asyncio.create_task(client.run())
    await eventually(lambda: socket.sent)  # init
    socket.gate.clear()
    stream.emit(host_change(0))
    await eventually(lambda: client.queued == 0)  # that delta is now hanging in send
    peak = 0
    for i in range(1, 1000):
        stream.emit(host_change(i))
        peak = max(peak, client.queued)
    assert peak <= 50 and client.resyncs == 1 and client.queued == 0
    socket.gate.set()
    await eventually(lambda: socket.sent[-1]['type'] == 'full_state')
    stream.emit(host_change(1000), host_change(1001))
    await eventually(lambda: socket.sent[-1]['version'] == stream.version)
    assert [m['type'] for m in socket.sent] == ['init', 'delta', 'full_state', 'delta', 'delta']
    mirror = replay(socket.sent)
    assert mirror.state is not None and mirror.state.hosts == stream.value.hosts and mirror.version == stream.version
    runner.cancel()
    hub.detach(client)
    assert not stream.deltas.observers


async def test_get_state_is_answered_in_order_and_only_once_while_pending() -> None:
    stream = FleetStateStream(FleetState())
    stream.emit(*(Change(ChangeType.HOST_ADDED, id=f'h{i}', payload={'id': f'h{i}'}) for i in range(5)))
    hub = SyncHub(stream)
    socket = GatedSocket()
    socket.gate.clear()
    client = hub.attach(socket.send, 'asking')
    runner = asyncio.create_task(client.run())
    stream.emit(host_change(1))
    for _ in range(100):
        hub.handle_incoming(client, '{"type": "get_state"}')
    stream.emit(host_change(2))
    assert client.queued == 3  # delta, one pending full state, delta
    socket.gate.set()
    await eventually(lambda: len(socket.sent) == 4)
    assert [m['type'] for m in socket.sent] == ['init', 'delta', 'full_state', 'delta']
    assert socket.sent[2]['version'] == stream.version, 'the state is built when it is sent, not when asked'
    mirror = replay(socket.sent)
    assert mirror.version == stream.version and mirror.state is not None and mirror.state.hosts == stream.value.hosts
    assert hub.resyncs_requested == 100 and client.states_requested == 100
    runner.cancel()
    hub.detach(client)


async def test_beacons_reach_in_process_subscribers_and_clients() -> None:
    stream = FleetStateStream(FleetState())
    hub = SyncHub(stream)
    socket = GatedSocket()
    client = hub.attach(socket.send, 'beaconed')
    runner = asyncio.create_task(client.run())
    seen: list[int] = []
    subscription = hub.beacons.subscribe(seen.append)
    stream.emit(host_change(0))
    await hub.beacon_all()
    await eventually(lambda: socket.sent and socket.sent[-1]['type'] == 'sync')
    assert seen == [stream.version] and socket.sent[-1]['version'] == stream.version
    subscription.dispose()
    assert not hub.beacons.observers
    runner.cancel()
    hub.detach(client)
