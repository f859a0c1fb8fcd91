"""The always-live guarantee (docs/architecture.md#views-follow-state, issue 4) in a real browser, measured (the time
bounds are asserted with
`--perf`; the default run records the times and asserts the rest).

- after the browser is offline for 10 s while hosts change, the page shows the current state within 1 s;
- a tab whose transactions were lost heals within one beacon interval;
- after a dashboard restart (kill -9, same port and data) the open page recovers by itself;
- two tabs stay identical through 1,000 rapid changes;
- a tab left open for a long run (beacon 0.5 s, continuous changes) never drifts and never needs a resync;
- opening and closing tabs leaves no subscription behind.

"The current state" is what the server says: the `/api/sync` snapshot (read with the page's own session cookie),
projected exactly as the tab projects it (`host_row`), compared with the tab's rows and its table cells.
The dashboards run with NIXFLEET_TEST_HOOKS=1 (`tests/e2e/sync_hooks.py`) for observer counts and lost
transactions, and with an accelerated beacon.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page
from websockets.asyncio.client import connect

from nixfleet.viewmodels.table_sync import host_row
from tests.e2e.conftest import (
    BROWSER_TESTS,
    ROOT,
    AgentFactory,
    BrowserTab,
    DashboardProcess,
    launcher,
    log_in,
    open_tab,
    wait_connected,
    wait_tab_current,
)
from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET, FakeAgent, free_port

pytestmark = BROWSER_TESTS

#: Acceptance bound: after the connection is back, the page shows the current state within this many seconds.
CURRENT_WITHIN = 1.0
#: How long the browser stays offline.
OFFLINE_SECONDS = 10.0
#: Latency allowed on top of a beacon interval for a healed tab to show it (one round trip and a render).
HEAL_SLACK = 0.3
#: Duration of the long-run test (seconds); NIXFLEET_SYNC_SOAK_SECONDS overrides it.
SOAK_SECONDS = float(os.environ.get('NIXFLEET_SYNC_SOAK_SECONDS', '30'))

HOOKS = {'NIXFLEET_TEST_HOOKS': '1', 'NIXFLEET_SYNC_BEACON_INTERVAL': '1'}
TABLE = "getElement(document.querySelector('.nf-host-table').id.slice(1))"


# -- the server's state and the tab's --------------------------------------------------------------------------------
async def session_cookie(page: Page) -> str:
    cookies = {c['name']: c['value'] for c in await page.context.cookies()}
    return f'nixfleet_session={cookies["nixfleet_session"]}'


async def server_state(base: str, page: Page) -> tuple[int, dict[str, dict[str, Any]]]:
    """The server's version and host rows, read from `/api/sync` as the logged-in user."""
    url = base.replace('http://', 'ws://') + '/api/sync'
    async with connect(url, additional_headers={'Cookie': await session_cookie(page)}, origin=base) as ws:  # type: ignore[arg-type]
        init = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert init['type'] == 'init'
    rows = {h['id']: json.loads(json.dumps(host_row(h))) for h in init['payload']['state']['hosts']}
    return init['version'], rows


async def tab_state(page: Page) -> tuple[int, dict[str, dict[str, Any]]]:
    """The version and rows the tab's table holds."""
    got = await page.evaluate(f'() => {{ const t = {TABLE}; return [t.version, JSON.parse(JSON.stringify(t.rows))]; }}')
    return got[0], got[1]


