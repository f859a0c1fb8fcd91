"""Bad input from agents (docs/agent-protocol.md#bad-input, issue 2 "Bad input").

Each test runs next to a `witness` agent. Proves that malformed JSON, non-objects, unknown types, missing or mistyped
fields, non-finite numbers, absurd nesting and binary garbage are counted, logged once per kind and ignored while
the link stays up; that valid JSON in binary frames is accepted; that an unusable `register` (empty or invalid
hostname, bad fields) is refused with close 1008 and an `agent_refused` event, creating no host; that frames before
`register` are ignored; that a flood from one agent is bounded and logged once; that a `register` trying to rename a
link is ignored. In every case the server stays up, the witness's heartbeats still round-trip, and the stored rows are
exactly what the valid frames made them.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nixfleet.gateway.link import CONTROL_BURST, CONTROL_RATE
from nixfleet.streams.changes import VersionedChange
from tests.gateway.raw_agent import RawAgent
from tests.support import FakeAgent, RunningServer, eventually, heartbeat_payload, register_payload

GATEWAY_LOGGER = 'nixfleet.gateway.agents'
REFUSALS_LOGGER = 'nixfleet.gateway.refusals'
#: Columns a heartbeat rewrites every time; everything else must stay exactly as it was.
HEARTBEAT_ONLY = ('last_seen', 'metrics_json')


@pytest.fixture
async def witness(server: RunningServer) -> AsyncIterator[FakeAgent]:
    """An agent that behaves, connected throughout the test, to show bad input disturbs nobody else."""
    agent = await FakeAgent(server.ws_url, 'witness').connect()
    await agent.heartbeat(load=0.5)
    yield agent
    await agent.close()


#: Distinct heartbeat loads, so each round trip is recognisable in the state.
_loads = itertools.count(1)


async def _beat(server: RunningServer, send: Any, host: str) -> None:
    """Send a heartbeat through `send` and wait until the state shows it (a round trip through the server)."""
    load = next(_loads) / 1000
    await send('heartbeat', heartbeat_payload(load=load))
    hosts = server.dashboard.stream
    await eventually(lambda: (hosts.value.hosts[host].get('metrics') or {}).get('load') == load, timeout=2.0)


async def _rows(server: RunningServer) -> dict[str, dict[str, Any]]:
    rows = await server.dashboard.store.read(lambda db: list(db.table('hosts').rows))
    return {row['id']: {k: v for k, v in row.items() if k not in HEARTBEAT_ONLY} for row in rows}


async def _events(server: RunningServer) -> list[tuple[str, str | None]]:
    return await server.dashboard.store.read(
        lambda db: [tuple(r) for r in db.execute('SELECT action, host_id FROM event_log ORDER BY id')]
    )


#: What `_witness` sees on a server no bad input harmed.
UNHARMED = {'link_open': True, 'connection': 'online', 'health': 200}


async def _witness(server: RunningServer, witness: FakeAgent) -> dict[str, Any]:
    """After a heartbeat of the witness round-trips: whether its link is open, its connection, /health's status."""
    await _beat(server, witness.send, 'witness')
    async with httpx.AsyncClient() as client:
        health = (await client.get(f'{server.http}/health')).status_code
    return {
        'link_open': witness.ws is not None and witness.ws.close_code is None,
        'connection': server.dashboard.stream.value.hosts['witness']['connection'],
        'health': health,
    }


def _warnings(caplog: pytest.LogCaptureFixture, text: str, logger: str = GATEWAY_LOGGER) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and text in r.getMessage()]


BAD_FRAMES: dict[str, tuple[str | bytes, str]] = {
    'not-json': ('this is not json', 'malformed_json'),
    'empty-text': ('', 'malformed_json'),
    'truncated': ('{"type": "heartbeat", "payload": {', 'malformed_json'),
    'binary-garbage': (b'\xff\xfe\x00\x81garbage', 'malformed_json'),
    'deep-nesting': ('[' * 100_000, 'malformed_json'),
    'deep-nesting-in-payload': ('{"type": "heartbeat", "payload": ' + '{"a": ' * 50_000, 'malformed_json'),
    'huge-integer': ('1' * 5000, 'malformed_json'),
    'array': ('[1, 2, 3]', 'not_an_object'),
    'null': ('null', 'not_an_object'),
    'string': ('"heartbeat"', 'not_an_object'),
    'no-type': ('{"payload": {}}', 'missing_type'),
    'numeric-type': ('{"type": 5, "payload": {}}', 'missing_type'),
    'unknown-type': ('{"type": "no_such_type", "payload": {}}', 'unknown_type'),
    'dashboard-type': ('{"type": "registered", "payload": {"host_id": "witness"}}', 'unknown_type'),
    'heartbeat-no-payload': ('{"type": "heartbeat"}', 'invalid_payload'),
    'heartbeat-string-payload': ('{"type": "heartbeat", "payload": "x"}', 'invalid_payload'),
    'heartbeat-null-payload': ('{"type": "heartbeat", "payload": null}', 'invalid_payload'),
    'heartbeat-int-generation': ('{"type": "heartbeat", "payload": {"generation": 42}}', 'invalid_payload'),
    'heartbeat-string-metric': ('{"type": "heartbeat", "payload": {"metrics": {"cpu": "lots"}}}', 'invalid_payload'),
    'heartbeat-nan-metric': ('{"type": "heartbeat", "payload": {"metrics": {"cpu": NaN}}}', 'invalid_payload'),
    'heartbeat-infinite-metric': ('{"type": "heartbeat", "payload": {"metrics": {"ram": 1e999}}}', 'invalid_payload'),
    'status-no-status': ('{"type": "status", "payload": {}}', 'invalid_payload'),
    'status-string-exit': ('{"type": "status", "payload": {"status": "ok", "exit_code": "x"}}', 'invalid_payload'),
    'output-list-line': ('{"type": "output", "payload": {"line": ["a"]}}', 'invalid_payload'),
    'register-again-empty-hostname': ('{"type": "register", "payload": {"hostname": ""}}', 'invalid_payload'),
}


