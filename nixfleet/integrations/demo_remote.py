"""The demo's remote side: a simulated config repository with its version.json and GitHub API, on the demo's port.

`DemoConfigRepo` is `main` of a config repo held in memory. Its head advances (on a timer: `run`, and on demand:
`advance`), now and then a flake-update PR is opened (`open_flake_pr`), and merging that PR moves `main` and
flake.lock. The simulated agents share its `SimRemote`, which always names `main` (head = the commit's first 7
characters, lock hash = flake.lock's hash), so a simulated pull moves a host exactly to what version.json says.

`demo_router` serves it next to the dashboard (the demo points NIXFLEET_VERSION_URL and NIXFLEET_GITHUB_API_URL here)::

    GET  /demo/version.json                                 what the nixcfg Pages workflow publishes (public)
    POST /demo/advance {"pr": false, "agent": false}        push to main / open a flake PR (session or API token)
    GET  /demo/github/repos/{owner}/{name}/pulls            open PRs, newest first
    GET  /demo/github/repos/{owner}/{name}/pulls/{n}        one PR; `mergeable` is null on the first read, as on GitHub
    PUT  /demo/github/repos/{owner}/{name}/pulls/{n}/merge  merge it (405 when not mergeable, 409 when the head moved)
    GET  /demo/github/repos/{owner}/{name}/compare/{a}...{b}

The GitHub routes want the demo's generated token, like the real API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from nixfleet.agent import SimRemote
from nixfleet.api.errors import error_response
from nixfleet.models import ErrorCode
from nixfleet.security.tokens import Credential
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

REPO = 'demo/nixcfg'
#: Commits kept for `compare` (older ones count as "included" in everything).
HISTORY = 200
MESSAGES = (
    'hosts: enable zram on the servers',
    'users: add ssh key for ana',
    'nas: bump zfs scrub interval',
    'common: tune nix gc schedule',
    'workstation: add podman',
    'edge: open 443 for the reverse proxy',
    'pi-garden: lower the wifi power save',
    'modules/backup: restic to the nas',
)


@dataclass(slots=True, kw_only=True)
class DemoPR:
    """A simulated flake-update pull request; merging it brings `lock_hash` to main."""

    number: int
    head_sha: str
    lock_hash: str
    created_at: float
    title: str = 'flake.lock: Update'
    branch: str = 'update_flake_lock_action'
    state: str = 'open'
    merged: bool = False
    reads: int = 0

    def to_api(self, *, detail: bool) -> dict[str, Any]:
        """GitHub's JSON shape (the fields NixFleet reads)."""
        body: dict[str, Any] = {
            'number': self.number,
            'title': self.title,
            'html_url': f'https://github.com/{REPO}/pull/{self.number}',
            'state': self.state,
            'draft': False,
            'created_at': iso(self.created_at),
            'head': {'ref': self.branch, 'sha': self.head_sha},
            'base': {'ref': 'main'},
            'labels': [{'name': 'dependencies'}],
        }
        if detail:  # like GitHub: mergeability is computed lazily, after the first read
            body.update(
                mergeable=None if self.reads == 0 and self.state == 'open' else self.state == 'open',
                mergeable_state='unknown' if self.reads == 0 else 'clean',
                merged=self.merged,
            )
            self.reads += 1
        return body


