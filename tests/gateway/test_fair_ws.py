"""The WebSocket protocol's per-connection read budget (nixfleet/gateway/fair_ws.py).

Proves, on virtual time, that a connection spends its burst at once and then no more than its rate, with a wait
that pays off the debt a slice left; and, over a real socket, that the server offers no compression (one small read
of compressed frames expanded into thousands of frames). That frames over the budget are delayed, never dropped or
reordered, and that a flood leaves `/health` answering, is shown in tests/ops/test_output_limits.py and
tests/ops/test_output_flood.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from websockets.asyncio.client import connect
from wsproto.utilities import LocalProtocolError

from nixfleet.gateway.fair_ws import READ_BURST, READ_RATE, FairWSProtocol, ReadBudget
from tests.support import AGENT_TOKEN, FakeAgent, RunningServer, eventually


def test_a_connection_spends_its_burst_at_once_then_its_rate() -> None:
    budget = ReadBudget(stamp=100.0)
    assert budget.available(100.0) == READ_BURST
    budget.spend(READ_BURST + READ_RATE / 2)  # a slice may overdraw: half a second of debt
    assert budget.wait(100.0) == pytest.approx(0.5, abs=0.01)
    assert budget.wait(100.25) == pytest.approx(0.25, abs=0.01)
    assert budget.wait(100.6) == 0.0
    assert budget.available(3600.0) == READ_BURST, 'idle time refills up to the burst, no more'


def test_time_going_backwards_never_adds_budget() -> None:
    budget = ReadBudget(stamp=100.0, tokens=0.0)
    assert budget.available(50.0) == 0.0
    assert budget.available(50.5) == pytest.approx(READ_RATE / 2)


async def test_the_server_offers_no_compression(server: RunningServer) -> None:
    async with connect(
        server.ws_url, additional_headers={'Authorization': f'Bearer {AGENT_TOKEN}'}, compression='deflate'
    ) as ws:
        assert ws.response is not None
        assert 'sec-websocket-extensions' not in ws.response.headers


async def test_a_steady_agent_is_read_without_pausing_its_socket_per_frame(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn pauses a socket after every message until the app took it: two selector changes per frame. While the
    app keeps up, the socket stays readable; every heartbeat still arrives, in order."""
    pauses: list[int] = []
    made = FairWSProtocol.connection_made

    def counting(protocol: FairWSProtocol, transport: Any) -> None:
        made(protocol, transport)
        pause = transport.pause_reading
        transport.pause_reading = lambda: (pauses.append(1), pause())

    monkeypatch.setattr(FairWSProtocol, 'connection_made', counting)
    agent = await FakeAgent(server.ws_url, 'steady-01').connect()
    for n in range(100):  # one frame at a time, each handled before the next is sent (as heartbeats arrive)
        await agent.heartbeat(generation=f'gen-{n}')
        await eventually(lambda n=n: server.dashboard.stream.value.hosts['steady-01'].get('generation') == f'gen-{n}')
    await agent.close()
    assert len(pauses) < 10, f'{len(pauses)} pauses for 100 frames'


async def test_an_answer_to_a_handshake_the_shutdown_already_closed_is_a_disconnect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen in CI: an agent connects while the dashboard stops; uvicorn's shutdown answers the handshake still in the
    endpoint with 500 and closes it, then the endpoint's own refusal (503, shutting down) met a closed wsproto
    connection and uvicorn logged "Exception in ASGI application". Such an answer has no one to go to: it is a
    disconnect (which uvicorn ends quietly), as for a peer that left."""

    async def closed(self: WSProtocol, message: Any) -> None:
        raise LocalProtocolError('Connection cannot be rejected in state ConnectionState.CLOSED')

    monkeypatch.setattr(WSProtocol, 'send', closed)
    protocol = FairWSProtocol.__new__(FairWSProtocol)  # only what `send` reads of a connection
    protocol.handshake_complete, protocol.close_sent, protocol.response_started = False, False, False
    protocol._outgoing, protocol._outgoing_bytes, protocol._flushing = [], 0, None
    with pytest.raises(ClientDisconnected):
        await protocol.send({'type': 'websocket.http.response.start', 'status': 503, 'headers': []})
