"""Refused agent connections in the journal: per source and token kind, never floodable (issue 15 item 7).

A real server on virtual time; agents are refused over real WebSocket upgrades (sources told apart through a trusted
proxy's X-Forwarded-For). Proves that:
- the first refusal of a source and token kind is journaled and logged at once; further ones only counted, and the
  window's end brings one summary with the count ("12 refused agent connections from 10.0.0.7 in the last hour");
- a source that stays quiet for a window is forgotten: its next refusal is news again;
- a flood from many sources keeps the tracked sources, the events and the log lines bounded ("other sources");
- no token, right or wrong, appears in an event or a log line.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.gateway.refusals import MAX_SOURCES, CredentialKind, Refusal, RefusalReason
from tests.support import AGENT_TOKEN, ManualClock, RunningServer, start_server

HOUR = 3600.0
REFUSALS_LOGGER = 'nixfleet.gateway.refusals'


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time: refusal windows end only when the test advances it."""
    return ManualClock()


@pytest.fixture
async def proxied(settings: Settings, clock: ManualClock) -> AsyncIterator[RunningServer]:
    """A dashboard behind a trusted proxy on 127.0.0.1 (so X-Forwarded-For names the source); no periodic tick."""
    behind = settings.model_copy(update={'trusted_proxies': ['127.0.0.1'], 'tick_interval': HOUR})
    server = await start_server(behind, Dashboard(behind, clock=clock))
    yield server
    await server.stop()


async def _refused_upgrade(server: RunningServer, source: str, token: str | None) -> int:
    """Try an agent upgrade from `source` with `token`; return the HTTP status of the refusal."""
    headers = {'X-Forwarded-For': source}
    if token is not None:
        headers['Authorization'] = f'Bearer {token}'
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, additional_headers=headers, open_timeout=5):
            pass
    return refused.value.response.status_code


async def _events(server: RunningServer) -> list[dict]:
    """The `agent_refused` events in the journal (the database), oldest first."""
    return await server.dashboard.store.read(
        lambda db: [dict(r) for r in db.query("SELECT * FROM event_log WHERE action = 'agent_refused' ORDER BY id")]
    )


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == REFUSALS_LOGGER]


async def test_many_refusals_from_one_source_give_one_event_then_one_summary_with_the_count(
    proxied: RunningServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REFUSALS_LOGGER)
    wrong = f'wrong-{secrets.token_hex(8)}'
    for _ in range(12):
        assert await _refused_upgrade(proxied, '10.0.0.7', wrong) == 401
        clock.advance(60)

    [first] = await _events(proxied)
    assert first['message'].startswith('Agent connection from 10.0.0.7 refused (shared token): bad or missing token')
    assert first['level'] == 'warn'
    assert len(_logged(caplog)) == 1

    clock.advance(HOUR - 12 * 60)
    await proxied.dashboard.tick()
    first, summary = await _events(proxied)
    assert summary['message'] == (
        '12 refused agent connections from 10.0.0.7 in the last hour (shared token: bad or missing token ×12)'
    )
    assert '"count": 12' in summary['details'] and '"source": "10.0.0.7"' in summary['details']
    assert len(_logged(caplog)) == 2
    assert any(e['action'] == 'agent_refused' and e['message'] == summary['message']
               for e in proxied.dashboard.stream.value.events)  # fmt: skip

    clock.advance(HOUR)
    await proxied.dashboard.tick()  # a quiet window: nothing to say, the source is forgotten
    assert len(await _events(proxied)) == 2
    assert await _refused_upgrade(proxied, '10.0.0.7', wrong) == 401
    assert len(await _events(proxied)) == 3, 'news again after a quiet window'
    assert wrong not in caplog.text and wrong not in str(await _events(proxied))


