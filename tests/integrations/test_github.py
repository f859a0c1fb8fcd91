"""The GitHub flake-update PR service against a local fake GitHub API: detection, mergeability, merge, errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from nixfleet.compartments.model import RemoteDesired, VersionInfo
from nixfleet.config import Settings
from nixfleet.integrations.github import GitHubService, same_commit
from nixfleet.integrations.github_api import is_flake_update
from nixfleet.streams.state import FleetState, FleetStateStream
from tests.integrations.fake_github import REPO, TOKEN, FakeGitHub, sha_of
from tests.support import ManualClock, eventually


@pytest.fixture
def stream() -> FleetStateStream:
    """A bare fleet state stream (what the service publishes into)."""
    return FleetStateStream(FleetState())


def github_settings(settings: Settings, github: FakeGitHub, **update: Any) -> Settings:
    return settings.model_copy(
        update={'github_token': SecretStr(TOKEN), 'github_repo': REPO, 'github_api_url': github.api_url, **update}
    )


@pytest.fixture
async def service(settings: Settings, github: FakeGitHub, stream: FleetStateStream) -> AsyncIterator[GitHubService]:
    """The service pointed at the fake, on virtual time, re-reading a still-computing PR without a pause."""
    svc = GitHubService(github_settings(settings, github), stream, ManualClock(), timeout=2.0)
    svc.recheck_delay = 0
    yield svc
    await svc.aclose()


def published(stream: FleetStateStream) -> dict[str, Any]:
    return dict(stream.value.fleet)


@pytest.mark.parametrize(
    ('title', 'branch', 'labels', 'expected'),
    [
        ('flake.lock: Update', 'update_flake_lock_action', [], True),  # DeterminateSystems/update-flake-lock
        ('chore: weekly inputs', 'update-flake-lock', [], True),
        ('Update flake inputs', 'feature/x', [], True),
        ('Bump flake nixpkgs', 'deps', [], True),
        ('nightly', 'flake-update-2026-11-25', [], True),
        ('chore(deps): lock file maintenance', 'renovate/lock-file-maintenance', ['dependencies'], False),
        ('Bump actions/checkout from 3 to 4', 'dependabot/github_actions/checkout-4', ['dependencies'], False),
        ('hosts: add nas', 'add-nas', ['automated'], False),
        ('', '', [], False),
    ],
)
def test_flake_update_detection(title: str, branch: str, labels: list[str], expected: bool) -> None:
    pull = {'title': title, 'head': {'ref': branch}, 'labels': [{'name': n} for n in labels]}
    assert is_flake_update(pull) is expected


def test_commit_ids_match_by_prefix() -> None:
    full = sha_of('x')
    assert same_commit(full, full[:7]) and same_commit(full[:9].upper(), full)
    assert not same_commit(full, sha_of('y')) and not same_commit(full[:6], full)


async def test_detects_the_flake_pr_among_others_and_rereads_while_github_computes(
    service: GitHubService, github: FakeGitHub, stream: FleetStateStream
) -> None:
    github.add_pr(3, 'hosts: add nas', 'add-nas')
    github.flake_pr(5, mergeable=[None, True])
    github.add_pr(
        6, 'Bump actions/checkout from 3 to 4', 'dependabot/github_actions/checkout-4', labels=['dependencies']
    )

    pending = await service.poll()

    assert pending is not None and pending.number == 5 and pending.mergeable is True
    assert len(github.seen('GET', r'/pulls/5$')) == 2  # null on the first read: read once more
    assert github.seen('GET', r'/pulls/[36]$') == []
    assert service.mergeable_pr() == '#5 "flake.lock: Update"'
    fleet = published(stream)
    assert fleet['pending_pr'] == {
        'number': 5,
        'title': 'flake.lock: Update',
        'url': f'https://github.com/{REPO}/pull/5',
        'branch': 'update_flake_lock_action',
        'head_sha': sha_of('update_flake_lock_action'),
        'created_at': '2026-11-25T06:00:00Z',
        'mergeable': True,
        'mergeable_state': 'clean',
        'can_merge': True,
        'why_not': None,
    }
    assert fleet['github']['configured'] is True and fleet['github']['error'] is None
    assert {r['auth'] for r in github.requests} == {f'Bearer {TOKEN}'}


async def test_still_computing_and_conflicting_prs_are_shown_but_not_mergeable(
    service: GitHubService, github: FakeGitHub, stream: FleetStateStream
) -> None:
    pr = github.flake_pr(mergeable=[None])
    assert (await service.poll()) is not None
    assert service.mergeable_pr() is None
    assert published(stream)['pending_pr']['why_not'] == 'GitHub is still checking whether it can be merged'

    pr.mergeable, pr.mergeable_state = [False], 'dirty'
    await service.poll()
    assert service.mergeable_pr() is None
    assert published(stream)['pending_pr']['why_not'] == 'it has merge conflicts'

    pr.state = 'closed'
    assert await service.poll() is None
    assert published(stream)['pending_pr'] is None


@pytest.mark.parametrize(
    ('status', 'message', 'headers', 'expected'),
    [
        (401, 'Bad credentials', {}, 'GitHub rejected the token (401: Bad credentials): check NIXFLEET_GITHUB_TOKEN'),
        (403, 'Resource not accessible by integration', {}, 'needs pull request and contents access to owner/nixcfg'),
        (403, 'API rate limit exceeded', {'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1800000000'},
         'GitHub rate limit reached until 08:00Z (listing pull requests)'),
        (404, 'Not Found', {}, 'check NIXFLEET_GITHUB_REPO (owner/nixcfg) and the token can see it'),
        (422, 'Validation Failed', {}, 'GitHub rejected listing pull requests (422: Validation Failed)'),
        (500, '', {}, 'GitHub failed listing pull requests: HTTP 500'),
    ],
)  # fmt: skip
async def test_github_errors_become_an_explicit_state_keeping_the_last_pr(
    service: GitHubService,
    github: FakeGitHub,
    stream: FleetStateStream,
    caplog: pytest.LogCaptureFixture,
    status: int,
    message: str,
    headers: dict[str, str],
    expected: str,
) -> None:
    github.flake_pr()
    await service.poll()
    github.fail('GET .*/pulls$', status, message, headers=headers)

    with caplog.at_level(logging.DEBUG):
        await service.poll()

    error = published(stream)['github']['error']
    assert expected in error
    assert published(stream)['pending_pr']['number'] == 7  # the last known PR stays
    assert TOKEN not in error and TOKEN not in caplog.text
    assert caplog.text.count('GitHub PR check failing') == 1
    await service.poll()  # the same failure again is not logged again
    assert caplog.text.count('GitHub PR check failing') == 1

    github.failures.clear()
    await service.poll()
    assert published(stream)['github']['error'] is None


async def test_timeouts_and_bad_answers_are_errors_not_crashes(
    service: GitHubService, github: FakeGitHub, stream: FleetStateStream
) -> None:
    github.hold()
    await service.poll()
    assert published(stream)['github']['error'] == 'GitHub did not answer listing pull requests within 2 s'
    github.release()

    github.add_pr(9, 'flake.lock: Update', 'update-flake-lock')
    github.fail('GET .*/pulls/9$', 200, 'not a pull request')  # an object without a number
    await service.poll()
    assert published(stream)['github']['error'] == 'GitHub answered with something that is not a pull request'


async def test_unconfigured_or_misconfigured_github_says_so(settings: Settings, stream: FleetStateStream) -> None:
    off = GitHubService(settings, stream, ManualClock())
    assert off.fleet_fields()['github'] == {
        'configured': False, 'repo': None, 'error': None, 'checked_at': None, 'last_merge': None
    }  # fmt: skip
    assert await off.poll() is None and off.mergeable_pr() is None
    assert not (await off.merge_pr()).ok

    bad = GitHubService(
        settings.model_copy(update={'github_token': SecretStr(TOKEN), 'github_repo': 'nixcfg'}), stream, ManualClock()
    )
    assert bad.fleet_fields()['github']['error'] == "NIXFLEET_GITHUB_REPO must be owner/name, not 'nixcfg'"
    assert (await bad.merge_pr()).message == "NIXFLEET_GITHUB_REPO must be owner/name, not 'nixcfg'"


async def test_merge_sends_the_checked_head_and_clears_the_pending_pr(
    service: GitHubService, github: FakeGitHub, stream: FleetStateStream
) -> None:
    pr = github.flake_pr()
    await service.poll()

    result = await service.merge_pr()

    merge_sha = sha_of(f'merge-7-{pr.head_sha}')
    assert result.ok and result.message == f'merged PR #7 "flake.lock: Update" as {merge_sha[:7]}'
    [put] = github.seen('PUT', r'/pulls/7/merge$')
    assert put['body'] == {'merge_method': 'merge', 'sha': pr.head_sha}
    fleet = published(stream)
    assert fleet['pending_pr'] is None
    assert fleet['github']['last_merge']['sha'] == merge_sha
    assert service.mergeable_pr() is None


async def test_merge_falls_back_to_an_allowed_method(service: GitHubService, github: FakeGitHub) -> None:
    github.flake_pr()
    github.disallowed_methods = {'merge'}
    await service.poll()
    assert (await service.merge_pr()).ok
    assert [r['body']['merge_method'] for r in github.seen('PUT', '/merge$')] == ['merge', 'squash']


async def test_refused_merges_explain_why_and_check_the_pr_again(
    service: GitHubService, github: FakeGitHub, stream: FleetStateStream, caplog: pytest.LogCaptureFixture
) -> None:
    pr = github.flake_pr()
    await service.poll()

    pr.head_sha = sha_of('pushed meanwhile')  # the head moved after our check: GitHub answers 409
    with caplog.at_level(logging.DEBUG):
        result = await service.merge_pr()
    assert not result.ok
    assert result.message == (
        'GitHub refused merging PR #7 (409: Head branch was modified. Review and try the merge again.): '
        'check the PR again, then retry'
    )
    await eventually(lambda: published(stream)['pending_pr']['head_sha'] == pr.head_sha)  # re-read after the 409

    pr.mergeable, pr.mergeable_state = [False], 'dirty'  # GitHub learns of a conflict after our check
    result = await service.merge_pr()
    assert result.message == 'GitHub refused merging PR #7 (405: Pull Request is not mergeable)'
    await eventually(lambda: published(stream)['pending_pr']['why_not'] == 'it has merge conflicts')
    assert not (await service.merge_pr()).ok  # now known not mergeable: refused without asking GitHub
    assert len(github.seen('PUT', '/merge$')) == 2
    assert TOKEN not in caplog.text


class ScriptedVersions:
    """A version.json source whose commit the test moves (stands in for the compartment service)."""

    def __init__(self, commit: str) -> None:
        self.commit = commit
        self.error: str | None = None
        self.fetches = 0

    async def refresh_remote(self) -> RemoteDesired:
        self.fetches += 1
        return RemoteDesired(version=VersionInfo(git_commit=self.commit, lock_hash='a' * 64), error=self.error)


async def test_a_merge_is_followed_until_version_json_shows_it(
    settings: Settings, github: FakeGitHub, stream: FleetStateStream
) -> None:
    versions = ScriptedVersions(sha_of('before'))
    svc = GitHubService(github_settings(settings, github), stream, ManualClock(), versions)
    svc.publish_interval = 0.01
    github.flake_pr()
    await svc.poll()
    assert (await svc.merge_pr()).ok
    merge_sha = svc.last_merge.sha if svc.last_merge else ''

    await eventually(lambda: versions.fetches >= 3)
    assert published(stream)['github']['last_merge']['published'] is None  # still following
    versions.commit = merge_sha

    result = await svc.wait_published()
    assert result.ok and result.message == f'version.json shows the merge commit {merge_sha[:7]}'
    assert published(stream)['github']['last_merge']['published'] is True
    await svc.aclose()


async def test_a_later_commit_that_includes_the_merge_counts(
    settings: Settings, github: FakeGitHub, stream: FleetStateStream
) -> None:
    versions = ScriptedVersions(sha_of('before'))
    svc = GitHubService(github_settings(settings, github), stream, ManualClock(), versions)
    svc.publish_interval = 0.01
    github.flake_pr()
    await svc.poll()
    await svc.merge_pr()
    await eventually(lambda: versions.fetches >= 1)
    merge_sha, later = svc.last_merge.sha if svc.last_merge else '', sha_of('pushed after the merge')
    github.includes.add((merge_sha, later))
    versions.commit = later

    result = await svc.wait_published()
    assert result.ok and result.message == f'version.json shows {later[:7]}, which includes the merge {merge_sha[:7]}'
    assert len(github.seen('GET', '/compare/')) == 2  # the old commit once, the later one once
    await svc.aclose()


async def test_following_gives_up_after_the_bound_on_the_injected_clock(
    settings: Settings, github: FakeGitHub, stream: FleetStateStream
) -> None:
    clock = ManualClock()
    versions = ScriptedVersions(sha_of('before'))
    versions.error = 'HTTP 503 Service Unavailable'
    svc = GitHubService(github_settings(settings, github), stream, clock, versions)
    svc.publish_interval = 0.01
    github.flake_pr()
    await svc.poll()
    await svc.merge_pr()
    await eventually(lambda: versions.fetches >= 2)
    clock.advance(600)

    result = await svc.wait_published()
    assert not result.ok
    assert result.message == (
        f'PR #7 was merged as {svc.last_merge.sha[:7] if svc.last_merge else ""}, but version.json still shows '
        f'{sha_of("before")[:7]} (fetch failing: HTTP 503 Service Unavailable) after 10 min: '
        'deploy once it is published'
    )
    assert published(stream)['github']['last_merge']['published'] is False
    await svc.aclose()


async def test_a_poll_waiting_when_the_service_closes_ends_quietly(service: GitHubService, github: FakeGitHub) -> None:
    """At shutdown the scheduler's poll job is still waiting for GitHub: it ends with nothing, not an error."""
    github.hold()
    try:
        waiting = asyncio.create_task(service.poll())
        await eventually(lambda: github.held_requests > 0)
        await service.aclose()
        assert await asyncio.wait_for(waiting, 5) is None
    finally:
        github.release()
