"""merge-pr and merge-deploy end to end: a real dashboard, a local fake GitHub API and version.json, simulated agents.

The fake config repo ties the fakes together the way GitHub and the Pages workflow do: merging the PR moves `main`
(the simulated agents pull from it) and — at once, or when the test says so — version.json.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from nixfleet.agent import SimRemote, SimulatedFleet, Timing
from nixfleet.app import Dashboard
from nixfleet.config import Settings
from nixfleet.models import CommandStatus as C
from nixfleet.models import PipelineStatus as P
from nixfleet.ops.pipeline_store import PipelineRun
from tests.integrations.fake_github import REPO, TOKEN, FakeGitHub, FakePR, sha_of
from tests.integrations.fake_version import FakeVersionServer, version_json
from tests.ops.helpers import Fleet
from tests.support import AGENT_TOKEN, ManualClock, RunningServer, eventually, start_server

FAST = Timing(reconnect_delay=0.05, backoff_initial=0.05, backoff_max=0.4)
HOSTS = ['sim-01', 'sim-02', 'sim-03']
GREEN = dict.fromkeys(('agent', 'git', 'lock', 'system', 'tests'), 'ok')


class ConfigRepo:
    """The config repo's `main` (head, flake.lock hash), shared with simulated agents and published to version.json."""

    def __init__(self, version_server: FakeVersionServer, github: FakeGitHub) -> None:
        self.version_server = version_server
        self.head = sha_of('initial')
        self.lock = hashlib.sha256(b'initial lock').hexdigest()
        self.sim = SimRemote(head=self.head[:7], lock_hash=self.lock)
        self.auto_publish = True
        github.on_merge = self.merged
        self.publish()

    def merged(self, pr: FakePR, sha: str) -> None:
        """GitHub merged a flake-update PR (called on the fake's thread): main moves to the merge, with a new lock."""
        self.head, self.lock = sha, hashlib.sha256(sha.encode()).hexdigest()
        self.sim.head, self.sim.lock_hash = sha[:7], self.lock
        if self.auto_publish:
            self.publish()

    def publish(self) -> None:
        """The Pages workflow ran: version.json shows main."""
        self.version_server.serve(version_json(commit=self.head, lock=self.lock))


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
        await eventually(lambda: all(compartments(server, h).get('git') == 'ok' for h in HOSTS), timeout=10)
        yield fleet


def fleet_state(server: RunningServer) -> dict[str, Any]:
    return dict(server.dashboard.stream.value.fleet)


def compartments(server: RunningServer, host: str) -> dict[str, str]:
    view = server.dashboard.stream.value.hosts.get(host) or {}
    return {name: part['status'] for name, part in (view.get('compartments') or {}).items()}


async def finished(server: RunningServer, run: PipelineRun, timeout: float = 20.0) -> PipelineRun:
    return await asyncio.wait_for(server.dashboard.ops.pipelines.wait(run.id), timeout)


Cells = dict[tuple[str | None, int], str]


def skipped(hosts: tuple[str, ...], stages: tuple[int, ...] = (1, 2, 3)) -> Cells:
    return {(h, k): 'SKIPPED' for h in hosts for k in stages}


async def cells(server: RunningServer, run: PipelineRun) -> Cells:
    rows = await server.dashboard.store.read(
        lambda db: db.execute('SELECT host_id, stage, status FROM commands WHERE pipeline_id = ?', [run.id]).fetchall()
    )
    return {(h, s): st for h, s, st in rows}


def commands_of(server: RunningServer, op: str) -> list[dict[str, Any]]:
    return [dict(c) for c in server.dashboard.stream.value.commands.values() if c.get('op') == op]


