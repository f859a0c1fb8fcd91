"""The version.json fetcher against a local fake server: success, every failure, recovery, the last good copy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from nixfleet.compartments.model import RemoteDesired
from nixfleet.compartments.version_json import VersionJsonFetcher, remote_wire
from tests.integrations.fake_version import COMMIT, LOCK, FakeVersionServer, version_json
from tests.support import ManualClock, eventually, free_port


@pytest.fixture
async def fetcher(version_server: FakeVersionServer) -> AsyncIterator[VersionJsonFetcher]:
    """A fetcher of the fake server's version.json on a manual clock (a timeout a busy machine never reaches: the
    timeout itself is tested with a short one)."""
    fetcher = VersionJsonFetcher(version_server.url, timeout=10, max_bytes=4096, clock=ManualClock())
    yield fetcher
    await fetcher.aclose()


async def test_success_parses_every_field(fetcher: VersionJsonFetcher) -> None:
    state = await fetcher.refresh()
    assert state.error is None and state.fetched_at == 1_800_000_000.0
    assert state.version is not None
    assert (state.version.git_commit, state.version.lock_hash) == (COMMIT, LOCK)
    assert (state.version.branch, state.version.repo, state.version.message) == ('main', 'owner/nixcfg', 'hosts: '
                                                                                  'enable zram')  # fmt: skip
    assert state.version.problems == {}
    assert remote_wire(state)['short'] == COMMIT[:7]


FAILURES = [
    ('404', lambda s: s.fail(404), 'HTTP 404 Not Found'),
    ('500', lambda s: s.fail(500, b'{"oops": 1}'), 'HTTP 500 Internal Server Error'),
    ('malformed JSON', lambda s: s.serve(raw=b'{"gitCommit": '), 'version.json is not valid JSON'),
    ('not an object', lambda s: s.serve([1, 2]), 'version.json is an array, not an object'),
    ('a bare string', lambda s: s.serve('abc'), 'version.json is a string, not an object'),
    ('huge', lambda s: s.serve(raw=b' ' * 10_000 + b'{}'), 'version.json is larger than 4 KiB'),
    ('deeply nested', lambda s: s.serve(raw=b'[' * 1500 + b']' * 1500), 'version.json is not valid JSON'),
]


@pytest.mark.parametrize(('script', 'reason'), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
async def test_failures_become_an_error_state(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher, script, reason: str
) -> None:  # type: ignore[no-untyped-def]
    script(version_server)
    state = await fetcher.refresh()
    assert state.version is None and state.error is not None and reason in state.error, state
    assert 'secret-token' not in state.error


async def test_a_reply_that_does_not_come_is_a_timeout(version_server: FakeVersionServer) -> None:
    fetcher = VersionJsonFetcher(version_server.url, timeout=0.5, max_bytes=4096, clock=ManualClock())
    version_server.hold()
    try:
        state = await fetcher.refresh()
    finally:
        await fetcher.aclose()
    assert state.version is None and state.error == 'timed out after 0.5 s', state


async def test_connection_refused_is_an_error_without_the_url() -> None:
    fetcher = VersionJsonFetcher(f'http://127.0.0.1:{free_port()}/version.json?token=secret-token', timeout=2)
    try:
        state = await fetcher.refresh()
    finally:
        await fetcher.aclose()
    assert state.error is not None and state.error.startswith('cannot fetch: ConnectError')
    assert 'secret-token' not in state.error


async def test_bad_fields_are_named_not_fatal(version_server: FakeVersionServer, fetcher: VersionJsonFetcher) -> None:
    version_server.serve(version_json(commit=12345, lock=None, branch=['main']))  # type: ignore[arg-type]
    state = await fetcher.refresh()
    assert state.error is None and state.version is not None
    assert state.version.problems == {
        'gitCommit': 'gitCommit is not a string (got a number)',
        'lockHash': 'has no lockHash',
    }
    assert state.version.branch == ''


async def test_a_commit_that_is_not_hex_is_named(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher
) -> None:
    version_server.serve(version_json(commit='not a commit'))
    state = await fetcher.refresh()
    assert state.version is not None and state.version.problems == {'gitCommit': 'gitCommit is not a commit hash'}


AGENT_VERSIONS = [
    ('absent', None, {}, None),
    ('one for every implementation', ' 3.1.6 ', {'*': '3.1.6'}, None),
    ('per implementation', {'go': '3.1.6', 'python': 'v0.2.0-rc1'}, {'go': '3.1.6', 'python': 'v0.2.0-rc1'}, None),
    ('a number', 3.1, {}, 'agentVersion is a number, not a string or an object'),
    ('not a version', 'latest; rm -rf', {}, 'agentVersion is not a version number'),
    ('one bad entry', {'go': '3.1.6', 'python': 7}, {'go': '3.1.6'}, 'agentVersion of python is not a version number'),
    ('an odd implementation name', {'Go Agent': '3.1.6'}, {}, 'agentVersion names an implementation that is not a '
                                                              'plain name'),
]  # fmt: skip


@pytest.mark.parametrize(
    ('value', 'want', 'problem'), [a[1:] for a in AGENT_VERSIONS], ids=[a[0] for a in AGENT_VERSIONS]
)
async def test_agent_version_is_read_and_checked(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher, value: object, want: dict, problem: str | None
) -> None:
    version_server.serve(version_json() if value is None else version_json(agentVersion=value))
    state = await fetcher.refresh()
    assert state.version is not None and dict(state.version.agent_versions) == want
    assert state.version.problems.get('agentVersion') == problem


async def test_last_good_copy_is_kept_while_failing_then_recovery(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher
) -> None:
    good = await fetcher.refresh()
    version_server.fail(503)
    failing = await fetcher.refresh()
    assert failing.error == 'HTTP 503 Service Unavailable'
    assert failing.version == good.version and failing.fetched_at == good.fetched_at
    assert remote_wire(failing)['error'] == 'HTTP 503 Service Unavailable'
    assert remote_wire(failing)['commit'] == COMMIT
    version_server.serve(version_json(commit='1234567' + '0' * 33))
    recovered = await fetcher.refresh()
    assert recovered.error is None and recovered.version is not None
    assert recovered.version.git_commit == '1234567' + '0' * 33


async def test_listeners_hear_content_changes_only(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher
) -> None:
    heard: list[tuple[RemoteDesired, RemoteDesired]] = []
    fetcher.listeners.append(lambda old, new: heard.append((old, new)))
    await fetcher.refresh()
    await fetcher.refresh()  # same content: nothing to tell
    version_server.fail(404)
    await fetcher.refresh()
    await fetcher.refresh()  # same error again
    version_server.serve()
    await fetcher.refresh()
    assert [(old.error, new.error) for old, new in heard] == [(None, None), (None, 'HTTP 404 Not Found'),
                                                              ('HTTP 404 Not Found', None)]  # fmt: skip


async def test_a_failing_listener_does_not_stop_the_others(fetcher: VersionJsonFetcher) -> None:
    heard: list[str] = []

    def broken(old: RemoteDesired, new: RemoteDesired) -> None:
        raise RuntimeError('listener bug')

    fetcher.listeners += [broken, lambda old, new: heard.append('ok')]
    state = await fetcher.refresh()
    assert state.error is None and heard == ['ok']


async def test_concurrent_refreshes_share_one_request(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher
) -> None:
    version_server.hold()
    first = asyncio.create_task(fetcher.refresh())
    second = asyncio.create_task(fetcher.refresh())
    await eventually(lambda: version_server.requests == 1)
    version_server.release()
    assert await first == await second
    assert version_server.requests == 1


async def test_refresh_soon_does_not_block_the_caller(
    version_server: FakeVersionServer, fetcher: VersionJsonFetcher
) -> None:
    version_server.hold()
    fetcher.refresh_soon()  # returns at once although the server holds the request
    assert fetcher.state.version is None
    version_server.release()
    await eventually(lambda: fetcher.state.version is not None)


async def test_aclose_cancels_a_running_fetch(version_server: FakeVersionServer) -> None:
    fetcher = VersionJsonFetcher(version_server.url, timeout=5)
    version_server.hold()
    fetcher.refresh_soon()
    await eventually(lambda: version_server.requests == 1)
    await asyncio.wait_for(fetcher.aclose(), 2)
    assert fetcher.state.version is None
    json.dumps(remote_wire(fetcher.state))  # the wire form is JSON even before any fetch
