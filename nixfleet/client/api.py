"""A synchronous client of the dashboard's `/api` (httpx), configured by flags or `NIXFLEET_API_URL`/`_TOKEN`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

#: Environment variables the CLI reads when no flag is given.
URL_ENV = 'NIXFLEET_API_URL'
TOKEN_ENV = 'NIXFLEET_API_TOKEN'
#: Codes that mean "fix your credentials or configuration" (exit 2) rather than "refused" (exit 1).
AUTH_CODES = frozenset({'unauthorized', 'forbidden', 'unreachable', 'not_the_api'})


class UsageError(Exception):
    """Arguments or configuration that cannot work (exit 2)."""


class ApiError(Exception):
    """A refusal from the API (`{"error": {"code", "message"}}`) or a failure to reach it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def exit_code(self) -> int:
        """2 for authentication and connection problems, 1 for refusals."""
        return 2 if self.status == 401 or self.code in AUTH_CODES else 1


@dataclass(slots=True, kw_only=True)
class OutputLog:
    """A command's output entries as read, and the sync version they are exact for (None from older dashboards)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    #: The command's `command_output` deltas up to this version are in `entries`, later ones are not.
    version: int | None = None


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the API is and the token to send."""

    url: str
    token: str | None

    @classmethod
    def resolve(cls, url: str | None, token: str | None, env: Mapping[str, str] | None = None) -> ClientConfig:
        """Flags first, then the environment; refuse when no URL is known."""
        env = os.environ if env is None else env
        url = (url or env.get(URL_ENV) or '').strip()
        if not url:
            raise UsageError(f'no dashboard URL: pass --api-url or set {URL_ENV} (e.g. http://localhost:8000)')
        if not url.startswith(('http://', 'https://')):
            raise UsageError(f'{url!r} is not an http(s) URL')
        return cls(url=url.rstrip('/'), token=(token or env.get(TOKEN_ENV) or '').strip() or None)

    @property
    def sync_url(self) -> str:
        """The `/api/sync` WebSocket URL."""
        return 'ws' + self.url.removeprefix('http') + '/api/sync'

    @property
    def headers(self) -> dict[str, str]:
        """Request headers with the token."""
        return {'Authorization': f'Bearer {self.token}'} if self.token else {}


def _error_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get('error') if isinstance(body, dict) else None
    if isinstance(error, dict) and 'code' in error:
        return ApiError(response.status_code, str(error['code']), str(error.get('message') or ''))
    if response.status_code == 404:
        return ApiError(404, 'not_the_api', f'{response.url} is not a NixFleet API route (check --api-url)')
    return ApiError(response.status_code, 'http_error', f'HTTP {response.status_code}: {response.text[:200]}')