async def test_pr_appears_then_merge_and_deploy_turns_all_five_compartments_green(
    server: RunningServer, sim_fleet: SimulatedFleet, github: FakeGitHub, repo: ConfigRepo
) -> None:
    assert fleet_state(server)['pending_pr'] is None
    github.flake_pr(mergeable=[None, True])

    [refresh] = await server.dashboard.ops.dispatch('refresh-git', [])  # on demand: version.json and GitHub PRs
    assert refresh.started and 'pending PR #7 "flake.lock: Update"' in (refresh.message or '')
    pending = fleet_state(server)['pending_pr']
    assert pending['number'] == 7 and pending['mergeable'] is True and pending['can_merge'] is True

    run = await server.dashboard.ops.start_pipeline('merge-deploy', HOSTS)
    run = await finished(server, run)

    assert run.status is P.COMPLETE, run.view()
    assert fleet_state(server)['remote']['commit'] == repo.head  # version.json moved to the merge commit
    assert fleet_state(server)['pending_pr'] is None
    assert fleet_state(server)['github']['last_merge']['published'] is True
    await eventually(lambda: all(compartments(server, h) == GREEN for h in HOSTS), timeout=10)
    for host in HOSTS:
        view = server.dashboard.stream.value.hosts[host]
        assert view['generation'] == repo.head[:7] and view['lock_hash'] == repo.lock
    journal = await cells(server, run)
    assert journal[(None, 0)] == 'SUCCESS' and len(journal) == 1 + 3 * len(HOSTS)
    assert set(journal.values()) == {'SUCCESS'}


async def test_deploy_waits_until_version_json_shows_the_merge(
    server: RunningServer, sim_fleet: SimulatedFleet, github: FakeGitHub, repo: ConfigRepo
) -> None:
    repo.auto_publish = False  # the Pages workflow takes its time
    github.flake_pr()
    await server.dashboard.github.poll()

    run = await server.dashboard.ops.start_pipeline('merge-deploy', HOSTS)
    await eventually(lambda: fleet_state(server)['github']['last_merge'] is not None)
    fetches = repo.version_server.requests
    await eventually(lambda: repo.version_server.requests >= fetches + 3)  # following the merge: still old
    [merge] = commands_of(server, 'merge-pr')
    assert merge['status'] == C.EXECUTING and run.current_stage == 0 and commands_of(server, 'pull') == []
    assert all(compartments(server, h)['git'] == 'ok' for h in HOSTS)  # hosts cannot see the merge yet

    repo.publish()
    run = await finished(server, run)
    assert run.status is P.COMPLETE, run.view()
    [merge] = [c for c in commands_of(server, 'merge-pr') if c['id'] == merge['id']]
    assert merge['message'].endswith(f'version.json shows the merge commit {repo.head[:7]}')
    await eventually(lambda: all(compartments(server, h) == GREEN for h in HOSTS), timeout=10)


async def test_merge_pr_alone_returns_at_once_and_version_json_follows_in_the_background(
    server: RunningServer, sim_fleet: SimulatedFleet, github: FakeGitHub, repo: ConfigRepo
) -> None:
    repo.auto_publish = False
    github.flake_pr()
    await server.dashboard.github.poll()

    [result] = await server.dashboard.ops.dispatch('merge-pr', [])
    assert (
        result.command_status == 'SUCCESS' and result.message == f'merged PR #7 "flake.lock: Update" as {repo.head[:7]}'
    )

    repo.publish()  # no refresh-git needed: the merge is followed
    await eventually(lambda: all(compartments(server, h)['git'] == 'outdated' for h in HOSTS))
    assert all(compartments(server, h)['lock'] == 'outdated' for h in HOSTS)
    assert 'pull' in server.dashboard.stream.value.hosts['sim-01']['available_ops']


@pytest.fixture
async def fleet(server: RunningServer, clock: ManualClock, settings: Settings) -> AsyncIterator[Fleet]:
    """Scripted fake agents on the same dashboard (for paths where agents never act)."""
    fleet = Fleet(server.dashboard.settings, clock, server)
    yield fleet
    for agent in fleet.agents.values():
        agent.stop_script()
        await agent.fake.close()


