"""GitHub REST v3, as much as the flake-update PR service needs: list and read pull requests, merge one, compare.

Also the flake-update PR itself: which open PR it is (`is_flake_update`) and whether GitHub would merge it
(`PendingPR.can_merge`). Errors come back as `GitHubError` whose message is a short human sentence that says what to
fix; it never contains the token (only the `Authorization` header carries it, and headers are never quoted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

DEFAULT_TIMEOUT = 30.0
#: Longest GitHub-supplied text quoted in a message or shown in the UI.
MAX_TEXT = 200
_REPO = re.compile(r'[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+')
#: Head branches of flake-update PRs, `_` read as `-` (DeterminateSystems' action: `update_flake_lock_action`).
_BRANCH = re.compile(r'^(flake-update|update-flake|flake-lock-update)|update-flake-lock')
#: Title phrases of flake-update PRs, case-insensitive.
_TITLE = re.compile(r'flake\.lock|update flake|bump flake|flake update', re.IGNORECASE)
#: `mergeable_state` values for which GitHub refuses the merge, with the reason shown to the user.
BLOCKING_STATES = {
    'dirty': 'it has merge conflicts',
    'blocked': 'required reviews or status checks are missing',
    'behind': 'its branch must be updated with the base branch first',
    'draft': 'it is a draft',
}


class GitHubError(Exception):
    """A GitHub request failed; `message` says why in one sentence, `status` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def is_flake_update(pull: dict[str, Any]) -> bool:
    """Whether an open PR (a `GET /pulls` item) is a flake-update PR: by its head branch or its title."""
    head = _object(pull.get('head'))
    branch = str(head.get('ref') or '').lower().replace('_', '-')
    return bool(_BRANCH.search(branch) or _TITLE.search(str(pull.get('title') or '')))


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingPR:
    """The pending flake-update PR as last read from GitHub (`mergeable` None: GitHub has not computed it yet)."""

    number: int
    title: str
    url: str
    branch: str
    head_sha: str
    created_at: str
    mergeable: bool | None
    mergeable_state: str = ''
    draft: bool = False
    state: str = 'open'
    merged: bool = False

    @classmethod
    def from_api(cls, pull: dict[str, Any]) -> PendingPR:
        """Build from a `GET /pulls/{n}` (or list item) body; raise GitHubError when it is not a PR object."""
        head = _object(pull.get('head'))
        number = pull.get('number')
        if not isinstance(number, int) or isinstance(number, bool):
            raise GitHubError('GitHub answered with something that is not a pull request')
        mergeable = pull.get('mergeable')
        return cls(
            number=number,
            title=_text(pull.get('title')),
            url=_text(pull.get('html_url'), 500),
            branch=_text(head.get('ref')),
            head_sha=_text(head.get('sha'), 64),
            created_at=_text(pull.get('created_at'), 40),
            mergeable=mergeable if isinstance(mergeable, bool) else None,
            mergeable_state=_text(pull.get('mergeable_state'), 40).lower(),
            draft=pull.get('draft') is True,
            state=_text(pull.get('state'), 20) or 'open',
            merged=pull.get('merged') is True,
        )

    @property
    def why_not(self) -> str | None:
        """Why GitHub would refuse to merge it now (None: it can be merged)."""
        if self.merged or self.state != 'open':
            return 'it is already merged' if self.merged else f'it is {self.state}'
        if self.draft:
            return BLOCKING_STATES['draft']
        if self.checking:
            return 'GitHub is still checking whether it can be merged'
        if self.mergeable is False:
            return BLOCKING_STATES.get(self.mergeable_state, 'GitHub reports it cannot be merged')
        return BLOCKING_STATES.get(self.mergeable_state)

    @property
    def checking(self) -> bool:
        """Whether GitHub has not computed the mergeability yet (it does so lazily, after the first read)."""
        return self.mergeable is None or self.mergeable_state == 'unknown'

    @property
    def can_merge(self) -> bool:
        """Whether a merge should succeed now."""
        return self.why_not is None

    def describe(self) -> str:
        """`#12 "flake.lock: Update"`."""
        return f'#{self.number} "{self.title}"'

    def to_wire(self) -> dict[str, Any]:
        """The fleet field `pending_pr`."""
        return {
            'number': self.number,
            'title': self.title,
            'url': self.url,
            'branch': self.branch,
            'head_sha': self.head_sha,
            'created_at': self.created_at,
            'mergeable': self.mergeable,
            'mergeable_state': self.mergeable_state,
            'can_merge': self.can_merge,
            'why_not': self.why_not,
        }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return value[:limit] if isinstance(value, str) else ''