class DemoConfigRepo:
    """`main` of the simulated config repo, shared with the simulated agents through `remote`."""

    def __init__(self, remote: SimRemote, *, clock: Clock = time.time, seed: int | None = None) -> None:
        self.remote = remote
        self._clock = clock
        self._rng = random.Random(seed)
        self.head = self._sha('initial')
        self.message = 'Initial fleet configuration'
        self.at = clock()
        self.lock_hash = remote.lock_hash
        self.history: list[str] = [self.head]
        self.prs: dict[int, DemoPR] = {}
        self._next_pr = 1
        self.ticks = 0
        #: Called after main moved or a PR opened (the demo asks the dashboard to look again at once).
        self.listeners: list[Callable[[], None]] = []
        self._sync_remote()

    # -- changes -------------------------------------------------------------------------------------------------
    def advance(self, message: str | None = None, *, agent: bool = False) -> str:
        """Push a configuration commit to main (optionally releasing a new agent version); return its SHA."""
        if agent:
            self.remote.agent_version = _next_version(self.remote.agent_version)
            message = message or f'nixfleet-agent: update to {self.remote.agent_version}'
        self._commit(message or self._rng.choice(MESSAGES))
        return self.head

    def open_flake_pr(self) -> DemoPR:
        """Open a flake-update PR (or return the one already open)."""
        if (pr := self.open_pr) is not None:
            return pr
        number, self._next_pr = self._next_pr, self._next_pr + 1
        pr = DemoPR(
            number=number,
            head_sha=self._sha(f'pr-{number}'),
            lock_hash=hashlib.sha256(f'lock-{number}-{self._rng.random()}'.encode()).hexdigest(),
            created_at=self._clock(),
        )
        self.prs[number] = pr
        log.info('demo: flake-update PR #%d opened', number)
        self._changed()
        return pr

    @property
    def open_pr(self) -> DemoPR | None:
        """The open flake-update PR, if any."""
        return next((pr for pr in self.prs.values() if pr.state == 'open'), None)

    def merge(self, number: int, head_sha: str | None) -> tuple[int, dict[str, Any]]:
        """Merge PR `number` like GitHub's merge endpoint: (HTTP status, body)."""
        pr = self.prs.get(number)
        if pr is None:
            return 404, {'message': 'Not Found'}
        if pr.state != 'open':
            return 405, {'message': 'Pull Request is not mergeable'}
        if head_sha and head_sha != pr.head_sha:
            return 409, {'message': 'Head branch was modified. Review and try the merge again.'}
        pr.state, pr.merged = 'closed', True
        self.lock_hash = pr.lock_hash
        self._commit(f'Merge pull request #{number} from {REPO.split("/")[0]}/{pr.branch}\n\n{pr.title}')
        return 200, {'sha': self.head, 'merged': True, 'message': 'Pull Request successfully merged'}

    def contains(self, commit: str, later: str) -> bool:
        """Whether main's commit `later` includes `commit` (both may be abbreviated)."""
        first, second = self._index(commit), self._index(later)
        return first is not None and second is not None and first <= second

    def version_json(self) -> dict[str, Any]:
        """version.json for main, as the nixcfg Pages workflow publishes it."""
        return {
            'gitCommit': self.head,
            'message': self.message,
            'branch': 'main',
            'timestamp': iso(self.at),
            'repo': REPO,
            'lockHash': self.lock_hash,
            'agentVersion': {'python': self.remote.agent_version},  # the simulated agents' newest release
        }

    def tick(self) -> None:
        """Move on by one step, in turn: a config commit, a flake-update PR (a commit while one is open), an agent
        release."""
        self.ticks += 1
        step = self.ticks % 3
        if step == 1 or (step == 2 and self.open_pr is not None):
            self.advance()
        elif step == 2:
            self.open_flake_pr()
        else:
            self.advance(agent=True)

    async def run(self, every: float) -> None:
        """`tick` every `every` seconds, until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.tick()

    # -- internals -----------------------------------------------------------------------------------------------
    def _commit(self, message: str) -> None:
        self.head, self.message, self.at = self._sha(message), message, self._clock()
        self.history = [*self.history[-(HISTORY - 1) :], self.head]
        self._sync_remote()
        log.info('demo: main is now %s (%s)', self.head[:7], message.splitlines()[0])
        self._changed()

    def _sync_remote(self) -> None:
        self.remote.head, self.remote.lock_hash = self.head[:7], self.lock_hash

    def _sha(self, salt: str) -> str:
        return hashlib.sha1(f'{salt}-{self._rng.random()}'.encode()).hexdigest()

    def _index(self, commit: str) -> int | None:
        commit = commit.lower()
        found = [i for i, sha in enumerate(self.history) if len(commit) >= 7 and sha.startswith(commit)]
        return found[-1] if found else None

    def _changed(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception('demo repo listener failed')


def _next_version(version: str) -> str:
    parts = re.findall(r'\d+', version)[:3] or ['0']
    parts = [*parts, *['0'] * (3 - len(parts))]
    return '.'.join([*parts[:2], str(int(parts[2]) + 1)])


def demo_router(
    repo: DemoConfigRepo,
    *,
    github_token: str,
    credential: Callable[[HTTPConnection], Awaitable[Credential | None]],
) -> APIRouter:
    """Routes serving the simulated repo's version.json, the advance hook and its GitHub API."""
    router = APIRouter(prefix='/demo', include_in_schema=False)
    _add_repo_routes(router, repo, credential)
    _add_github_routes(router, repo, github_token)
    return router


