"""Harness for the UI tests of the output panel, Pipelines and History views (this module holds no tests).

NiceGUI's `user` fixture runs a main file against NiceGUI's own app; our UI is mounted into the dashboard's app by
`mount_ui` (auth, API and agent socket around it), so instead the whole dashboard is served by uvicorn on the test's
event loop and `User`s (NiceGUI's simulated browser, no JavaScript) open its pages over real HTTP. Fake agents
connect to the same server, so every test drives the real core end to end: click → dispatch → agent → state → page.

Each test module defines its own `ui` fixture from `running_ui` (importing a fixture would shadow it in every test).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from nicegui import ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing.general import nicegui_reset_globals
from nicegui.testing.user import User

from nixfleet.agent import SimBehaviour, SimulatedFleet, Timing
from nixfleet.app import Dashboard, build_app
from nixfleet.config import Settings
from nixfleet.server import uvicorn_config
from nixfleet.ui import mount_ui
from tests.support import AGENT_TOKEN, PASSWORD, FakeAgent, eventually, free_port

#: Simulated durations are divided by this (a do-all pipeline takes well under a second).
SPEED = 50.0
#: Simulated agents reconnect at once.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)


@dataclass
class UiServer:
    """A dashboard with its UI served on 127.0.0.1:`port` from the test's loop; `user()` logs a browser in."""

    dashboard: Dashboard
    port: int
    agents: list[FakeAgent] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    fleets: list[SimulatedFleet] = field(default_factory=list)

    @property
    def http(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    async def user(self) -> User:
        """A new browser (its own cookies) that has logged in; it has not opened a page yet."""
        client = httpx.AsyncClient(base_url=self.http, timeout=10)
        self.clients.append(client)
        response = await client.post('/login', data={'password': PASSWORD})
        assert response.status_code == 303 and response.headers['location'] == '/', response.text
        return User(client)

    async def fleet(self, count: int = 3, behaviours: dict[str, SimBehaviour] | None = None) -> list[str]:
        """Simulated agents `sim-01`… (real protocol, realistic output at `SPEED`), online and idle; their names."""
        fleet = SimulatedFleet(
            url=f'ws://127.0.0.1:{self.port}/ws',
            token=AGENT_TOKEN,
            count=count,
            interval=2,
            speed=SPEED,
            timing=FAST,
            behaviours=behaviours,
        )
        self.fleets.append(fleet)
        await fleet.start()
        hosts = list(fleet.hosts)

        def settled() -> bool:
            views = self.dashboard.stream.value.hosts
            return all(
                (v := views.get(h)) and v.get('connection') == 'online' and v.get('lock_hash') and not v.get('busy')
                for h in hosts
            )

        await eventually(settled, timeout=10)
        return hosts

    async def agent(self, hostname: str, **register_fields: Any) -> FakeAgent:
        """A fake agent (the Go agent's protocol over a real WebSocket), registered."""
        agent = FakeAgent(f'ws://127.0.0.1:{self.port}/ws', hostname)
        self.agents.append(agent)
        return await agent.connect(**register_fields)


@asynccontextmanager
async def running_ui(settings: Settings) -> AsyncIterator[UiServer]:
    """Serve a fresh dashboard with its UI; stop it and reset NiceGUI's globals afterwards."""
    with nicegui_reset_globals():
        os.environ['NICEGUI_USER_SIMULATION'] = 'true'
        dashboard = Dashboard(settings)
        app = build_app(dashboard)
        mount_ui(app, dashboard)
        port = free_port()
        server = uvicorn.Server(uvicorn_config(app, settings, host='127.0.0.1', port=port, log_level='warning'))
        task = asyncio.create_task(server.serve())
        running = UiServer(dashboard, port)
        try:
            await eventually(lambda: server.started or task.done(), timeout=15)
            if task.done():
                task.result()
            yield running
        finally:
            for agent in running.agents:
                await agent.close()
            for fleet in running.fleets:
                await fleet.stop()
            for client in running.clients:
                await client.aclose()
            server.should_exit = True
            await asyncio.wait_for(task, 15)
            os.environ.pop('NICEGUI_USER_SIMULATION', None)
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download


def fail_on_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Fail the test if anything logged an ERROR (as NiceGUI's own `user` fixture does)."""
    errors = [r for r in caplog.get_records('call') if r.levelno >= logging.ERROR]
    assert not errors, [f'{r.name}: {r.getMessage()}' for r in errors]