@pytest.mark.parametrize(('frame', 'kind'), list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
async def test_bad_frame_is_counted_and_ignored_and_the_link_stays(
    server: RunningServer, witness: FakeAgent, caplog: pytest.LogCaptureFixture, frame: str | bytes, kind: str
) -> None:
    caplog.set_level(logging.WARNING, logger=GATEWAY_LOGGER)
    sender = await RawAgent(server.port).connect()
    assert (await sender.register('sender'))['type'] == 'registered'
    await _beat(server, sender.send, 'sender')
    rows, events = await _rows(server), await _events(server)

    await sender.send_raw(frame)
    await sender.send_raw(frame)
    await _beat(server, sender.send, 'sender')  # handled after the bad frames, on the same link

    assert server.dashboard.gateway.malformed == {kind: 2}
    assert len(_warnings(caplog, 'ignored a bad frame')) == 1, 'logged once, not once per frame'
    assert [json.loads(f) for f in sender.received] == [{'type': 'registered', 'payload': {'host_id': 'sender'}}]
    assert not sender.closed.is_set()
    assert await _rows(server) == rows
    assert await _events(server) == events
    assert await _witness(server, witness) == UNHARMED
    await sender.close()


async def test_valid_json_in_binary_frames_is_accepted(server: RunningServer, witness: FakeAgent) -> None:
    agent = await RawAgent(server.port).connect()
    await agent.send_raw(json.dumps({'type': 'register', 'payload': register_payload('binary')}).encode())
    assert await agent.recv_json() == {'type': 'registered', 'payload': {'host_id': 'binary'}}

    async def send_binary(mtype: str, payload: Any) -> None:
        await agent.send_raw(json.dumps({'type': mtype, 'payload': payload}).encode())

    await _beat(server, send_binary, 'binary')
    assert server.dashboard.gateway.malformed == {}
    assert await _witness(server, witness) == UNHARMED
    await agent.close()


UNUSABLE_REGISTERS: dict[str, Any] = {
    'empty-hostname': register_payload(''),
    'blank-hostname': register_payload(' '),
    'hostname-with-space': register_payload('web 01'),
    'hostname-with-trailing-newline': register_payload('web\n'),
    'hostname-with-leading-dash': register_payload('-web'),
    'hostname-with-dots': register_payload('web.example.com'),
    'hostname-path': register_payload('../etc'),
    'hostname-non-ascii': register_payload('wéb'),
    'hostname-too-long': register_payload('x' * 64),
    'hostname-null': register_payload(None),
    'hostname-number': register_payload(42),
    'hostname-missing': {k: v for k, v in register_payload('web').items() if k != 'hostname'},
    'interval-zero': register_payload('web', heartbeat_interval=0),
    'interval-text': register_payload('web', heartbeat_interval='five'),
    'payload-string': 'web',
    'payload-null': None,
}


@pytest.mark.parametrize('payload', list(UNUSABLE_REGISTERS.values()), ids=list(UNUSABLE_REGISTERS))
async def test_unusable_register_is_refused_with_a_close_and_an_event(
    server: RunningServer, witness: FakeAgent, payload: Any
) -> None:
    rows = await _rows(server)
    agent = await RawAgent(server.port).connect()
    await agent.send_raw(json.dumps({'type': 'register', 'payload': payload}))

    assert await agent.wait_closed() == 1008
    assert agent.received == [], 'no registered reply'
    refused = await server.dashboard.store.read(
        lambda db: db.execute("SELECT level, message FROM event_log WHERE action = 'agent_refused'").fetchall()
    )
    assert len(refused) == 1 and refused[0][0] == 'warn' and 'unusable register' in refused[0][1]
    assert any(e['action'] == 'agent_refused' for e in server.dashboard.stream.value.events)
    assert await _rows(server) == rows, 'no host was created or changed'
    assert set(server.dashboard.stream.value.hosts) == {'witness'}
    assert await _witness(server, witness) == UNHARMED


async def test_an_agent_retrying_a_refused_register_is_journaled_and_logged_once(
    server: RunningServer, witness: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    """A misconfigured Go agent reconnects every second forever; that must not flood the journal or the log."""
    caplog.set_level(logging.WARNING, logger=REFUSALS_LOGGER)
    for _ in range(5):
        agent = await RawAgent(server.port).connect()
        await agent.send('register', register_payload('bad host'))
        assert await agent.wait_closed() == 1008, 'every attempt is still refused'

    refused = await server.dashboard.store.read(
        lambda db: db.execute("SELECT COUNT(*) FROM event_log WHERE action = 'agent_refused'").fetchone()[0]
    )
    assert refused == 1
    assert len(_warnings(caplog, 'unusable register', logger=REFUSALS_LOGGER)) == 1
    assert server.dashboard.gateway.malformed['invalid_payload'] == 5, 'still counted'
    assert await _witness(server, witness) == UNHARMED


async def test_longest_valid_hostname_is_accepted(server: RunningServer) -> None:
    agent = await RawAgent(server.port).connect()
    name = 'a' + 'b' * 61 + '9'
    assert await agent.register(name) == {'type': 'registered', 'payload': {'host_id': name}}
    await agent.close()


async def test_frames_before_register_are_ignored(
    server: RunningServer, witness: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=GATEWAY_LOGGER)
    agent = await RawAgent(server.port).connect()
    await agent.send('heartbeat', heartbeat_payload(generation='zzzzzzz'))
    await agent.send('output', {'line': 'early', 'stream': 'stdout', 'command': '', 'is_error': False})
    await agent.send('status', {'status': 'ok', 'command': 'pull', 'exit_code': 0})
    await agent.send('heartbeat', heartbeat_payload(generation='zzzzzzz'))

    assert await agent.register('late', generation='1234567') == {'type': 'registered', 'payload': {'host_id': 'late'}}
    assert len(_warnings(caplog, 'before register')) == 1
    assert server.dashboard.stream.value.hosts['late']['generation'] == '1234567'
    row = await server.dashboard.store.read(lambda db: db.table('hosts').get('late'))
    assert row['generation'] == '1234567' and row['lock_hash'] is None, 'nothing from the early heartbeats'
    await _beat(server, agent.send, 'late')
    assert await _witness(server, witness) == UNHARMED
    await agent.close()


async def test_flood_from_one_agent_is_bounded_and_logged_once(
    server: RunningServer, witness: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=GATEWAY_LOGGER)
    flooder = await RawAgent(server.port).connect()
    assert (await flooder.register('flooder'))['type'] == 'registered'
    applied: list[VersionedChange] = []

    def on_delta(item: VersionedChange) -> None:
        if item.change.id == 'flooder' and 'metrics' in (item.change.fields or {}):
            applied.append(item)  # one per heartbeat the gateway let through

    _, subscription = server.dashboard.stream.snapshot_and_subscribe(on_delta)
    gateway = server.dashboard.gateway
    flood = 2000
    started = time.monotonic()
    for i in range(flood):
        await flooder.send('heartbeat', heartbeat_payload(load=i / 10_000))
    assert await _witness(server, witness) == UNHARMED  # not blocked, even while the flood is being handled

    # every flood frame dropped or applied (the heartbeat count also holds the witness's, so it reached the flood's
    # size two frames early once frames were handled a slice per loop turn)
    await eventually(lambda: gateway.malformed['flood'] + len(applied) >= flood, timeout=10)
    elapsed = time.monotonic() - started
    subscription.dispose()
    assert len(applied) <= CONTROL_BURST + CONTROL_RATE * elapsed + 1, f'{len(applied)} applied in {elapsed:.2f} s'
    assert gateway.malformed['flood'] == flood - len(applied)
    assert len(_warnings(caplog, 'faster than')) == 1
    assert not flooder.closed.is_set(), 'the flooder keeps its link; only the excess is dropped'
    assert await _witness(server, witness) == UNHARMED
    await flooder.close()


async def test_register_cannot_rename_a_link(
    server: RunningServer, witness: FakeAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=GATEWAY_LOGGER)
    agent = await RawAgent(server.port).connect()
    assert (await agent.register('alpha'))['type'] == 'registered'
    await _beat(server, agent.send, 'alpha')
    rows, events = await _rows(server), await _events(server)

    await agent.send('register', register_payload('beta'))
    await agent.send('register', register_payload('witness'))
    await _beat(server, agent.send, 'alpha')  # handled after both renames: the link is still alpha's

    assert len(agent.received) == 1, 'no registered reply to a rename'
    assert len(_warnings(caplog, 're-register as')) == 1
    assert 'beta' not in server.dashboard.stream.value.hosts
    assert await _rows(server) == rows
    assert await _events(server) == events
    assert server.dashboard.gateway.is_connected('alpha')
    assert await _witness(server, witness) == UNHARMED
    await agent.close()