async def test_sources_and_token_kinds_are_counted_apart(proxied: RunningServer, clock: ManualClock) -> None:
    guessed_agent_token = 'nfagent_' + secrets.token_urlsafe(32)
    for source, token in [('10.0.0.7', None), ('10.0.0.7', guessed_agent_token), ('10.0.0.8', None)] * 3:
        assert await _refused_upgrade(proxied, source, token) == 401
    firsts = await _events(proxied)
    assert [(e['message'].split(' refused ')[0], e['message'].split('(')[1].split(')')[0]) for e in firsts] == [
        ('Agent connection from 10.0.0.7', 'no token'),
        ('Agent connection from 10.0.0.7', 'agent token'),
        ('Agent connection from 10.0.0.8', 'no token'),
    ]
    clock.advance(HOUR)
    await proxied.dashboard.tick()
    summaries = [e['message'] for e in (await _events(proxied))[3:]]
    assert sorted(summaries) == [
        '3 refused agent connections from 10.0.0.7 in the last hour (agent token: bad or missing token ×3)',
        '3 refused agent connections from 10.0.0.7 in the last hour (no token: bad or missing token ×3)',
        '3 refused agent connections from 10.0.0.8 in the last hour (no token: bad or missing token ×3)',
    ]
    assert guessed_agent_token not in str(await _events(proxied))


async def test_register_refusals_count_with_the_upgrade_refusals_of_their_source(
    proxied: RunningServer, clock: ManualClock
) -> None:
    for _ in range(3):
        async with connect(proxied.ws_url, additional_headers=_shared('10.0.0.9')) as ws:
            await ws.send('{"type": "register", "payload": {"hostname": "bad host"}}')
            await ws.wait_closed()
        assert ws.close_code == 1008
    for _ in range(2):
        assert await _refused_upgrade(proxied, '10.0.0.9', 'not-the-shared-token') == 401
    [first] = await _events(proxied)
    assert 'unusable register' in first['message'] and '(shared token)' in first['message']
    clock.advance(HOUR)
    await proxied.dashboard.tick()
    summary = (await _events(proxied))[-1]['message']
    assert summary == (
        '5 refused agent connections from 10.0.0.9 in the last hour '
        '(shared token: unusable register ×3, bad or missing token ×2)'
    )


async def test_a_flood_from_many_sources_stays_bounded(
    proxied: RunningServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=REFUSALS_LOGGER)
    sources = [f'10.1.{i // 250}.{i % 250}' for i in range(MAX_SOURCES + 36)]
    for source in sources:
        assert await _refused_upgrade(proxied, source, None) == 401
    journal = proxied.dashboard.gateway.refusals
    for i in range(20_000):  # far more, straight into the journal: the same bounds hold
        source = f'10.2.{i // 250 % 250}.{i % 250}'
        await journal.refused(
            Refusal(source=source, kind=CredentialKind.NONE, reason=RefusalReason.BAD_TOKEN, detail='no bearer token')
        )

    assert journal.tracked <= MAX_SOURCES + 1
    firsts = await _events(proxied)
    assert len(firsts) == MAX_SOURCES + 1
    assert firsts[-1]['message'].startswith('Agent connection from another source refused (no token)')
    assert len(_logged(caplog)) == MAX_SOURCES + 1
    clock.advance(HOUR)
    await proxied.dashboard.tick()
    summaries = (await _events(proxied))[len(firsts) :]
    assert [s['message'] for s in summaries] == [
        '20036 refused agent connections from other sources in the last hour (no token: bad or missing token ×20036)'
    ]
    assert journal.tracked == 1  # only the still-refusing "other sources"; each tracked source tried once


async def test_a_partial_window_is_summarised_at_shutdown(settings: Settings, clock: ManualClock) -> None:
    server = await start_server(settings, Dashboard(settings, clock=clock))
    for _ in range(4):
        with pytest.raises(InvalidStatus):
            async with connect(server.ws_url, additional_headers={'Authorization': 'Bearer nope'}):
                pass
    clock.advance(600)
    await server.stop()

    conn = sqlite3.connect(settings.database_path)
    try:
        rows = conn.execute("SELECT message FROM event_log WHERE action = 'agent_refused' ORDER BY id").fetchall()
    finally:
        conn.close()
    assert [m for (m,) in rows][-1] == (
        '4 refused agent connections from 127.0.0.1 in the last 10 min (shared token: bad or missing token ×4)'
    )


def _shared(source: str) -> dict[str, str]:
    return {'X-Forwarded-For': source, 'Authorization': f'Bearer {AGENT_TOKEN}'}
