"""version.json, the config repo's desired state: its parser, its client form, and the fetcher that keeps the
last good copy (from `NIXFLEET_VERSION_URL`)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from nixfleet.compartments.model import RemoteDesired, VersionInfo
from nixfleet.compartments.versions import EVERY_IMPL
from nixfleet.timeutil import Clock, iso

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: A real version.json is a few hundred bytes; anything beyond this is refused.
MAX_BYTES = 256 * 1024
#: Longest free-text field kept (commit message, branch, ...).
MAX_TEXT = 2000
_HEX = re.compile(r'[0-9a-fA-F]+')
#: An agent version (`3.1.5`, `v0.2.0-rc1`) and an agent implementation name (`go`, `python`) in `agentVersion`.
_AGENT_VERSION = re.compile(r'v?[0-9][0-9A-Za-z.+_-]{0,63}')
_AGENT_IMPL = re.compile(r'[a-z][a-z0-9_-]{0,31}')
_JSON_TYPES = {bool: 'a boolean', int: 'a number', float: 'a number', list: 'an array', dict: 'an object'}

#: Called with (old, new) after the remote desired state changed.
RemoteListener = Callable[[RemoteDesired, RemoteDesired], None]


class VersionJsonError(Exception):
    """Why a version.json fetch failed, as a short human sentence (no URL: it may carry a token)."""


def parse_version_json(data: Any) -> VersionInfo:
    """Parse a decoded version.json; raise VersionJsonError when it is not an object, name bad fields otherwise."""
    if not isinstance(data, dict):
        raise VersionJsonError(f'version.json is {_json_type(data)}, not an object')
    problems: dict[str, str] = {}
    commit = _hex_field(data, 'gitCommit', 7, 64, 'a commit hash', problems)
    lock = _hex_field(data, 'lockHash', 8, 128, 'a hex digest', problems)
    return VersionInfo(
        git_commit=commit,
        lock_hash=lock,
        message=_text(data.get('message')),
        branch=_text(data.get('branch')),
        timestamp=_text(data.get('timestamp')),
        repo=_text(data.get('repo')),
        agent_versions=_agent_versions(data.get('agentVersion'), problems),
        problems=problems,
    )


def _agent_versions(value: Any, problems: dict[str, str]) -> dict[str, str]:
    """`agentVersion` (optional): one version for every implementation, or `{"go": "3.1.5", "python": "0.2.0"}`."""
    if value is None or value == '':
        return {}
    pairs = {EVERY_IMPL: value} if isinstance(value, str) else value if isinstance(value, dict) else None
    if pairs is None:
        problems['agentVersion'] = f'agentVersion is {_json_type(value)}, not a string or an object'
        return {}
    found: dict[str, str] = {}
    for impl, version in pairs.items():
        if not (impl == EVERY_IMPL or _AGENT_IMPL.fullmatch(impl)):
            problems['agentVersion'] = 'agentVersion names an implementation that is not a plain name'
        elif not (isinstance(version, str) and _AGENT_VERSION.fullmatch(version.strip())):
            name = 'agentVersion' if impl == EVERY_IMPL else f'agentVersion of {impl}'
            problems['agentVersion'] = f'{name} is not a version number'
        else:
            found[impl] = version.strip()
    return found


def _hex_field(
    data: dict[str, Any], name: str, shortest: int, longest: int, what: str, problems: dict[str, str]
) -> str | None:
    value = data.get(name)
    if value is None or value == '':
        problems[name] = f'has no {name}'
    elif not isinstance(value, str):
        problems[name] = f'{name} is not a string (got {_json_type(value)})'
    elif not (shortest <= len(value.strip()) <= longest and _HEX.fullmatch(value.strip())):
        problems[name] = f'{name} is not {what}'
    else:
        return value.strip().lower()
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return 'null'
    return _JSON_TYPES.get(type(value), 'a string' if isinstance(value, str) else type(value).__name__)


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ''


def remote_wire(state: RemoteDesired | None) -> dict[str, Any]:
    """The remote desired state as clients see it (header: fleet target), in the fleet state's `remote` field."""
    version = state.version if state is not None else None
    commit = version.git_commit if version else None
    return {
        'configured': state is not None,
        'commit': commit,
        'short': commit[:7] if commit else None,
        'branch': version.branch if version else None,
        'message': version.message if version else None,
        'timestamp': version.timestamp if version else None,
        'repo': version.repo if version else None,
        'lock_hash': version.lock_hash if version else None,
        'problems': dict(version.problems) if version else {},
        'fetched_at': iso(state.fetched_at) if state is not None and state.fetched_at is not None else None,
        'error': state.error if state is not None else None,
    }


