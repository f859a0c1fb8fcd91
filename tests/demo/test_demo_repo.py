"""The demo's simulated config repo: main advances on a timer and on demand, the flake PR merges like on GitHub."""

from __future__ import annotations

import asyncio

import pytest

from nixfleet.agent import SimRemote
from nixfleet.compartments.version_json import parse_version_json
from nixfleet.config import Settings
from nixfleet.demo import demo_settings
from nixfleet.integrations.demo_remote import DemoConfigRepo
from tests.support import eventually


def test_main_is_what_simulated_agents_pull_and_what_version_json_says() -> None:
    repo = DemoConfigRepo(SimRemote(), seed=1)
    before = repo.head
    repo.advance('hosts: add nas')
    version = parse_version_json(repo.version_json())
    assert version.problems == {} and version.git_commit == repo.head != before
    assert (repo.remote.head, repo.remote.lock_hash) == (repo.head[:7], version.lock_hash)
    assert repo.contains(before, repo.head) and not repo.contains(repo.head, before)


def test_merging_the_flake_pr_moves_main_and_the_lock_like_github() -> None:
    repo = DemoConfigRepo(SimRemote(), seed=2)
    pr = repo.open_flake_pr()
    assert repo.open_flake_pr() is pr  # one at a time
    first, again = pr.to_api(detail=True), pr.to_api(detail=True)
    assert (first['mergeable'], again['mergeable'], again['mergeable_state']) == (None, True, 'clean')

    assert repo.merge(pr.number, 'f' * 40)[0] == 409
    status, body = repo.merge(pr.number, pr.head_sha)
    assert status == 200 and body['sha'] == repo.head and repo.lock_hash == pr.lock_hash
    assert repo.remote.lock_hash == pr.lock_hash and repo.open_pr is None
    assert repo.merge(pr.number, pr.head_sha)[0] == 405 and repo.merge(99, None)[0] == 404


def test_each_tick_commits_opens_a_pr_or_releases_an_agent_in_turn() -> None:
    repo = DemoConfigRepo(SimRemote(agent_version='0.4.2'), seed=3)
    changes: list[str] = []
    repo.listeners.append(lambda: changes.append(repo.head))
    start = repo.head
    repo.tick()
    assert repo.head != start and repo.open_pr is None
    repo.tick()
    assert repo.open_pr is not None and repo.open_pr.number == 1
    repo.tick()
    assert repo.remote.agent_version == '0.4.3' and repo.message == 'nixfleet-agent: update to 0.4.3'
    repo.tick()
    repo.tick()  # a PR is still open: a commit instead of a second PR
    assert len(repo.prs) == 1 and len(changes) == 5


async def test_the_timer_ticks_until_cancelled() -> None:
    repo = DemoConfigRepo(SimRemote(), seed=4)
    timer = asyncio.create_task(repo.run(0.001))
    await eventually(lambda: repo.ticks >= 2)
    timer.cancel()
    await asyncio.gather(timer, return_exceptions=True)
    assert timer.cancelled()


def test_demo_settings_point_the_integrations_at_the_demo_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('NIXFLEET_VERSION_URL', 'https://example.invalid/version.json')  # ignored by the demo
    settings, password = demo_settings('0.0.0.0:8123')
    assert isinstance(settings, Settings) and password
    assert settings.version_url == 'http://127.0.0.1:8123/demo/version.json'
    assert settings.github_api_url == 'http://127.0.0.1:8123/demo/github' and settings.github_repo == 'demo/nixcfg'
    assert settings.github_token is not None and settings.github_token.get_secret_value() in settings.secret_values()
