"""Fixtures for integration tests: local fakes of version.json and GitHub (never the network), a dashboard tracking
them on virtual time, and simulated agents pulling from the fake config repo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from nixfleet.agent import SimulatedFleet
from nixfleet.app import Dashboard
from nixfleet.config import Settings
from tests.integrations.config_repo import FAST, HOSTS, ConfigRepo, compartments
from tests.integrations.fake_github import REPO, TOKEN, FakeGitHub
from tests.integrations.fake_version import FakeVersionServer
from tests.support import AGENT_TOKEN, ManualClock, RunningServer, eventually, idle, start_server


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """A fake GitHub API on a free loopback port (no PRs until the test adds them)."""
    fake = FakeGitHub()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def repo(version_server: FakeVersionServer, github: FakeGitHub) -> ConfigRepo:
    """The fake config repo behind both fakes."""
    return ConfigRepo(version_server, github)


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time for the dashboard (deadlines, the publication bound)."""
    return ManualClock()


@pytest.fixture
async def server(
    settings: Settings, version_server: FakeVersionServer, github: FakeGitHub, repo: ConfigRepo, clock: ManualClock
) -> AsyncIterator[RunningServer]:
    """A dashboard tracking the fakes (fetched at start, then on demand), following merges every 20 ms."""
    tracked = settings.model_copy(
        update={
            'version_url': version_server.url,
            'version_fetch_ttl': 3600.0,
            'github_token': SecretStr(TOKEN),
            'github_repo': REPO,
            'github_api_url': github.api_url,
            'github_poll_ttl': 3600.0,
            'tick_interval': 3600.0,
        }
    )
    dashboard = Dashboard(tracked, clock=clock)
    dashboard.github.recheck_delay = 0
    dashboard.github.publish_interval = 0.02
    running = await start_server(tracked, dashboard)
    await eventually(lambda: running.dashboard.stream.value.fleet['remote']['commit'] == repo.head)
    yield running
    await running.stop()


@pytest.fixture
async def sim_fleet(server: RunningServer, repo: ConfigRepo) -> AsyncIterator[SimulatedFleet]:
    """Three simulated Python agents (fast) tracking the fake config repo, online and current."""
    fleet = SimulatedFleet(
        url=server.ws_url, token=AGENT_TOKEN, count=3, interval=1, speed=100, prefix='sim', remote=repo.sim, timing=FAST
    )
    async with fleet:
        # idle: each agent's first heartbeat is in, so its registration has been fully handled (a command
        # dispatched before that would be taken for one the agent lost by restarting)
        await eventually(
            lambda: (
                idle(server.dashboard.stream.value.hosts, HOSTS)
                and all(compartments(server, h).get('git') == 'ok' for h in HOSTS)
            ),
            timeout=10,
        )
        yield fleet
