"""A real dashboard with simulated agents connected, for API and CLI tests (`async with live_fleet(settings)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from nixfleet.agent import SimBehaviour, SimulatedFleet, Timing
from nixfleet.config import Settings
from tests.support import AGENT_TOKEN, RunningServer, eventually, start_server

#: The API token every live fleet accepts (held in memory by the dashboard; actor `api:tests`).
API_TOKEN = 'test-api-token-7d2e'
#: Simulated agents reconnect at once in tests.
FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)
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


def _settled(live: LiveFleet, hosts: list[str]) -> bool:
    """Every host registered, heartbeating and idle."""
    for host in hosts:
        view = live.host(host)
        if view.get('connection') != 'online' or not view.get('lock_hash') or view.get('busy') is not False:
            return False
    return True


@asynccontextmanager
async def live_fleet(
    settings: Settings, count: int = 3, behaviours: Mapping[str, SimBehaviour] | None = None
) -> AsyncIterator[LiveFleet]:
    """Serve a dashboard with `count` simulated agents (`sim-01`…), all online and idle before it yields."""
    server = await start_server(settings.model_copy(update={'stale_cleanup_interval': 3600.0}))
    server.dashboard.api_tokens['tests'] = API_TOKEN
    fleet = SimulatedFleet(
        url=server.ws_url,
        token=AGENT_TOKEN,
        count=count,
        interval=2,
        speed=SPEED,
        timing=FAST,
        behaviours=behaviours,
    )
    live = LiveFleet(server, fleet)
    try:
        await fleet.start()
        await eventually(lambda: _settled(live, list(fleet.hosts)), timeout=10)
        yield live
    finally:
        await fleet.stop()
        await server.stop()


def failing(*ops: str) -> SimBehaviour:
    """A simulated host on which these ops fail (at the fleet's speed)."""
    return SimBehaviour(speed=SPEED, fail_ops=set(ops))