class VersionJsonFetcher:
    """Fetch version.json on demand and keep the remote desired state (last good copy plus the current error).

    It runs periodically (an APScheduler async job) and on demand (`refresh-git`, after a pull). Each fetch is its
    own task with a timeout and a size limit, so agent handling never waits for it. A failing fetch keeps the last
    good copy but records the reason: Git and Lock then show `error` with that reason (never gray), while the last
    good copy still answers "would this host be current?" in their hint and feeds the header.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        clock: Clock = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._clock = clock
        self._transport = transport
        self.state = RemoteDesired()
        #: Called after every change of the state's content (version or error), on the event loop.
        self.listeners: list[RemoteListener] = []
        self._client: httpx.AsyncClient | None = None
        self._inflight: asyncio.Task[RemoteDesired] | None = None
        self._soon: set[asyncio.Task[Any]] = set()

    async def refresh(self) -> RemoteDesired:
        """Fetch now and return the new state; joins a fetch that is already running instead of starting another."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.get_running_loop().create_task(self._fetch_and_keep(), name='version-json')
        return await asyncio.shield(self._inflight)

    def refresh_soon(self) -> None:
        """Start a fetch in the background (after a pull); the caller does not wait for it."""
        task = asyncio.get_running_loop().create_task(self.refresh(), name='version-json-soon')
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    async def aclose(self) -> None:
        """Cancel running fetches and close the HTTP client."""
        tasks = [t for t in (self._inflight, *self._soon) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _fetch_and_keep(self) -> RemoteDesired:
        now = self._clock()
        try:
            version = await self._fetch()
        except VersionJsonError as exc:
            new = replace(self.state, error=str(exc), checked_at=now)
        else:
            new = RemoteDesired(version=version, error=None, fetched_at=now, checked_at=now)
        old, self.state = self.state, new
        if (old.version, old.error) != (new.version, new.error):
            self._log_transition(old, new)
            for listener in list(self.listeners):
                try:
                    listener(old, new)
                except Exception:
                    log.exception('version.json listener %r failed', listener)
        return new

    async def _fetch(self) -> VersionInfo:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), follow_redirects=True, transport=self._transport
            )
        headers = {'Accept': 'application/json', 'Cache-Control': 'no-cache'}
        try:
            async with self._client.stream('GET', self.url, headers=headers) as response:
                if response.status_code != 200:
                    raise VersionJsonError(f'HTTP {response.status_code} {response.reason_phrase}'.strip())
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise VersionJsonError(f'version.json is larger than {self.max_bytes // 1024} KiB')
        except httpx.TimeoutException:
            raise VersionJsonError(f'timed out after {self.timeout:g} s') from None
        except httpx.HTTPError as exc:
            raise VersionJsonError(f'cannot fetch: {type(exc).__name__} {str(exc)[:200]}'.strip()) from None
        try:
            data = json.loads(bytes(body))
        except (ValueError, RecursionError) as exc:
            raise VersionJsonError(f'version.json is not valid JSON ({str(exc)[:120]})') from None
        return parse_version_json(data)

    def _log_transition(self, old: RemoteDesired, new: RemoteDesired) -> None:
        if new.error and new.error != old.error:
            log.warning('version.json fetch failing: %s (keeping the last good copy)', new.error)
        elif old.error and not new.error:
            log.info('version.json fetch recovered')
        if new.version is not None and (old.version is None or old.version.git_commit != new.version.git_commit):
            v = new.version
            log.info('remote desired state: commit %s on %s', (v.git_commit or '?')[:7], v.branch or '?')