async def cells(page: Page) -> dict[str, tuple[str, str]]:
    """What the table shows per host: (connection, CPU cell text)."""
    return await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.nf-row[data-host]')].map(
        (r) => [r.dataset.host, [r.dataset.conn, r.querySelector('div.c-cpu').innerText.trim()]]))""")


def expected_cells(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """The cells the table renders for these rows (CPU rounded half up, like JavaScript's Math.round)."""
    return {k: (r['conn'], '—' if r['cpu'] is None else f'{math.floor(r["cpu"] + 0.5)}%') for k, r in rows.items()}


async def tab_and_server(page: Page, base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the tab holds and shows, and what it must (the server's state): equal when the tab is current."""
    version, rows = await server_state(base, page)
    tab_version, tab_rows = await tab_state(page)
    shown = await cells(page)
    tab = {
        'version': tab_version,
        # the tab adds `run` (its running command's progress) to the host's row
        'rows': {key: {k: row.get(k) for k in rows.get(key, row)} for key, row in tab_rows.items()},
        'cells': {k: tuple(v) for k, v in shown.items()},
    }
    return tab, {'version': version, 'rows': rows, 'cells': expected_cells(rows)}


async def hooks(page: Page, base: str) -> dict[str, Any]:
    response = await page.request.get(f'{base}/_test/sync')
    assert response.ok, await response.text()
    return await response.json()


async def badge(page: Page) -> dict[str, str | None]:
    el = page.locator('[data-nf-resynced]')
    return {
        'resyncs': await el.get_attribute('data-resyncs'),
        'catchups': await el.get_attribute('data-catchups'),
        'title': await el.get_attribute('title'),
    }


def metrics(cpu: float) -> dict[str, float]:
    return {'cpu': cpu, 'ram': 40.0, 'swap': 0.0, 'load': 0.5}


# -- 1. offline for 10 s -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('dashboard_process', [HOOKS], indirect=True)
async def test_offline_for_10s_then_current_state_within_1s_of_reconnecting(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, record_property: Any, perf: bool
) -> None:
    base = dashboard_process.http
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, base)
    fleet = {name: await agents(name) for name in ('off-a', 'off-b', 'off-c')}
    for agent in fleet.values():
        await agent.heartbeat(metrics=metrics(10))
    await page.wait_for_selector('.nf-row[data-host="off-c"]')
    await wait_tab_current(page, base)
    await page.evaluate("""() => {
        window.__nfSamePage = 'marker';
        window.addEventListener('online', () => { window.__nfOnlineAt = performance.now(); });
        window.socket.on('connect', () => { window.__nfConnectAt = performance.now(); });
    }""")

    await page.context.set_offline(True)  # Chromium drops the socket.io WebSocket at once (checked)
    await page.wait_for_function('!window.socket.connected', timeout=2000)
    await page.wait_for_selector('[data-nf-conn][data-state=offline]', timeout=2000)
    # the hosts change while the browser is away: the scenario needs the time to pass, it waits for no effect
    leaving = fleet.pop('off-c')
    started = time.monotonic()
    beat = 0
    while time.monotonic() - started < OFFLINE_SECONDS:
        beat += 1
        for i, agent in enumerate(fleet.values()):
            await agent.heartbeat(metrics=metrics(20 + beat + i))
        if beat == 5:
            await leaving.close()
            fleet['off-d'] = await agents('off-d')
        await asyncio.sleep(0.5)
    assert not await page.evaluate('window.socket.connected')
    version, rows = await server_state(base, page)  # the test's own connection was never offline
    want = json.dumps(expected_cells(rows), sort_keys=True, separators=(',', ':'), ensure_ascii=False)

    back = time.monotonic()
    await page.context.set_offline(False)
    shown_at = await page.wait_for_function(
        f"""() => {{
            const t = {TABLE};
            const shown = Object.fromEntries([...document.querySelectorAll('.nf-row[data-host]')].map(
                (r) => [r.dataset.host, [r.dataset.conn, r.querySelector('div.c-cpu').innerText.trim()]]));
            const sorted = Object.fromEntries(Object.keys(shown).sort().map((k) => [k, shown[k]]));
            return t.version === {version} && JSON.stringify(sorted) === {json.dumps(want)} && performance.now();
        }}""",
        timeout=5000,
    )
    elapsed = time.monotonic() - back
    timings = await page.evaluate('[window.__nfOnlineAt, window.__nfConnectAt]')
    shown_ms = await shown_at.json_value()
    from_online = (shown_ms - timings[0]) / 1000
    from_socket = (shown_ms - timings[1]) / 1000
    record_property('offline_current_after_online_s', round(from_online, 3))
    record_property('offline_current_after_socket_s', round(from_socket, 3))
    print(
        f'\noffline {OFFLINE_SECONDS:.0f} s: current state {from_online * 1000:.0f} ms after the browser was online, '
        f'{from_socket * 1000:.0f} ms after the socket reconnected ({elapsed * 1000:.0f} ms as seen by the test)'
    )
    if perf:  # the bound holds on a quiet machine; the default run records the times (above)
        assert from_online < CURRENT_WITHIN
        assert from_socket < CURRENT_WITHIN
        assert elapsed < CURRENT_WITHIN + 0.2  # the test's own clock, round trips to the browser included
    assert await page.evaluate('window.__nfSamePage') == 'marker', 'the tab was kept: no reload'
    held, wanted = await tab_and_server(page, base)
    assert held == wanted
    assert (await badge(page))['catchups'] == '1'
    await page.wait_for_selector('[data-nf-conn][data-state=connected]')
    assert [e for e in tab.errors if 'ERR_INTERNET_DISCONNECTED' not in e] == []  # failed attempts while offline


# -- 2. lost transactions heal at the beacon --------------------------------------------------------------------------
@pytest.mark.parametrize('dashboard_process', [HOOKS], indirect=True)
async def test_tab_whose_deltas_were_dropped_heals_within_one_beacon(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, record_property: Any, perf: bool
) -> None:
    base = dashboard_process.http
    beacon = float(HOOKS['NIXFLEET_SYNC_BEACON_INTERVAL'])
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, base)
    agent = await agents('drift-01')
    await agent.heartbeat(metrics=metrics(11))
    before = await wait_tab_current(page, base)
    client = await page.evaluate('window.clientId')
    await page.evaluate("window.__nfSamePage = 'marker'")

    response = await page.request.post(f'{base}/_test/sync/drop?client={client}&n=1')
    assert response.ok, await response.text()
    await agent.heartbeat(metrics=metrics(77))  # its one transaction is lost on the way to the browser
    deadline = time.monotonic() + 5
    while (await hooks(page, base))['tabs'][client]['version'] == before:  # the server sent (and lost) it
        assert time.monotonic() < deadline, 'the change never reached the tab on the server'
        await asyncio.sleep(0.01)
    drifted = time.monotonic()
    # What the browser holds now is not asserted: the beacon may heal it at any moment from here on (it did, on a
    # slow run, before the tab was read). The one resync asserted below is the proof that the transaction was lost.

    await page.wait_for_function(
        "document.querySelector('.nf-row[data-host=\"drift-01\"] div.c-cpu')?.innerText.trim() === '77%'",
        timeout=(beacon + 2) * 1000,
    )
    healed = time.monotonic() - drifted
    record_property('dropped_delta_healed_s', round(healed, 3))
    print(f'\nlost transaction healed after {healed * 1000:.0f} ms (beacon every {beacon:.1f} s)')
    if perf:  # the bound holds on a quiet machine; the default run records the time (above)
        assert healed < beacon + HEAL_SLACK
    held, wanted = await tab_and_server(page, base)
    assert held == wanted
    assert await page.evaluate('window.__nfSamePage') == 'marker'
    shown = await badge(page)
    assert shown['resyncs'] == '1' and shown['title'] and 'full re-render' in shown['title']
    assert await page.locator('[data-nf-resynced].is-a, [data-nf-resynced].is-b').count() == 1  # "Resynced" shows
    assert tab.errors == []


# -- 3. dashboard restart ---------------------------------------------------------------------------------------------
class Restartable:
    """`nixfleet serve` that can be killed and started again on the same port and data dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.tmp_path = tmp_path
        self.log_path = tmp_path / 'dashboard.log'
        self.env = {
            **os.environ,
            'NIXFLEET_LISTEN': f'127.0.0.1:{self.port}',
            'NIXFLEET_DATA_DIR': str(tmp_path / 'data'),
            'NIXFLEET_PASSWORD_HASH': PASSWORD_HASH,
            'NIXFLEET_SESSION_SECRET': SESSION_SECRET,
            'NIXFLEET_AGENT_TOKEN': AGENT_TOKEN,
            'NIXFLEET_LOG_LEVEL': 'warning',
            'NICEGUI_STORAGE_PATH': str(tmp_path / 'nicegui'),
            **HOOKS,
        }
        self.process: asyncio.subprocess.Process | None = None

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    async def start(self) -> float:
        """Start and wait until healthy; return the monotonic time it became healthy."""
        with self.log_path.open('ab') as log_file:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                '-m',
                launcher(self.env),
                'serve',
                cwd=ROOT,
                env=self.env,
                stdout=log_file,
                stderr=log_file,
            )
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                assert self.process.returncode is None, self.log_path.read_text()[-3000:]
                try:
                    if (await http.get(f'{self.http}/health', timeout=1)).status_code == 200:
                        return time.monotonic()
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, 'dashboard not healthy within 30 s'
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """kill -9: no clean shutdown (the version continues from its reservation)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await asyncio.wait_for(self.process.wait(), 5)


@pytest_asyncio.fixture(loop_scope='session')
async def restartable(tmp_path: Path) -> AsyncIterator[Restartable]:
    """A dashboard process the test may kill and restart (stopped after the test)."""
    dashboard = Restartable(tmp_path)
    try:
        yield dashboard
    finally:
        await dashboard.stop()


async def test_open_page_recovers_by_itself_after_a_dashboard_restart(
    restartable: Restartable, browser: Any, record_property: Any
) -> None:
    await restartable.start()
    base = restartable.http
    ws_url = base.replace('http://', 'ws://') + '/ws'
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, base)
    agent = await FakeAgent(ws_url, 'phoenix').connect()
    await agent.heartbeat(metrics=metrics(11))
    before = await wait_tab_current(page, base)
    await page.evaluate("window.__nfSamePage = 'marker'")

    await restartable.kill()
    await agent.close()
    await page.wait_for_selector('[data-nf-conn][data-state=reconnecting]', timeout=10_000)
    healthy = await restartable.start()
    agents = [await FakeAgent(ws_url, 'phoenix').connect(), await FakeAgent(ws_url, 'newcomer').connect()]
    for i, a in enumerate(agents):
        await a.heartbeat(metrics=metrics(66 + i))
    await page.wait_for_function(
        """() => {
            const cpu = (h) => document.querySelector(`.nf-row[data-host="${h}"][data-conn="online"] div.c-cpu`);
            return cpu('phoenix')?.innerText.trim() === '66%' && cpu('newcomer')?.innerText.trim() === '67%';
        }""",
        timeout=15_000,
    )
    recovered = time.monotonic() - healthy
    after = await wait_tab_current(page, base)
    record_property('restart_recovered_s', round(recovered, 3))
    print(f'\nafter the restart the page showed the new state {recovered * 1000:.0f} ms after the server was healthy')
    assert after > before, 'the version never goes backwards across a restart'
    assert page.url == f'{base}/'  # still the dashboard (the signed session survives), no login
    held, wanted = await tab_and_server(page, base)
    assert held == wanted
    await wait_connected(page)
    for a in agents:
        await a.close()


