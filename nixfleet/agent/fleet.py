"""`SimulatedFleet`: many simulated agents in one process, for `nixfleet demo`, tests and load tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from nixfleet.agent.client import Timing, run_agent
from nixfleet.agent.config import AgentConfig
from nixfleet.agent.sim import SimBehaviour, SimRemote, SimulatedSystem
from nixfleet.agent.system import Platform

log = logging.getLogger(__name__)

#: Tokyo Night accents, one per host in turn.
PALETTE = ('#7aa2f7', '#bb9af7', '#9ece6a', '#e0af68', '#f7768e', '#7dcfff', '#ff9e64', '#2ac3de')
LOCATIONS = ('home', 'office', 'cloud')
STOP_TIMEOUT = 10.0


@dataclass(slots=True, kw_only=True)
class SimHost:
    """One simulated agent: its settings, its simulated machine and the task running it."""

    config: AgentConfig
    system: SimulatedSystem
    task: asyncio.Task[int] | None = None


def host_profile(index: int) -> tuple[Platform, str, str]:
    """Return (platform, location, device_type) for the index-th host: every 4th is a Mac, cloud hosts are servers."""
    location = LOCATIONS[index % len(LOCATIONS)]
    if index % 4 == 3:
        platform = Platform.HOME_MANAGER if index % 8 == 3 else Platform.NIX_DARWIN
        return platform, location if location != 'cloud' else 'home', 'laptop'
    if location == 'cloud':
        return Platform.NIXOS, location, 'server'
    return Platform.NIXOS, location, ('desktop', 'laptop', 'server')[(index // 3) % 3]


class SimulatedFleet:
    """Start N simulated agents with distinct hostnames against one dashboard; `stop()` ends them all.

    Every host gets a copy of `behaviour` (default: `SimBehaviour(speed=speed)`) unless `behaviours` names it.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        count: int = 8,
        interval: int = 5,
        speed: float = 1.0,
        prefix: str = 'sim',
        remote: SimRemote | None = None,
        behaviour: SimBehaviour | None = None,
        behaviours: Mapping[str, SimBehaviour] | None = None,
        ramp: float = 0.0,
        timing: Timing | None = None,
    ) -> None:
        self.remote = remote or SimRemote()
        self.hosts: dict[str, SimHost] = {}
        self._ramp = ramp
        self._timing = timing
        self._stop = asyncio.Event()
        width = max(2, len(str(count)))
        for index in range(count):
            hostname = f'{prefix}-{index + 1:0{width}d}'
            own = (behaviours or {}).get(hostname) or (behaviour or SimBehaviour(speed=speed)).copy()
            self.add(hostname, index=index, url=url, token=token, interval=interval, behaviour=own)

    def add(
        self, hostname: str, *, index: int, url: str, token: str, interval: int, behaviour: SimBehaviour
    ) -> SimHost:
        """Create one simulated host (not started) with the index-th profile and colour."""
        platform, location, device_type = host_profile(index)
        home = '/Users/admin' if platform is not Platform.NIXOS else '/home/admin'
        config = AgentConfig(
            url=url,
            token=SecretStr(token),
            hostname=hostname,
            interval=interval,
            repo_dir=f'{home}/Code/nixcfg',
            location=location,
            device_type=device_type,
            theme_color=PALETTE[index % len(PALETTE)],
        )
        system = SimulatedSystem(
            hostname=hostname,
            platform=platform,
            behaviour=behaviour,
            remote=self.remote,
            lock_age_days=(index * 3) % 11,  # a few hosts (8+ days) start with an outdated lock
        )
        host = self.hosts[hostname] = SimHost(config=config, system=system)
        return host

    async def start(self) -> None:
        """Start every agent (spread over `ramp` seconds); returns at once."""
        self._stop.clear()
        for index, host in enumerate(self.hosts.values()):
            if host.task is None or host.task.done():
                delay = self._ramp * index / max(1, len(self.hosts))
                host.task = asyncio.create_task(self._run(host, delay), name=f'sim-agent-{host.config.hostname}')
        log.info('simulated fleet started: %d agents', len(self.hosts))

    async def stop(self) -> None:
        """Close every agent's link (1000) and wait for them, cancelling stragglers after a bounded wait."""
        self._stop.set()
        tasks = [host.task for host in self.hosts.values() if host.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        log.info('simulated fleet stopped')

    async def __aenter__(self) -> SimulatedFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self, host: SimHost, delay: float) -> int:
        if delay:
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return 0
            except TimeoutError:
                pass
        try:
            return await run_agent(
                host.config,
                system=host.system,
                stop_event=self._stop,
                on_restart=host.system.restart,
                timing=self._timing,
            )
        except Exception:
            log.exception('simulated agent %s crashed', host.config.hostname)
            return 1
