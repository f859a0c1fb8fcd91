"""GitHub flake-update PRs: find the pending PR, publish it, merge it, follow the merge to version.json."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from apscheduler.schedulers.base import BaseScheduler

from nixfleet.compartments.model import RemoteDesired
from nixfleet.config import Settings
from nixfleet.integrations.github_api import (
    DEFAULT_TIMEOUT,
    GitHubClient,
    GitHubError,
    PendingPR,
    is_flake_update,
    valid_repo,
)
from nixfleet.ops.remote import RemoteResult
from nixfleet.scheduling import every
from nixfleet.streams.changes import Change, ChangeType
from nixfleet.streams.state import FleetStateStream
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

NOT_CONFIGURED = 'GitHub is not configured (set NIXFLEET_GITHUB_TOKEN and NIXFLEET_GITHUB_REPO)'
#: Pause before reading a PR again whose mergeability GitHub has not computed yet.
RECHECK_DELAY = 2.0
#: Poll again this soon while GitHub is still checking the pending PR.
CHECKING_REPOLL = 30.0
#: How long a merge is followed to version.json, and how often version.json is fetched meanwhile.
PUBLISH_TIMEOUT = 600.0
PUBLISH_INTERVAL = 10.0
#: Merge methods tried in turn when the repository disallows one (405 "... not allowed").
MERGE_METHODS = ('merge', 'squash', 'rebase')


class VersionSource(Protocol):
    """version.json as the service needs it (the compartment service)."""

    async def refresh_remote(self) -> RemoteDesired | None:
        """Fetch version.json now; None when version tracking is not configured."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MergedPR:
    """The last PR merged from the dashboard and how far its merge commit got (`published` None: following)."""

    number: int
    title: str
    sha: str
    at: float
    published: bool | None = None
    message: str = ''

    def to_wire(self) -> dict[str, Any]:
        """JSON form (in the `github` fleet field)."""
        return {
            'number': self.number,
            'title': self.title,
            'sha': self.sha,
            'at': iso(self.at),
            'published': self.published,
            'message': self.message,
        }


def same_commit(a: str, b: str) -> bool:
    """Whether two commit ids (full or abbreviated to at least 7 characters) name the same commit."""
    a, b = a.strip().lower(), b.strip().lower()
    return min(len(a), len(b)) >= 7 and (a.startswith(b) or b.startswith(a))