# -- 4. two tabs through 1,000 rapid changes --------------------------------------------------------------------------
@pytest.mark.parametrize('dashboard_process', [HOOKS], indirect=True)
async def test_two_tabs_stay_identical_through_1000_rapid_changes(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, record_property: Any
) -> None:
    base = dashboard_process.http
    first = await open_tab(browser)
    await log_in(first, base)
    second = BrowserTab(await first.page.context.new_page(), [])
    await second.page.goto(f'{base}/')
    await wait_connected(second.page)
    fleet = [await agents(f'burst-{i:02d}') for i in range(20)]
    before = await wait_tab_current(first.page, base)
    await wait_tab_current(second.page, base)

    per_agent = 1000 // len(fleet)
    started = time.monotonic()

    last = 50.5  # every agent's last heartbeat: once the server shows it everywhere, it took all 1,000

    async def burst(i: int, agent: FakeAgent) -> None:
        for n in range(per_agent - 1):
            await agent.heartbeat(metrics=metrics((i * 7 + n) % 100))
        await agent.heartbeat(metrics=metrics(last))

    await asyncio.gather(*(burst(i, a) for i, a in enumerate(fleet)))
    sent = time.monotonic() - started
    deadline = time.monotonic() + 30
    while True:
        version, rows = await server_state(base, first.page)
        if all(row['cpu'] == last for row in rows.values()):
            break
        assert time.monotonic() < deadline, (
            f'the server did not take the 1,000 heartbeats within 30 s: at version {version} (from {before}), '
            f'{sum(row["cpu"] == last for row in rows.values())} agents done; '
            f'{ {k: (r["conn"], r["cpu"]) for k, r in rows.items() if r["cpu"] != last} }\n{dashboard_process.log()}'
        )
        await asyncio.sleep(0.05)
    assert version - before >= 1000
    processed = time.monotonic() - started
    for tab in (first, second):
        version = await wait_tab_current(tab.page, base)
    shown = time.monotonic() - started
    record_property('burst_1000_sent_s', round(sent, 3))
    record_property('burst_1000_both_tabs_current_s', round(shown, 3))
    print(
        f'\n1,000 heartbeats from 20 agents: sent in {sent:.2f} s, applied by the server in {processed:.2f} s, '
        f'both tabs at version {version} after {shown:.2f} s'
    )
    one, two = await tab_state(first.page), await tab_state(second.page)
    assert one == two
    for tab in (first, second):
        held, wanted = await tab_and_server(tab.page, base)
        assert held == wanted
        assert (await badge(tab.page))['resyncs'] == '0', 'every transaction chained: no gap, no re-render'
    assert first.errors == [] and second.errors == []


