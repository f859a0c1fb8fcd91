"""A real dashboard with simulated agents connected, for API and CLI tests (`async with live_fleet(settings)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from nixfleet.agent import SimBehaviour, SimulatedFleet
from nixfleet.config import Settings
from tests.support import RunningServer, eventually, idle, simulated_agents, start_server

#: The API token every live fleet accepts (held in memory by the dashboard; actor `api:tests`).
API_TOKEN = 'test-api-token-7d2e'
#: Simulated durations are divided by this (a do-all pipeline takes well under a second).
SPEED = 50.0


@dataclass
class LiveFleet:
    """A served dashboard plus its simulated agents."""

    server: RunningServer
    fleet: SimulatedFleet

    @property
    def url(self) -> str:
        return self.server.http

    def host(self, host: str) -> dict[str, Any]:
        """The host's view in the current state snapshot."""
        return dict(self.server.dashboard.stream.value.hosts.get(host) or {})

    def client(self, token: str | None = API_TOKEN) -> httpx.AsyncClient:
        """An HTTP client for the API, with `token` (none when None)."""
        headers = {'Authorization': f'Bearer {token}'} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


@asynccontextmanager
async def live_fleet(
    settings: Settings, count: int = 3, behaviours: Mapping[str, SimBehaviour] | None = None
) -> AsyncIterator[LiveFleet]:
    """Serve a dashboard with `count` simulated agents (`sim-01`…), all online and idle before it yields."""
    server = await start_server(settings.model_copy(update={'tick_interval': 3600.0}))
    server.dashboard.api_tokens['tests'] = API_TOKEN
    fleet = simulated_agents(server.ws_url, count, speed=SPEED, behaviours=behaviours)
    live = LiveFleet(server, fleet)
    try:
        await fleet.start()
        await eventually(lambda: idle(server.dashboard.stream.value.hosts, fleet.hosts), timeout=10)
        yield live
    finally:
        await fleet.stop()
        await server.stop()


def failing(*ops: str) -> SimBehaviour:
    """A simulated host on which these ops fail (at the fleet's speed)."""
    return SimBehaviour(speed=SPEED, fail_ops=set(ops))
