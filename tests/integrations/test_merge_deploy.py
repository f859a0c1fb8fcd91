"""merge-pr and merge-deploy end to end: a real dashboard, a local fake GitHub API and version.json, simulated agents
(fixtures and the fake config repo: tests/integrations/conftest.py and config_repo.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nixfleet.agent import SimulatedFleet
from nixfleet.config import Settings
from nixfleet.models import CommandStatus as C
from nixfleet.models import PipelineStatus as P
from tests.integrations.config_repo import (
    GREEN,
    HOSTS,
    ConfigRepo,
    cells,
    commands_of,
    compartments,
    finished,
    fleet_state,
    skipped,
)
from tests.integrations.fake_github import REPO, TOKEN, FakeGitHub, sha_of
from tests.ops.helpers import Fleet
from tests.support import ManualClock, RunningServer, eventually


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