# -- 5. a long run never drifts ---------------------------------------------------------------------------------------
@pytest.mark.timeout(SOAK_SECONDS + 90)
@pytest.mark.parametrize('dashboard_process', [{**HOOKS, 'NIXFLEET_SYNC_BEACON_INTERVAL': '0.5'}], indirect=True)
async def test_tab_left_open_never_drifts(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory, record_property: Any
) -> None:
    base = dashboard_process.http
    tab = await open_tab(browser)
    page = tab.page
    await log_in(tab, base)
    fleet = {f'soak-{i:02d}': await agents(f'soak-{i:02d}') for i in range(10)}
    await wait_tab_current(page, base)
    client = await page.evaluate('window.clientId')
    await page.evaluate("window.__nfSamePage = 'marker'")

    started = time.monotonic()
    changes = 0
    rejoins = 0
    lags: list[int] = []
    tick = 0
    while time.monotonic() - started < SOAK_SECONDS:
        tick += 1
        for i, agent in enumerate(fleet.values()):
            await agent.heartbeat(metrics=metrics((tick + i * 13) % 100))
            changes += 1
        if tick % 25 == 0:  # every ~5 s one host leaves and comes back: connection changes and counts move
            name = f'soak-{(tick // 25) % 10:02d}'
            await fleet[name].close()
            fleet[name] = await agents(name)
            rejoins += 1
        if tick % 10 == 0:
            stats = await hooks(page, base)
            lags.append(stats['state_version'] - (await tab_state(page))[0])
        await asyncio.sleep(0.2)  # the load's own pace (50 changes/s), not a wait for an effect

    version = await wait_tab_current(page, base, timeout=2)
    stats = await hooks(page, base)
    held, wanted = await tab_and_server(page, base)
    assert held == wanted
    record_property('soak_seconds', SOAK_SECONDS)
    record_property('soak_changes', changes)
    record_property('soak_max_lag_versions', max(lags))
    print(
        f'\n{SOAK_SECONDS:.0f} s open, {changes} heartbeats, {rejoins} reconnecting hosts, final version {version}; '
        f'browser behind the server by at most {max(lags)} versions when sampled; '
        f'{stats["tabs"][client]["beacons_checked"]} beacons checked, {stats["tabs"][client]["resyncs"]} resyncs'
    )
    assert stats['tabs'][client]['resyncs'] == 0, 'no drift ever needed a re-render'
    assert (await badge(page))['resyncs'] == '0'
    assert stats['tabs'][client]['beacons_checked'] >= SOAK_SECONDS / 0.5 * 0.8, 'the tab follows the beacon'
    assert await page.evaluate('window.__nfSamePage') == 'marker'
    assert tab.errors == []


# -- 6. no subscription outlives its tab ------------------------------------------------------------------------------
@pytest.mark.parametrize('dashboard_process', [HOOKS], indirect=True)
async def test_opening_and_closing_tabs_leaves_no_subscriptions(
    dashboard_process: DashboardProcess, browser: Any, agents: AgentFactory
) -> None:
    base = dashboard_process.http
    control = await open_tab(browser)
    await log_in(control, base)
    await agents('watched-01')
    baseline = await hooks(control.page, base)
    assert baseline['beacon_observers'] == 1  # the control tab
    for _ in range(20):
        page = await control.page.context.new_page()
        await page.goto(f'{base}/')
        await wait_connected(page)
        assert (await hooks(control.page, base))['beacon_observers'] == 2
        await page.close()
    deadline = time.monotonic() + 10
    while (now := await hooks(control.page, base))['delta_observers'] != baseline['delta_observers']:
        assert time.monotonic() < deadline, (
            f'{now["delta_observers"]} delta observers, {baseline["delta_observers"]} before'
        )
        await asyncio.sleep(0.05)
    assert now['beacon_observers'] == baseline['beacon_observers']
    await wait_tab_current(control.page, base)  # the control tab still follows
    assert control.errors == []