class ApiClient:
    """Typed-enough calls for every `/api` route the CLI uses; raises ApiError for any refusal."""

    def __init__(self, config: ClientConfig, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None):
        self.config = config
        self._http = httpx.Client(base_url=config.url, headers=config.headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        """One request; the decoded JSON answer, or ApiError."""
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != []}
        try:
            response = self._http.request(method, path, params=clean, json=body)
        except httpx.HTTPError as exc:
            raise ApiError(0, 'unreachable', f'cannot reach {self.config.url}: {exc}') from None
        if response.is_error:
            raise _error_of(response)
        return response.json() if response.content else None

    def lines(self, path: str, params: Mapping[str, Any]) -> Iterator[str]:
        """Stream a response line by line (no read timeout: followed output may be quiet for long)."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream('GET', path, params=dict(params), timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    raise _error_of(response)
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise ApiError(0, 'unreachable', f'lost {self.config.url}: {exc}') from None

    # -- hosts -----------------------------------------------------------------------------------------------
    def hosts(self, connection: str | None = None) -> dict[str, Any]:
        """`GET /api/hosts`."""
        return self.call('GET', '/api/hosts', params={'connection': connection})  # type: ignore[no-any-return]

    def host(self, host_id: str) -> dict[str, Any]:
        """`GET /api/hosts/{id}`."""
        return self.call('GET', f'/api/hosts/{host_id}')  # type: ignore[no-any-return]

    def remove_host(self, host_id: str) -> dict[str, Any]:
        """`DELETE /api/hosts/{id}`."""
        return self.call('DELETE', f'/api/hosts/{host_id}')  # type: ignore[no-any-return]

    def set_color(self, host_id: str, color: str | None) -> dict[str, Any]:
        """`PUT /api/hosts/{id}/color`."""
        return self.call('PUT', f'/api/hosts/{host_id}/color', body={'color': color})  # type: ignore[no-any-return]

    # -- ops and pipelines -----------------------------------------------------------------------------------
    def catalog(self) -> dict[str, Any]:
        """`GET /api/ops`."""
        return self.call('GET', '/api/ops')  # type: ignore[no-any-return]

    def dispatch(self, op: str, hosts: list[str], **options: Any) -> dict[str, Any]:
        """`POST /api/dispatch` (options: force, totp, args)."""
        body = {'op': op, 'hosts': hosts, **{k: v for k, v in options.items() if v is not None}}
        return self.call('POST', '/api/dispatch', body=body)  # type: ignore[no-any-return]

    def start_pipeline(self, pipeline: str, hosts: list[str], **options: Any) -> dict[str, Any]:
        """`POST /api/dispatch/pipeline` (options: max_parallel, stop_on_failure_pct, force, totp, and a rollout's
        waves, gate, on_failure, soak)."""
        body = {'pipeline': pipeline, 'hosts': hosts, **{k: v for k, v in options.items() if v is not None}}
        return self.call('POST', '/api/dispatch/pipeline', body=body)  # type: ignore[no-any-return]

    def pipelines(self, limit: int = 50) -> dict[str, Any]:
        """`GET /api/pipelines`."""
        return self.call('GET', '/api/pipelines', params={'limit': limit})  # type: ignore[no-any-return]

    def pipeline(self, run_id: str) -> dict[str, Any]:
        """`GET /api/pipelines/{id}`."""
        return self.call('GET', f'/api/pipelines/{run_id}')  # type: ignore[no-any-return]

    def pipeline_action(self, run_id: str, action: str) -> dict[str, Any]:
        """`POST /api/pipelines/{id}/cancel|retry-failed|continue|rollback-wave`."""
        return self.call('POST', f'/api/pipelines/{run_id}/{action}')  # type: ignore[no-any-return]

    # -- commands and events ---------------------------------------------------------------------------------
    def commands(self, **filters: Any) -> dict[str, Any]:
        """`GET /api/commands` (host, op, status, pipeline, since, until, limit, offset, cursor)."""
        return self.call('GET', '/api/commands', params=filters)  # type: ignore[no-any-return]

    def command(self, command_id: str) -> dict[str, Any]:
        """`GET /api/commands/{id}`."""
        return self.call('GET', f'/api/commands/{command_id}')  # type: ignore[no-any-return]

    def command_action(self, command_id: str, action: str, minutes: float | None = None) -> dict[str, Any]:
        """`POST /api/commands/{id}/wait|kill|ignore|cancel`."""
        body = {'minutes': minutes} if minutes is not None else None
        return self.call('POST', f'/api/commands/{command_id}/{action}', body=body)  # type: ignore[no-any-return]

    def output_entries(self, command_id: str) -> list[dict[str, Any]]:
        """The command's output so far as `{ts, stream, line}` entries."""
        return self.output_log(command_id).entries

    def output_log(self, command_id: str) -> OutputLog:
        """The command's output so far, and the `/api/sync` version it is exact for."""
        import json

        log = OutputLog()
        for raw in self.lines(f'/api/commands/{command_id}/output', {'format': 'ndjson'}):
            if not raw.strip():
                continue
            item = json.loads(raw)
            if item.get('type') == 'line':
                log.entries.append(item)
            elif item.get('type') == 'status' and isinstance(item.get('version'), int):
                log.version = item['version']
        return log

    def output_text(self, command_id: str, *, follow: bool = False) -> Iterator[str]:
        """The command's log as text lines; with `follow`, until the command has ended."""
        params = {'format': 'text', 'follow': 'true' if follow else 'false'}
        return self.lines(f'/api/commands/{command_id}/output', params)

    def events(self, **filters: Any) -> dict[str, Any]:
        """`GET /api/events` (host, category, level, action, actor, since, until, limit, offset, cursor)."""
        return self.call('GET', '/api/events', params=filters)  # type: ignore[no-any-return]

    # -- tokens ----------------------------------------------------------------------------------------------
    def tokens(self, kind: str | None = None, include_revoked: bool = False) -> dict[str, Any]:
        """`GET /api/tokens`."""
        params = {'kind': kind, 'include_revoked': 'true' if include_revoked else None}
        return self.call('GET', '/api/tokens', params=params)  # type: ignore[no-any-return]

    def create_token(
        self, kind: str, *, hostname: str | None = None, name: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """`POST /api/tokens` (`scope`: `read` or `operate`, for API tokens)."""
        body = {'kind': kind, 'hostname': hostname, 'name': name, 'scope': scope}
        return self.call('POST', '/api/tokens', body={k: v for k, v in body.items() if v is not None})  # type: ignore[no-any-return]

    def revoke_token(self, kind: str, token_id: str) -> dict[str, Any]:
        """`DELETE /api/tokens/{kind}/{id}`."""
        return self.call('DELETE', f'/api/tokens/{kind}/{token_id}')  # type: ignore[no-any-return]