def _add_repo_routes(
    router: APIRouter, repo: DemoConfigRepo, credential: Callable[[HTTPConnection], Awaitable[Credential | None]]
) -> None:
    """`GET /demo/version.json` and `POST /demo/advance` (a new commit or flake PR; needs the operate scope)."""

    @router.get('/version.json')
    async def version_json() -> JSONResponse:
        return JSONResponse(repo.version_json(), headers={'Cache-Control': 'no-cache'})

    @router.post('/advance')
    async def advance(request: Request) -> JSONResponse:
        who = await credential(request)
        if who is None:
            return error_response(ErrorCode.UNAUTHORIZED, 'log in or send an API token', 401)
        if not who.scope.may_change:
            return error_response(ErrorCode.FORBIDDEN, 'advancing the demo repo needs the operate scope', 403)
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if body.get('pr'):
            pr = repo.open_flake_pr()
            return JSONResponse({'pending_pr': pr.number, 'version': repo.version_json()})
        repo.advance(agent=bool(body.get('agent')))
        return JSONResponse({'pending_pr': None, 'version': repo.version_json()})


def _add_github_routes(router: APIRouter, repo: DemoConfigRepo, github_token: str) -> None:
    """The slice of GitHub's REST API the dashboard uses, for the simulated repo (GitHub's own error bodies)."""
    github = f'/github/repos/{REPO}'

    def refused(status: int, message: str) -> JSONResponse:
        return JSONResponse({'message': message}, status_code=status)

    def token_ok(request: Request) -> bool:
        scheme, _, token = request.headers.get('authorization', '').partition(' ')
        return scheme.lower() in ('bearer', 'token') and hmac.compare_digest(token.encode(), github_token.encode())

    @router.get(f'{github}/pulls')
    async def pulls(request: Request) -> JSONResponse:
        if not token_ok(request):
            return refused(401, 'Bad credentials')
        open_prs = sorted((p for p in repo.prs.values() if p.state == 'open'), key=lambda p: -p.number)
        return JSONResponse([p.to_api(detail=False) for p in open_prs])

    @router.get(github + '/pulls/{number}')
    async def pull(number: int, request: Request) -> JSONResponse:
        if not token_ok(request):
            return refused(401, 'Bad credentials')
        pr = repo.prs.get(number)
        return JSONResponse(pr.to_api(detail=True)) if pr else refused(404, 'Not Found')

    @router.put(github + '/pulls/{number}/merge')
    async def merge(number: int, request: Request) -> JSONResponse:
        if not token_ok(request):
            return refused(401, 'Bad credentials')
        try:
            body = await request.json()
        except ValueError:
            body = {}
        sha = body.get('sha') if isinstance(body, dict) else None
        status, reply = repo.merge(number, sha if isinstance(sha, str) else None)
        return JSONResponse(reply, status_code=status)

    @router.get(github + '/compare/{basehead}')
    async def compare(basehead: str, request: Request) -> JSONResponse:
        if not token_ok(request):
            return refused(401, 'Bad credentials')
        base, _, head = basehead.partition('...')
        return JSONResponse({'status': 'ahead' if repo.contains(base, head) else 'diverged'})