def valid_repo(repo: str) -> bool:
    """Whether `repo` has the `owner/name` form."""
    return bool(_REPO.fullmatch(repo))


class GitHubClient:
    """A small async GitHub REST v3 client for one repository (token in the Authorization header only)."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repo: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.repo = repo
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip('/'),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={
                'Accept': 'application/vnd.github+json',
                'X-GitHub-Api-Version': '2022-11-28',
                'Authorization': f'Bearer {token}',
                'User-Agent': 'nixfleet-dashboard',
            },
        )

    async def open_pulls(self) -> list[dict[str, Any]]:
        """Open PRs, newest first (the first 100)."""
        params = {'state': 'open', 'sort': 'created', 'direction': 'desc', 'per_page': '100'}
        data = await self._request('GET', f'/repos/{self.repo}/pulls', 'listing pull requests', params=params)
        if not isinstance(data, list):
            raise GitHubError('GitHub answered the pull request list with something that is not a list')
        return [item for item in data if isinstance(item, dict)]

    async def pull(self, number: int) -> PendingPR:
        """One PR with its mergeability."""
        data = await self._request('GET', f'/repos/{self.repo}/pulls/{number}', f'reading PR #{number}')
        return PendingPR.from_api(data if isinstance(data, dict) else {})

    async def merge(self, number: int, head_sha: str, method: str = 'merge') -> str:
        """Merge PR `number` if its head is still `head_sha`; return the merge commit SHA."""
        body = {'merge_method': method, 'sha': head_sha} if head_sha else {'merge_method': method}
        data = await self._request('PUT', f'/repos/{self.repo}/pulls/{number}/merge', f'merging PR #{number}', body)
        sha = data.get('sha') if isinstance(data, dict) else None
        if not isinstance(sha, str) or not sha:
            raise GitHubError(f'GitHub reported PR #{number} merged but gave no commit SHA', 200)
        return sha

    async def contains(self, commit: str, later: str) -> bool:
        """Whether `later` includes `commit` (GitHub's compare says `ahead` or `identical`)."""
        data = await self._request('GET', f'/repos/{self.repo}/compare/{commit}...{later}', 'comparing commits')
        return isinstance(data, dict) and data.get('status') in ('ahead', 'identical')

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _request(self, method: str, path: str, what: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        try:
            response = await self._client.request(method, path, json=body, **kw)
        except httpx.TimeoutException:
            raise GitHubError(f'GitHub did not answer {what} within {self.timeout:g} s') from None
        except httpx.HTTPError as exc:
            raise GitHubError(f'cannot reach GitHub ({what}): {type(exc).__name__}') from None
        if response.status_code >= 400:
            raise GitHubError(explain(response, what, self.repo), response.status_code)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f'GitHub answered {what} with something that is not JSON', response.status_code) from None


def explain(response: httpx.Response, what: str, repo: str) -> str:
    """A one-sentence reason for a GitHub error response, saying what to fix."""
    status = response.status_code
    said = _said(response)
    if status == 401:
        return f'GitHub rejected the token (401{said}): check NIXFLEET_GITHUB_TOKEN'
    if status in (403, 429) and (response.headers.get('x-ratelimit-remaining') == '0' or status == 429):
        reset = response.headers.get('x-ratelimit-reset', '')
        when = f' until {datetime.fromtimestamp(int(reset), UTC):%H:%MZ}' if reset.isdigit() else ''
        return f'GitHub rate limit reached{when} ({what})'
    if status == 403:
        return f'GitHub refused {what} (403{said}): the token needs pull request and contents access to {repo}'
    if status == 404:
        return f'GitHub found nothing for {what} (404): check NIXFLEET_GITHUB_REPO ({repo}) and the token can see it'
    if status == 405:
        return f'GitHub refused {what} (405{said or ": not mergeable"})'
    if status == 409:
        return f'GitHub refused {what} (409{said or ": the head branch changed"}): check the PR again, then retry'
    if status == 422:
        return f'GitHub rejected {what} (422{said})'
    return f'GitHub failed {what}: HTTP {status}{said}'


def _said(response: httpx.Response) -> str:
    try:
        message = response.json().get('message')
    except (ValueError, AttributeError):
        return ''
    return f': {message[:MAX_TEXT]}' if isinstance(message, str) and message.strip() else ''
