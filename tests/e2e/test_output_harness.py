"""Helpers for the browser tests of the output panel, Pipelines and History (this module holds no tests).

Simulated agents (the real agent code with simulated tools) run in the test process and connect to the dashboard
process over its agent socket; the browser's own session cookie drives the API where a test needs to start work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from playwright.async_api import Page

from nixfleet.agent import SimBehaviour, SimulatedFleet, Timing
from tests.e2e.conftest import DashboardProcess
from tests.support import AGENT_TOKEN, PASSWORD, eventually

#: Simulated agents reconnect at once.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)


@asynccontextmanager
async def simulated_fleet(
    dashboard: DashboardProcess,
    count: int = 3,
    *,
    speed: float = 10.0,
    behaviours: Mapping[str, SimBehaviour] | None = None,
) -> AsyncIterator[list[str]]:
    """`count` simulated agents (`sim-01`…) connected to the dashboard, online and idle; yields their names."""
    fleet = SimulatedFleet(
        url=dashboard.ws_url,
        token=AGENT_TOKEN,
        count=count,
        interval=2,
        speed=speed,
        timing=FAST,
        behaviours=dict(behaviours or {}),
    )
    await fleet.start()
    try:
        hosts = list(fleet.hosts)
        await until_idle(dashboard, hosts)
        yield hosts
    finally:
        await fleet.stop()


async def until_idle(dashboard: DashboardProcess, hosts: list[str], timeout: float = 15.0) -> None:
    """Wait until every host is online with a heartbeat and runs nothing (asking the API)."""
    async with httpx.AsyncClient(base_url=dashboard.http, timeout=5) as http:
        login = await http.post('/login', data={'password': PASSWORD})
        assert login.status_code == 303, login.text

        async def idle() -> bool:
            views = {h['id']: h for h in (await http.get('/api/hosts')).json()['hosts']}
            return all(
                (v := views.get(h)) and v.get('connection') == 'online' and v.get('lock_hash') and not v['busy']
                for h in hosts
            )

        await eventually(idle, timeout=timeout, interval=0.1)


async def api(page: Page, base: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """Call the dashboard's API with the browser's session (as the page's own buttons would act)."""
    response = await page.request.fetch(base + path, method=method, data=dict(body) if body is not None else None)
    assert response.ok, f'{method} {path}: {response.status} {await response.text()}'
    return await response.json()
