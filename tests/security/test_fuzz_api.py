"""Property-based bad input at every HTTP route (issue 7 acceptance): hypothesis builds requests, a real server answers.

The routes are enumerated from the app itself (every `/api` route, `/metrics`, `/login` and `/logout`, whatever
the OpenAPI schema says), so a new route is fuzzed without touching this file. Requests get random path values
(real ids mixed in), random query parameters (the route's own names mixed in), random JSON or raw bodies with random
content types, and a valid, a wrong or no token. Every answer must be a non-5xx; `/api` answers are JSON, refusals
in the error envelope; and a refused request must leave the stored rows as they were — except the journal of the
refusal itself (audit events, BLOCKED commands), which is the point of a journal.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nixfleet.config import Settings
from tests.security.helpers import ADMIN_TOKEN, admin_client
from tests.support import FakeAgent, RunningServer, eventually, start_server

HEARTBEAT_ONLY = frozenset({'last_seen', 'metrics_json'})
TABLES = ('hosts', 'commands', 'pipelines', 'event_log', 'settings', 'host_tokens', 'api_tokens')
_PARAM = re.compile(r'\{([^}:]+)(?::[^}]+)?\}')


@dataclass(frozen=True, slots=True)
class RouteShape:
    """What a request to one route can carry."""

    method: str
    path: str
    query: tuple[str, ...]


def fuzzed_routes(app: FastAPI) -> list[RouteShape]:
    """Every HTTP route of the API, metrics and login surface, one entry per method."""
    shapes = []
    for context in iter_route_contexts(app.routes):
        path, route = context.path, context.original_route
        if not path or not (path.startswith('/api/') or path in ('/metrics', '/login', '/logout')):
            continue
        query = tuple(p.name for p in route.dependant.query_params) if isinstance(route, APIRoute) else ()
        shapes.extend(RouteShape(m, path, query) for m in sorted(context.methods or ()) if m != 'HEAD')
    return shapes


def field_names(app: FastAPI) -> list[str]:
    """Every property name of the API's schemas (so bodies often carry the right keys with the wrong values)."""
    schemas = app.openapi().get('components', {}).get('schemas', {})
    return sorted({name for schema in schemas.values() for name in schema.get('properties', {})})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
path_values = st.sampled_from(['web1', 'agent', 'api', 'wait', 'kill', 'ignore', 'cancel', '0', '-1']) | st.text(
    min_size=1, max_size=40
)
query_values = st.text(max_size=40) | st.integers(min_value=-(2**40), max_value=2**40).map(str)
content_types = st.sampled_from(
    ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain', '']
)


@st.composite
def requests(draw: st.DrawFn, routes: list[RouteShape], names: list[str]) -> dict[str, Any]:
    """One request: method, URL, query, body and headers."""
    shape = draw(st.sampled_from(routes))
    url = _PARAM.sub(lambda m: quote(draw(path_values), safe=''), shape.path)
    keys = st.sampled_from(shape.query) | st.text(min_size=1, max_size=8) if shape.query else st.text(max_size=8)
    params = draw(st.dictionaries(keys, query_values, max_size=4))
    body_keys = st.sampled_from(names) | st.text(max_size=10)
    kind = draw(st.sampled_from(['none', 'json', 'object', 'raw']))
    headers: dict[str, str] = {}
    content: bytes | None = None
    if kind == 'json':
        content, headers['content-type'] = json.dumps(draw(json_values)).encode(), 'application/json'
    elif kind == 'object':
        content = json.dumps(draw(st.dictionaries(body_keys, json_values, max_size=6))).encode()
        headers['content-type'] = 'application/json'
    elif kind == 'raw':
        content = draw(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
        if ctype := draw(content_types):
            headers['content-type'] = ctype
    auth = draw(st.sampled_from(['token', 'token', 'token', 'wrong', 'none']))
    if auth == 'token':
        headers['authorization'] = f'Bearer {ADMIN_TOKEN}'
    elif auth == 'wrong':
        headers['authorization'] = draw(st.sampled_from(['Bearer', 'Bearer nfapi_x', 'Basic Zm9vOmJhcg==', 'x']))
    return {'method': shape.method, 'url': url, 'params': params, 'content': content, 'headers': headers}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[RunningServer, httpx.AsyncClient]]:
    """A server with one connected agent (`web1`) and a client without default credentials."""
    server = await start_server(settings.model_copy(update={'tick_interval': 3600.0}))
    async with admin_client(server):
        pass  # installs the in-memory admin token
    agent = await FakeAgent(server.ws_url, 'web1').connect()
    await agent.heartbeat()
    await eventually(lambda: 'web1' in server.dashboard.stream.value.hosts)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        yield server, client
    await agent.close()
    await server.stop()


async def _stored(server: RunningServer) -> dict[str, list[dict[str, Any]]]:
    def read(db: Any) -> dict[str, list[dict[str, Any]]]:
        tables = {}
        for table in TABLES:
            if not db.table(table).exists():
                continue
            rows = [{k: v for k, v in row.items() if k not in HEARTBEAT_ONLY} for row in db.table(table).rows]
            tables[table] = [row for row in rows if row.get('category') != 'audit' and row.get('status') != 'BLOCKED']
        return tables

    return await server.dashboard.store.read(read)


def _app(server: RunningServer) -> FastAPI:
    return server.server.config.app  # type: ignore[no-any-return]


def test_the_fuzzer_sees_every_api_route(server: RunningServer) -> None:
    routes = {(r.method, r.path) for r in fuzzed_routes(_app(server))}
    schema = _app(server).openapi()['paths']
    documented = {(m.upper(), p) for p, ops in schema.items() for m in ops if p.startswith('/api/') or p == '/metrics'}
    assert documented <= routes
    assert {('POST', '/login'), ('POST', '/logout')} <= routes


@settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_random_requests_never_get_a_500_and_refusals_change_nothing(
    api: tuple[RunningServer, httpx.AsyncClient], data: st.DataObject
) -> None:
    server, client = api
    app = _app(server)
    request = data.draw(requests(fuzzed_routes(app), field_names(app)))
    before = await _stored(server)
    response = await client.request(**request)
    assert response.status_code < 500, (request, response.status_code, response.text[:300])
    event(f'HTTP {response.status_code}')
    if request['url'].startswith('/api/'):
        assert response.headers['content-type'].startswith('application/json'), request
        body = response.json()
        if response.status_code >= 400:
            assert isinstance(body['error']['code'], str) and isinstance(body['error']['message'], str)
    if response.status_code >= 400:
        await server.dashboard.security.drain()
        assert await _stored(server) == before, (request, response.status_code, response.text[:300])
