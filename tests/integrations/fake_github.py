"""A local fake of the GitHub REST API (pulls, merge, compare) for one repository, served from a thread.

Scripted by the test: `add_pr(...)` opens PRs (with a sequence of `mergeable` values GitHub reveals read by read),
`fail(...)` makes matching requests answer an error, `hold()` keeps them waiting (timeouts), `on_merge` is called
with the merge commit (e.g. to publish it in the fake version.json). Every request is recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = 'ghp_fakeTestToken0123456789abcdef'
REPO = 'owner/nixcfg'


@dataclass
class FakePR:
    """One pull request; `mergeable` is revealed in order, one value per read of the PR (the last one sticks)."""

    number: int
    title: str
    branch: str
    head_sha: str
    created_at: str = '2026-11-25T06:00:00Z'
    mergeable: list[bool | None] = field(default_factory=lambda: [True])
    mergeable_state: str = 'clean'
    labels: list[str] = field(default_factory=list)
    draft: bool = False
    state: str = 'open'
    merged: bool = False
    reads: int = 0

    def body(self, *, detail: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            'number': self.number,
            'title': self.title,
            'html_url': f'https://github.com/{REPO}/pull/{self.number}',
            'state': self.state,
            'draft': self.draft,
            'created_at': self.created_at,
            'head': {'ref': self.branch, 'sha': self.head_sha},
            'base': {'ref': 'main'},
            'labels': [{'name': name} for name in self.labels],
        }
        if detail:
            value = self.mergeable[min(self.reads, len(self.mergeable) - 1)]
            self.reads += 1
            data.update(
                mergeable=value,
                mergeable_state='unknown' if value is None else self.mergeable_state,
                merged=self.merged,
            )
        return data


@dataclass
class Failure:
    """Answer requests whose `METHOD path` matches `pattern` with `status` (`times` None: always)."""

    pattern: str
    status: int
    message: str
    times: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def sha_of(text: str) -> str:
    """A deterministic 40-hex commit id."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class FakeGitHub:
    """The fake API on 127.0.0.1:<free port>; `api_url` goes into NIXFLEET_GITHUB_API_URL."""

    prs: dict[int, FakePR] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Commits that include a merge: `(merge_sha, later_sha)` pairs `compare` answers `ahead` for.
    includes: set[tuple[str, str]] = field(default_factory=set)
    #: Merge methods the repository refuses with 405 "... not allowed".
    disallowed_methods: set[str] = field(default_factory=set)
    on_merge: Callable[[FakePR, str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _held: bool = False
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        assert self._httpd is not None
        return f'http://127.0.0.1:{self._httpd.server_address[1]}/api/v3'

    def add_pr(self, number: int, title: str, branch: str, **kw: Any) -> FakePR:
        pr = FakePR(number=number, title=title, branch=branch, head_sha=kw.pop('head_sha', sha_of(branch)), **kw)
        self.prs[number] = pr
        return pr

    def flake_pr(self, number: int = 7, **kw: Any) -> FakePR:
        """The usual flake-update PR (DeterminateSystems/update-flake-lock's branch and title)."""
        return self.add_pr(number, 'flake.lock: Update', 'update_flake_lock_action', **kw)

    def fail(
        self,
        pattern: str,
        status: int,
        message: str = '',
        *,
        times: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures.append(Failure(pattern, status, message, times, headers or {}))

    #: Requests that arrived while held (they wait in the server until `release()`).
    held_requests = 0

    def hold(self) -> None:
        """Keep every request waiting until `release()` (the client times out first)."""
        self._released.clear()
        self._held = True

    def release(self) -> None:
        self._held = False
        self._released.set()

    def seen(self, method: str, pattern: str) -> list[dict[str, Any]]:
        """Recorded requests of `method` whose path matches `pattern`."""
        return [r for r in self.requests if r['method'] == method and re.search(pattern, r['path'])]

    # -- serving -------------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, auth: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            path = path.partition('?')[0]
            self.requests.append({'method': method, 'path': path, 'auth': auth, 'body': body})
            for failure in self.failures:
                if re.search(failure.pattern, f'{method} {path}') and failure.times != 0:
                    if failure.times is not None:
                        failure.times -= 1
                    return failure.status, {'message': failure.message} if failure.message else {}, failure.headers
            if auth != f'Bearer {TOKEN}':
                return 401, {'message': 'Bad credentials'}, {}
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        base = f'/api/v3/repos/{REPO}'
        if method == 'GET' and path == f'{base}/pulls':
            open_prs = sorted((p for p in self.prs.values() if p.state == 'open'), key=lambda p: -p.number)
            return 200, [p.body(detail=False) for p in open_prs], {}
        if match := re.fullmatch(rf'{base}/pulls/(\d+)(/merge)?', path):
            pr = self.prs.get(int(match.group(1)))
            if pr is None:
                return 404, {'message': 'Not Found'}, {}
            if method == 'GET' and not match.group(2):
                return 200, pr.body(detail=True), {}
            if method == 'PUT' and match.group(2):
                return self._merge(pr, body if isinstance(body, dict) else {})
        if method == 'GET' and (match := re.fullmatch(rf'{base}/compare/(\w+)\.\.\.(\w+)', path)):
            merge, later = match.groups()
            ahead = merge == later or any(m.startswith(merge) and x.startswith(later) for m, x in self.includes)
            return 200, {'status': 'ahead' if ahead else 'diverged'}, {}
        return 404, {'message': 'Not Found'}, {}

    def _merge(self, pr: FakePR, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        method = body.get('merge_method', 'merge')
        if method in self.disallowed_methods:
            return 405, {'message': f'{method.capitalize()} commits are not allowed on this repository.'}, {}
        if pr.merged or pr.state != 'open' or pr.mergeable[-1] is not True or pr.mergeable_state == 'dirty':
            return 405, {'message': 'Pull Request is not mergeable'}, {}
        if body.get('sha') and body['sha'] != pr.head_sha:
            return 409, {'message': 'Head branch was modified. Review and try the merge again.'}, {}
        sha = sha_of(f'merge-{pr.number}-{pr.head_sha}')
        pr.merged, pr.state = True, 'closed'
        if self.on_merge is not None:
            self.on_merge(pr, sha)
        return 200, {'sha': sha, 'merged': True, 'message': 'Pull Request successfully merged'}, {}

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length) if length else b''
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                if fake._held:
                    fake.held_requests += 1
                    fake._released.wait(10)
                status, reply, headers = fake.handle(method, self.path, self.headers.get('Authorization', ''), body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                for name, value in headers.items():
                    self.send_header(name.replace('_', '-'), value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve('GET')

            def do_PUT(self) -> None:
                self._serve('PUT')

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={'poll_interval': 0.02}, name='fake-github', daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.release()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
