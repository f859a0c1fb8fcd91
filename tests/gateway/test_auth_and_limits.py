"""Who may connect and how big a frame may be
(docs/agent-protocol.md#connection-and-authentication, docs/agent-protocol.md#limits, issue 2 acceptance).

Proves that:
- a wrong, empty or missing bearer token, or another auth scheme, gets HTTP 401 with `WWW-Authenticate: Bearer`
  and no WebSocket upgrade, and leaves no link behind;
- a 1 MiB frame closes only the sender's link, with 1009, while another agent connected at the same time keeps its
  link and its heartbeats round-trip; a frame just under the 512 KiB limit is accepted;
- a second link for a hostname replaces the first (closed with 4000) without the host ever showing offline.
"""

from __future__ import annotations

import base64
import contextlib
import json

import httpx
import pytest

from nixfleet.streams.changes import Change
from tests.gateway.raw_agent import RawAgent, UpgradeRefused
from tests.support import AGENT_TOKEN, FakeAgent, RunningServer, eventually

ONE_MIB = 1 << 20


async def _round_trip(agent: FakeAgent, server: RunningServer, load: float) -> None:
    """A heartbeat from `agent` reaches the state (so its link and the server both work)."""
    await agent.heartbeat(load=load)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts[agent.hostname].get('metrics') or {}).get('load') == load)
    assert hosts.value.hosts[agent.hostname]['connection'] == 'online'


def _output_frame(size: int) -> str:
    """An `output` frame of about `size` bytes."""
    frame = json.dumps(
        {'type': 'output', 'payload': {'line': '', 'stream': 'stdout', 'command': '', 'is_error': False}}
    )
    return frame.replace('"line": ""', '"line": "' + 'x' * (size - len(frame)) + '"')


@pytest.mark.parametrize(
    'authorization',
    [
        None,
        'Bearer wrong-token',
        'Bearer',
        f'Bearer {AGENT_TOKEN}x',
        f'Basic {base64.b64encode(AGENT_TOKEN.encode()).decode()}',
        AGENT_TOKEN,
    ],
    ids=['missing', 'wrong', 'empty', 'prefix-of-longer', 'basic-scheme', 'no-scheme'],
)
async def test_bad_or_missing_token_gets_401_before_the_upgrade(
    server: RunningServer, authorization: str | None
) -> None:
    with pytest.raises(UpgradeRefused) as refused:
        await RawAgent(server.port, token=None).connect(authorization=authorization)
    assert refused.value.status == 401
    assert refused.value.headers.get('www-authenticate') == 'Bearer'
    assert json.loads(refused.value.body)['error']['code'] == 'unauthorized'
    assert server.dashboard.gateway.links == {}
    good = await RawAgent(server.port).connect()
    assert await good.register('after-refusal') == {'type': 'registered', 'payload': {'host_id': 'after-refusal'}}
    await good.close()


async def test_one_mib_frame_closes_only_that_link_with_1009(server: RunningServer) -> None:
    witness = await FakeAgent(server.ws_url, 'witness').connect()
    await _round_trip(witness, server, 0.1)
    big = await RawAgent(server.port).connect()
    assert (await big.register('big-sender'))['type'] == 'registered'

    with contextlib.suppress(ConnectionError):  # the dashboard may cut us off while we are still sending
        await big.send_raw(_output_frame(ONE_MIB))

    assert await big.wait_closed() == 1009
    hosts = server.dashboard.stream
    await eventually(lambda: hosts.value.hosts['big-sender']['connection'] == 'offline')
    assert server.dashboard.gateway.malformed['too_big'] == 1
    await _round_trip(witness, server, 0.2)
    assert witness.ws is not None and witness.ws.close_code is None
    async with httpx.AsyncClient() as client:
        assert (await client.get(f'{server.http}/health')).json()['agents_connected'] == 1
    await witness.close()


async def test_frame_just_under_the_limit_is_accepted(server: RunningServer) -> None:
    agent = await FakeAgent(server.ws_url, 'chatty').connect()
    limit = server.dashboard.settings.max_frame_bytes
    await agent.send_raw(_output_frame(limit - 1024))
    await _round_trip(agent, server, 0.3)
    assert server.dashboard.gateway.frames['output'] == 1
    await agent.close()


async def test_second_link_for_a_hostname_replaces_the_first(server: RunningServer) -> None:
    first = await RawAgent(server.port).connect()
    assert (await first.register('web-01', generation='aaaaaaa'))['type'] == 'registered'
    changes: list[Change] = []
    _, subscription = server.dashboard.stream.snapshot_and_subscribe(
        lambda item: changes.append(item.change) if item.change.id == 'web-01' else None
    )
    second = await FakeAgent(server.ws_url, 'web-01').connect(generation='bbbbbbb')

    assert await first.wait_closed() == 4000
    await _round_trip(second, server, 0.4)
    subscription.dispose()
    view = server.dashboard.stream.value.hosts['web-01']
    assert view['generation'] == 'b6a4b4d'  # from the second link's heartbeat, after its register said bbbbbbb
    assert all((c.fields or c.payload or {}).get('connection', 'online') == 'online' for c in changes)
    actions = await server.dashboard.store.read(
        lambda db: [r[0] for r in db.execute("SELECT action FROM event_log WHERE host_id = 'web-01' ORDER BY id")]
    )
    assert actions == ['host_added', 'connect']
    await second.close()
    await eventually(lambda: server.dashboard.stream.value.hosts['web-01']['connection'] == 'offline')