class GitHubService:
    """Poll, publish and merge the flake-update PR of `NIXFLEET_GITHUB_REPO`.

    Enabled by `NIXFLEET_GITHUB_TOKEN` + `NIXFLEET_GITHUB_REPO` (`owner/name`); `NIXFLEET_GITHUB_API_URL` points it at
    GitHub Enterprise or a test fake. Open PRs are polled every `NIXFLEET_GITHUB_POLL_TTL` (an APScheduler async job),
    on demand (`poll`, e.g. from `refresh-git`) and again soon after a merge or a refused merge.

    THE flake-update PR is the newest open PR (of the first 100) whose head branch — `_` read as `-` — contains
    `update-flake-lock` or starts with `flake-update` / `update-flake` / `flake-lock-update`, or whose title contains
    (any case) `flake.lock`, `update flake`, `bump flake` or `flake update` (`github_api.is_flake_update`). Labels alone
    (`dependencies`, `automated`) do not count: Dependabot PRs for other ecosystems carry them too.

    GitHub computes `mergeable` lazily: a PR read with `mergeable: null` is read once more after `recheck_delay`, and if
    GitHub is still checking it is polled again after `CHECKING_REPOLL` seconds; until then it is not mergeable.

    Published in the fleet state (one `fleet_updated` change, only when something changed)::

        pending_pr: {number, title, url, branch, head_sha, created_at, mergeable, mergeable_state, can_merge, why_not}
                    | None
        github: {configured, repo, error, checked_at, last_merge: {number, title, sha, at, published, message} | None}

    A failing poll keeps the last known PR and sets `github.error`. After a merge the service follows the merge
    commit to version.json (refreshing it every `publish_interval` s for up to `publish_timeout` s), so the Git
    compartments turn outdated soon; `wait_published` lets the `merge-deploy` pipeline start deploying only once
    hosts can pull it.
    """

    def __init__(
        self,
        settings: Settings,
        stream: FleetStateStream,
        clock: Clock,
        versions: VersionSource | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._settings = settings
        self._stream = stream
        self._clock = clock
        self._versions = versions
        token = settings.github_token.get_secret_value().strip() if settings.github_token else ''
        self.repo = settings.github_repo.strip()
        self.configured = bool(token and self.repo)
        self._client: GitHubClient | None = None
        #: Why the last poll failed (None after a success), or a configuration problem.
        self.error: str | None = None
        if self.configured and valid_repo(self.repo):
            self._client = GitHubClient(settings.github_api_url, token, self.repo, timeout=timeout, transport=transport)
        elif self.configured:
            self.error = f'NIXFLEET_GITHUB_REPO must be owner/name, not {self.repo[:100]!r}'
        self.pending: PendingPR | None = None
        self.checked_at: float | None = None
        self.last_merge: MergedPR | None = None
        self.recheck_delay = RECHECK_DELAY
        self.publish_timeout = PUBLISH_TIMEOUT
        self.publish_interval = PUBLISH_INTERVAL
        self._inflight: asyncio.Task[PendingPR | None] | None = None
        self._follow: asyncio.Task[RemoteResult] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._published = self.fleet_fields()

    # -- reading -------------------------------------------------------------------------------------------------
    def fleet_fields(self) -> dict[str, Any]:
        """The fleet fields this service owns: `pending_pr` and `github`."""
        return {
            'pending_pr': self.pending.to_wire() if self.pending is not None else None,
            'github': {
                'configured': self.configured,
                'repo': self.repo or None,
                'error': self.error,
                'checked_at': iso(self.checked_at) if self.checked_at is not None else None,
                'last_merge': self.last_merge.to_wire() if self.last_merge is not None else None,
            },
        }

    def mergeable_pr(self) -> str | None:
        """`#12 "flake.lock: Update"` when a flake-update PR can be merged now, else None (merge-pr validation)."""
        pr = self.pending
        return pr.describe() if self._client is not None and pr is not None and pr.can_merge else None

    # -- polling -------------------------------------------------------------------------------------------------
    async def poll(self) -> PendingPR | None:
        """Read the open PRs now and return the pending flake-update PR; joins a poll that is already running."""
        if self._client is None:
            return None
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._poll(self._client), name='github-prs')
        inflight = self._inflight
        try:
            return await asyncio.shield(inflight)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if inflight.cancelled() and not (caller is not None and caller.cancelling()):
                return None  # `aclose` called the poll off (shutdown): not this caller's failure
            raise

    def poll_soon(self, delay: float = 0.0) -> None:
        """Poll in the background after `delay` seconds; the caller does not wait."""
        if self._client is not None:
            self._spawn(self._poll_after(delay), 'github-prs-soon')

    async def _poll_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        await self.poll()

    async def _poll(self, client: GitHubClient) -> PendingPR | None:
        try:
            found = await self._find(client)
        except GitHubError as exc:
            if exc.message != self.error:
                log.warning('GitHub PR check failing: %s', exc.message)
            self.error = exc.message
        else:
            if self.error is not None:
                log.info('GitHub PR check recovered')
            self._log_change(self.pending, found)
            self.pending, self.error = found, None
        self.checked_at = self._clock()
        if self.pending is not None and self.pending.checking:
            self.poll_soon(CHECKING_REPOLL)
        self._publish()
        return self.pending

    async def _find(self, client: GitHubClient) -> PendingPR | None:
        for pull in await client.open_pulls():
            number = pull.get('number')
            if not isinstance(number, int) or isinstance(number, bool) or not is_flake_update(pull):
                continue
            pr = await client.pull(number)
            if pr.checking:  # GitHub starts computing mergeability on the first read
                await asyncio.sleep(self.recheck_delay)
                pr = await client.pull(number)
            return pr
        return None

    @staticmethod
    def _log_change(old: PendingPR | None, new: PendingPR | None) -> None:
        if new is not None and (old is None or old.number != new.number):
            log.info('flake-update PR %s found (%s)', new.describe(), 'mergeable' if new.can_merge else new.why_not)
        elif new is None and old is not None:
            log.info('flake-update PR %s is no longer open', old.describe())

    # -- merging -------------------------------------------------------------------------------------------------
    async def merge_pr(self) -> RemoteResult:
        """Merge the pending flake-update PR (if its head is still the one checked); then follow it to version.json."""
        if self._client is None:
            return RemoteResult(False, self.error or NOT_CONFIGURED)
        pr = self.pending
        if pr is None or not pr.can_merge:
            why = f': {pr.describe()} cannot be merged: {pr.why_not}' if pr is not None else ''
            return RemoteResult(False, f'there is no mergeable flake-update pull request{why}')
        try:
            sha = await self._merge(self._client, pr)
        except GitHubError as exc:
            log.warning('merging PR #%d failed: %s', pr.number, exc.message)
            if exc.status in (404, 405, 409, 422):  # what we knew about the PR is out of date
                self.poll_soon()
            return RemoteResult(False, exc.message)
        merged = MergedPR(number=pr.number, title=pr.title, sha=sha, at=self._clock())
        self.last_merge, self.pending = merged, None
        self._publish()
        log.info('merged PR %s as %s', pr.describe(), sha[:7])
        self._follow = self._spawn(self._follow_publication(self._client, merged), 'github-follow-merge')
        self.poll_soon()
        return RemoteResult(True, f'merged PR {pr.describe()} as {sha[:7]}')

    @staticmethod
    async def _merge(client: GitHubClient, pr: PendingPR) -> str:
        for method in MERGE_METHODS:
            try:
                return await client.merge(pr.number, pr.head_sha, method)
            except GitHubError as exc:
                if exc.status == 405 and 'not allowed' in exc.message.lower() and method != MERGE_METHODS[-1]:
                    continue  # e.g. "Merge commits are not allowed on this repository."
                raise
        raise AssertionError('unreachable')

    async def wait_published(self) -> RemoteResult:
        """Wait until version.json shows the last merge (or the follow-up gives up after `publish_timeout`)."""
        if self._follow is None:
            return RemoteResult(False, 'no pull request was merged from this dashboard')
        return await asyncio.shield(self._follow)

    async def _follow_publication(self, client: GitHubClient, merged: MergedPR) -> RemoteResult:
        try:
            result = await self._until_published(client, merged)
        except Exception as exc:  # never leave a waiting pipeline hanging
            log.exception('following the merge of PR #%d failed', merged.number)
            result = RemoteResult(False, f'could not follow the merge to version.json: {exc}')
        if self.last_merge is not None and self.last_merge.sha == merged.sha:
            self.last_merge = replace(self.last_merge, published=result.ok, message=result.message)
            self._publish()
        (log.info if result.ok else log.warning)('PR #%d: %s', merged.number, result.message)
        return result

    async def _until_published(self, client: GitHubClient, merged: MergedPR) -> RemoteResult:
        deadline = self._clock() + self.publish_timeout
        includes: dict[str, bool] = {}  # version.json commit -> whether it includes the merge (GitHub compare)
        short = merged.sha[:7]
        while True:
            state = await self._versions.refresh_remote() if self._versions is not None else None
            if state is None:
                return RemoteResult(True, 'version tracking is not configured: hosts pull the merge directly')
            commit = state.version.git_commit if state.version is not None else None
            if commit and same_commit(commit, merged.sha):
                return RemoteResult(True, f'version.json shows the merge commit {short}')
            if commit and state.error is None and commit not in includes:
                try:
                    includes[commit] = await client.contains(merged.sha, commit)
                except GitHubError as exc:
                    log.debug('cannot compare %s with %s yet: %s', short, commit[:7], exc.message)
                if includes.get(commit):
                    return RemoteResult(True, f'version.json shows {commit[:7]}, which includes the merge {short}')
            if self._clock() >= deadline:
                shown = f'still shows {commit[:7]}' if commit else 'shows no commit'
                failing = f' (fetch failing: {state.error})' if state.error else ''
                return RemoteResult(
                    False,
                    f'PR #{merged.number} was merged as {short}, but version.json {shown}{failing} after '
                    f'{self.publish_timeout / 60:g} min: deploy once it is published',
                )
            await asyncio.sleep(self.publish_interval)

    # -- publishing and lifecycle --------------------------------------------------------------------------------
    def _publish(self) -> None:
        fields = self.fleet_fields()
        if fields != self._published:
            self._published = fields
            self._stream.emit(Change(ChangeType.FLEET_UPDATED, fields=fields))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def start(self, scheduler: BaseScheduler) -> None:
        """Add the periodic PR poll (first run at once) when GitHub is configured."""
        if self._client is None:
            if self.error:
                log.warning('GitHub flake-update PRs disabled: %s', self.error)
            return
        every(scheduler, self._settings.github_poll_ttl, self.poll, 'github_prs', first=datetime.now(UTC))

    async def aclose(self) -> None:
        """Cancel polls and follow-ups under way and close the HTTP client."""
        tasks = [t for t in (self._inflight, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
