"""Property-based bad input at the agent endpoint (issue 7 acceptance): hypothesis builds frames, a real server gets
them.

Frames: random JSON (NaN and infinities included), binary garbage, random text, every known message type with a
random payload, valid payloads with one field replaced by a random value, huge strings and odd unicode. Each frame
goes over one registered agent link, followed by a marker frame on the same link: the link handles frames in order,
so once the marker is counted the frame has been handled completely. Then:
- the link is still open, the server answers, and a witness agent's heartbeat still round-trips;
- when the frame was rejected (counted as malformed), the stored rows and the state version are exactly as before.
Frames stay below the 512 KiB limit (the 1009 close is tested in tests/gateway) and within the flood allowance.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nixfleet.config import Settings
from tests.support import FakeAgent, RunningServer, eventually, heartbeat_payload, register_payload, start_server

#: Columns a frame of any kind may touch (when it arrived), and a heartbeat always rewrites.
HEARTBEAT_ONLY = frozenset({'last_seen', 'metrics_json'})
#: Tables compared before and after a rejected frame.
TABLES = ('hosts', 'commands', 'pipelines', 'event_log', 'settings', 'host_tokens', 'api_tokens')
MARKER = json.dumps({'type': 'zz_fuzz_marker', 'payload': {}})
KNOWN_TYPES = (
    'register',
    'heartbeat',
    'output',
    'status',
    'command_complete',
    'command_rejected',
    'operation_progress',
    'test_progress',
)
TEMPLATES: dict[str, dict[str, Any]] = {
    'register': register_payload('fuzz1'),
    'heartbeat': heartbeat_payload(),
    'status': {'status': 'ok', 'command': 'pull', 'exit_code': 0, 'message': 'done'},
    'output': {'line': 'building…', 'stream': 'stdout', 'command': '', 'is_error': False},
    'command_rejected': {'command': 'switch', 'reason': 'busy'},
    'operation_progress': {'command': 'switch', 'phase': 'build', 'progress': 0.5},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
#: Up to 60,000 characters: at most 360 KB encoded (a control character is escaped as 6 bytes), under the limit.
huge_text = st.builds(lambda c, n: c * n, st.characters(), st.integers(min_value=1_000, max_value=60_000))


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


def _mutated(mtype: str) -> st.SearchStrategy[str]:
    template = TEMPLATES[mtype]
    keys = st.sampled_from(sorted(template))
    replace = st.builds(lambda k, v: {**template, k: v}, keys, json_values | huge_text)
    drop = keys.map(lambda k: {key: value for key, value in template.items() if key != k})
    return (replace | drop).map(lambda payload: _dumps({'type': mtype, 'payload': payload}))


frames: st.SearchStrategy[str | bytes] = st.one_of(
    json_values.map(_dumps),
    st.binary(max_size=600),
    st.text(max_size=300),
    st.builds(lambda t, p: _dumps({'type': t, 'payload': p}), st.sampled_from(KNOWN_TYPES), json_values),
    st.sampled_from(sorted(TEMPLATES)).flatmap(_mutated),
    huge_text.map(lambda s: _dumps({'type': s[:5000], 'payload': {'line': s}})),
    huge_text.map(lambda s: _dumps({'type': 'output', 'payload': {'line': s, 'stream': s[:100]}})),
    st.text(min_size=1, max_size=50).map(lambda s: '{"type": "heartbeat", "payload": {"generation": "' + s),
)


@pytest.fixture
async def links(settings: Settings) -> AsyncIterator[tuple[RunningServer, FakeAgent, FakeAgent]]:
    """A server (no liveness ticks: nothing changes on its own) with a witness agent and the agent under attack."""
    server = await start_server(settings.model_copy(update={'tick_interval': 3600.0}))
    witness = await FakeAgent(server.ws_url, 'witness').connect()
    target = await FakeAgent(server.ws_url, 'fuzz1').connect()
    for agent in (witness, target):
        await agent.heartbeat()
    await eventually(lambda: len(server.dashboard.stream.value.hosts) == 2)
    yield server, witness, target
    await witness.close()
    await target.close()
    await server.stop()


async def _stored(server: RunningServer) -> dict[str, list[dict[str, Any]]]:
    def read(db: Any) -> dict[str, list[dict[str, Any]]]:
        return {
            table: [{k: v for k, v in row.items() if k not in HEARTBEAT_ONLY} for row in db.table(table).rows]
            for table in TABLES
            if db.table(table).exists()
        }

    return await server.dashboard.store.read(read)


def _counted(server: RunningServer) -> tuple[int, int]:
    gateway = server.dashboard.gateway
    return sum(gateway.frames.values()), sum(gateway.malformed.values())


#: Frames per example (the frame and the marker) times examples stays below the link's flood allowance
#: (nixfleet.gateway.link.CONTROL_BURST), so every frame is judged on its content.
EXAMPLES = 80


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frame=frames)
async def test_random_frames_never_hurt_the_server_or_change_state_when_rejected(
    links: tuple[RunningServer, FakeAgent, FakeAgent], frame: str | bytes
) -> None:
    server, _, target = links
    before, version = await _stored(server), server.dashboard.stream.version
    accepted_before, refused_before = _counted(server)

    await target.send_raw(frame)
    await target.send_raw(MARKER)  # counted once the frame before it was handled completely
    await eventually(lambda: sum(_counted(server)) >= accepted_before + refused_before + 2, timeout=10)

    assert target.ws is not None and target.ws.close_code is None, 'the link was closed'
    assert server.dashboard.gateway.malformed['flood'] == 0
    accepted, _ = _counted(server)
    event('accepted' if accepted > accepted_before else 'refused')
    if accepted == accepted_before:  # the frame was refused
        assert await _stored(server) == before
        assert server.dashboard.stream.version == version


async def test_after_the_storm_everyone_is_fine(links: tuple[RunningServer, FakeAgent, FakeAgent]) -> None:
    """The witness and the attacked link still work after a burst of the nastiest frames."""
    server, witness, target = links
    for raw in ('NaN', '{"type":"heartbeat","payload":{"metrics":{"cpu":Infinity}}}', b'\x00' * 500, '[' * 10_000):
        await target.send_raw(raw)
    await target.heartbeat(load=3.25)
    await witness.heartbeat(load=1.5)
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts['fuzz1'].get('metrics') or {}).get('load') == 3.25)
    await eventually(lambda: (hosts.value.hosts['witness'].get('metrics') or {}).get('load') == 1.5)
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get('/health')).status_code == 200
    assert not math.isnan(float(hosts.value.hosts['fuzz1']['metrics']['load']))