async def test_merge_deploy_fails_when_version_json_never_shows_the_merge(
    fleet: Fleet, github: FakeGitHub, repo: ConfigRepo, clock: ManualClock
) -> None:
    server = fleet.server
    for host in ('web-01', 'web-02'):
        await fleet.add(host)
    repo.auto_publish = False
    github.flake_pr()
    await server.dashboard.github.poll()

    run = await server.dashboard.ops.start_pipeline('merge-deploy', ['web-01', 'web-02'])
    await eventually(lambda: fleet_state(server)['github']['last_merge'] is not None)
    fetches = repo.version_server.requests
    await eventually(lambda: repo.version_server.requests > fetches)
    clock.advance(599)
    await fleet.engine.tick()  # the command's own deadline covers the wait: still running
    assert commands_of(server, 'merge-pr')[0]['status'] == C.EXECUTING
    clock.advance(2)

    run = await finished(server, run)
    assert run.status is P.FAILED
    [merge] = commands_of(server, 'merge-pr')
    assert merge['status'] == C.ERROR
    assert merge['error'] == (
        f'merged PR #7 "flake.lock: Update" as {repo.head[:7]}; PR #7 was merged as {repo.head[:7]}, but version.json '
        f'still shows {sha_of("initial")[:7]} after 10 min: deploy once it is published'
    )
    assert await cells(server, run) == {(None, 0): 'ERROR', **skipped(('web-01', 'web-02'))}
    assert all(agent.seen == [] for agent in fleet.agents.values())


async def test_cancel_tracking_stops_the_wait_for_version_json(
    fleet: Fleet, github: FakeGitHub, repo: ConfigRepo
) -> None:
    server = fleet.server
    await fleet.add('web-01')
    repo.auto_publish = False
    github.flake_pr()
    await server.dashboard.github.poll()
    run = await server.dashboard.ops.start_pipeline('merge-deploy', ['web-01'])
    await eventually(lambda: fleet_state(server)['github']['last_merge'] is not None)
    [merge] = commands_of(server, 'merge-pr')

    await server.dashboard.ops.cancel_command(merge['id'])

    run = await finished(server, run)
    assert run.status is P.FAILED
    assert await cells(server, run) == {(None, 0): 'CANCELLED', **skipped(('web-01',))}
    repo.publish()  # the merge is still followed in the background
    await eventually(lambda: fleet_state(server)['github']['last_merge']['published'] is True)


async def test_no_mergeable_pr_blocks_merge_pr_and_fails_merge_deploy(fleet: Fleet, github: FakeGitHub) -> None:
    server = fleet.server
    await fleet.add('web-01')
    [result] = await server.dashboard.ops.dispatch('merge-pr', [])
    assert (result.started, result.code) == (False, 'no_mergeable_pr')

    github.flake_pr(mergeable=[False], mergeable_state='dirty')
    await server.dashboard.github.poll()
    assert fleet_state(server)['pending_pr']['why_not'] == 'it has merge conflicts'
    [result] = await server.dashboard.ops.dispatch('merge-pr', [])
    assert (result.started, result.command_status, result.code) == (False, 'BLOCKED', 'no_mergeable_pr')

    run = await finished(server, await server.dashboard.ops.start_pipeline('merge-deploy', ['web-01']))
    assert run.status is P.FAILED
    assert await cells(server, run) == {(None, 0): 'BLOCKED', **skipped(('web-01',))}
    assert github.seen('PUT', '/merge$') == []


async def test_a_refused_merge_fails_merge_deploy_with_githubs_reason(fleet: Fleet, github: FakeGitHub) -> None:
    server = fleet.server
    await fleet.add('web-01')
    pr = github.flake_pr()
    await server.dashboard.github.poll()
    pr.head_sha = sha_of('force-pushed')  # the head moved since the check: 409

    run = await finished(server, await server.dashboard.ops.start_pipeline('merge-deploy', ['web-01']))

    assert run.status is P.FAILED
    [merge] = commands_of(server, 'merge-pr')
    assert merge['status'] == C.ERROR and '(409: Head branch was modified.' in merge['error']
    assert TOKEN not in merge['error']
    await eventually(lambda: fleet_state(server)['pending_pr']['head_sha'] == pr.head_sha)  # read again


async def test_github_failures_are_published_as_fleet_state(fleet: Fleet, github: FakeGitHub) -> None:
    server = fleet.server
    github.fail('GET .*/pulls$', 500)
    [refresh] = await server.dashboard.ops.dispatch('refresh-git', [])
    assert refresh.message is not None and refresh.message.endswith(
        '; GitHub: GitHub failed listing pull requests: HTTP 500'
    )
    assert fleet_state(server)['github'] == {
        'configured': True,
        'repo': REPO,
        'error': 'GitHub failed listing pull requests: HTTP 500',
        'checked_at': fleet_state(server)['github']['checked_at'],
        'last_merge': None,
    }
