"""Security headers, WebSocket origin checks, CSRF and size limits on a real server
(docs/architecture.md#security, issue 7 scope 5).

Proves that every HTTP answer carries CSP, X-Frame-Options, nosniff and Referrer-Policy, HSTS only when the browser
came over HTTPS as a trusted proxy says; that a browser WebSocket (`/api/sync` with a session cookie) from a foreign
origin is refused while same-origin, configured origins, agents and API-token clients pass; that a cookie-carrying
POST from a foreign origin is refused (logout, API) and token requests are not; that proxy headers from untrusted
peers never reach the app; and that oversized headers and bodies get 431/413, not a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from nixfleet.api.errors import error_json
from nixfleet.config import Settings
from nixfleet.security.middleware import MAX_BODY_BYTES, SecurityMiddleware
from nixfleet.security.net import OriginPolicy, ProxyTrust
from tests.security.helpers import ADMIN_TOKEN, admin_client, log_in, session_status
from tests.support import AGENT_TOKEN, FakeAgent, RunningServer, start_server

EVIL = 'http://evil.example'


def _origin(server: RunningServer) -> str:
    return f'http://127.0.0.1:{server.port}'


# -- headers -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('method', 'path'),
    [('GET', '/health'), ('GET', '/api/hosts'), ('GET', '/openapi.json'), ('POST', '/login'), ('GET', '/nowhere')],
)
async def test_every_answer_carries_the_security_headers(server: RunningServer, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.request(method, path)
    headers = response.headers
    assert "frame-ancestors 'none'" in headers['content-security-policy']
    assert "default-src 'self'" in headers['content-security-policy']
    assert headers['x-frame-options'] == 'DENY'
    assert headers['x-content-type-options'] == 'nosniff'
    assert headers['referrer-policy'] == 'same-origin'
    assert 'strict-transport-security' not in headers  # plain HTTP


async def test_api_answers_are_not_stored_by_caches(server: RunningServer) -> None:
    async with admin_client(server) as api:
        assert (await api.get('/api/hosts')).headers['cache-control'] == 'no-store'


async def test_the_api_explorer_may_load_its_cdn_and_nothing_else_may(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        docs = await http.get('/docs')
        health = await http.get('/health')
    assert 'https://cdn.jsdelivr.net' in docs.headers['content-security-policy']
    assert 'cdn.jsdelivr.net' not in health.headers['content-security-policy']


async def test_hsts_only_when_a_trusted_proxy_says_https(settings: Settings) -> None:
    server = await start_server(settings.model_copy(update={'trusted_proxies': ['127.0.0.1']}))
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            tls = await http.get('/health', headers={'X-Forwarded-Proto': 'https'})
            plain = await http.get('/health', headers={'X-Forwarded-Proto': 'http'})
        assert tls.headers['strict-transport-security'].startswith('max-age=')
        assert 'strict-transport-security' not in plain.headers
    finally:
        await server.stop()


async def test_an_untrusted_peer_cannot_claim_https(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.get('/health', headers={'X-Forwarded-Proto': 'https'})
    assert 'strict-transport-security' not in response.headers


# -- the middleware alone (no server): what reaches the app ---------------------------------------------------------
def _echo_app(trusted: list[str]) -> FastAPI:
    app = FastAPI()

    @app.api_route('/echo', methods=['GET', 'POST'])
    async def echo(request: Request) -> dict[str, object]:
        return {'headers': dict(request.headers), 'body': len(await request.body())}

    app.add_middleware(SecurityMiddleware, proxies=ProxyTrust(trusted), origins=OriginPolicy([]), error_body=error_json)
    return app


@pytest.mark.parametrize(('trusted', 'kept'), [([], False), (['127.0.0.1'], True)])
async def test_proxy_headers_reach_the_app_only_from_trusted_proxies(trusted: list[str], kept: bool) -> None:
    transport = httpx.ASGITransport(app=_echo_app(trusted), client=('127.0.0.1', 5000))
    proxy_headers = {
        'X-Forwarded-For': '203.0.113.1',
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Prefix': '//evil.example',
        'X-Real-IP': '203.0.113.1',
        'Forwarded': 'for=203.0.113.1',
    }
    async with httpx.AsyncClient(transport=transport, base_url='http://dash') as http:
        seen = (await http.get('/echo', headers=proxy_headers)).json()['headers']
    assert all((name.lower() in seen) is kept for name in proxy_headers)


async def test_a_streamed_body_over_the_limit_is_refused() -> None:
    transport = httpx.ASGITransport(app=_echo_app([]))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b'x' * 65536

    async with httpx.AsyncClient(transport=transport, base_url='http://dash') as http:
        response = await http.post('/echo', content=chunks())
    assert response.status_code in (400, 413)  # FastAPI may turn the failed read into a 400 itself


# -- size limits on the server ---------------------------------------------------------------------------------------
async def test_oversized_headers_and_bodies_get_431_and_413(server: RunningServer) -> None:
    async with admin_client(server) as api:
        huge_header = await api.get('/api/hosts', headers={'X-Filler': 'a' * 70_000})
        assert huge_header.status_code == 431 and huge_header.json()['error']['code'] == 'invalid_request'
        huge_body = await api.post('/api/dispatch', content=b'{' + b' ' * (2 * MAX_BODY_BYTES) + b'}')
        assert huge_body.status_code == 413 and huge_body.json()['error']['code'] == 'invalid_request'
        assert (await api.get('/api/hosts')).status_code == 200
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.post('/login', data={'password': 'p' * 20_000})).status_code == 413


# -- WebSocket origins -------------------------------------------------------------------------------------------------
def _sync_url(server: RunningServer) -> str:
    return f'ws://127.0.0.1:{server.port}/api/sync'


async def _sync_status(server: RunningServer, origin: str | None, **headers: str) -> int:
    try:
        async with connect(
            _sync_url(server),
            origin=origin,
            additional_headers=headers,  # type: ignore[arg-type]
        ) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))['type'] == 'init'
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_browser_sync_sockets_need_an_allowed_origin(settings: Settings) -> None:
    server = await start_server(settings.model_copy(update={'allowed_origins': ['https://ops.example:8443']}))
    try:
        cookie = await log_in(server)
        assert await _sync_status(server, EVIL, Cookie=cookie) == 403
        assert await _sync_status(server, 'null', Cookie=cookie) == 403
        assert await _sync_status(server, f'http://127.0.0.1:{server.port + 1}', Cookie=cookie) == 403
        assert await _sync_status(server, _origin(server), Cookie=cookie) == 101
        assert await _sync_status(server, 'https://ops.example:8443', Cookie=cookie) == 101
        assert await _sync_status(server, None, Cookie=cookie) == 101  # not a browser: the cookie decides
        assert await _sync_status(server, EVIL) == 403  # refused for its origin before anything else
    finally:
        await server.stop()


async def test_token_clients_and_agents_are_not_subject_to_origin_checks(server: RunningServer) -> None:
    server.dashboard.api_tokens['admin'] = ADMIN_TOKEN
    assert await _sync_status(server, None, Authorization=f'Bearer {ADMIN_TOKEN}') == 101
    assert await _sync_status(server, EVIL, Authorization=f'Bearer {ADMIN_TOKEN}') == 101  # no browser sends that
    agent = await FakeAgent(server.ws_url, 'web1', token=AGENT_TOKEN).connect()
    await agent.close()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, origin=EVIL):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


# -- CSRF --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    'headers',
    [{'Origin': EVIL}, {'Origin': 'null'}, {'Referer': f'{EVIL}/page'}, {'Origin': 'http://127.0.0.1'}],
    ids=['foreign-origin', 'null-origin', 'foreign-referer', 'other-port'],
)
async def test_a_cross_site_logout_is_refused(server: RunningServer, headers: dict[str, str]) -> None:
    cookie = await log_in(server)
    async with httpx.AsyncClient(base_url=server.http) as http:
        refused = await http.post('/logout', headers={'Cookie': cookie, **headers}, data={'scope': 'all'})
    assert refused.status_code == 403
    assert await session_status(server, cookie) == 200


@pytest.mark.parametrize(
    'headers',
    [{}, {'Origin': 'ORIGIN'}, {'Referer': 'ORIGIN/'}],
    ids=['no-origin', 'same-origin', 'same-referer'],
)
async def test_a_same_site_logout_works(server: RunningServer, headers: dict[str, str]) -> None:
    cookie = await log_in(server)
    own = {k: v.replace('ORIGIN', _origin(server)) for k, v in headers.items()}
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post('/logout', headers={'Cookie': cookie, **own})
    assert response.status_code == 303
    assert await session_status(server, cookie) == 401


async def test_cookie_authenticated_api_writes_need_a_same_site_origin(server: RunningServer) -> None:
    cookie = await log_in(server)
    body = {'op': 'pull', 'hosts': ['ghost']}
    async with httpx.AsyncClient(base_url=server.http) as http:
        forged = await http.post('/api/dispatch', json=body, headers={'Cookie': cookie, 'Origin': EVIL})
        assert forged.status_code == 403 and forged.json()['error']['code'] == 'forbidden'
        read = await http.get('/api/hosts', headers={'Cookie': cookie, 'Origin': EVIL})
        assert read.status_code == 200  # reads change nothing (and CORS keeps the answer from the foreign page)
        own = await http.post('/api/dispatch', json=body, headers={'Cookie': cookie, 'Origin': _origin(server)})
        assert own.status_code == 200
    async with admin_client(server) as api:
        token = await api.post('/api/dispatch', json=body, headers={'Origin': EVIL, 'Cookie': cookie})
        assert token.status_code == 200  # a token request cannot be forged by a page


@pytest.mark.parametrize('path', ['/api/hosts/', '/api/hosts/%2F', '/api/events/'])
async def test_api_paths_never_redirect(server: RunningServer, path: str) -> None:
    async with httpx.AsyncClient(base_url=server.http, follow_redirects=False) as http:
        for headers in ({}, {'Authorization': f'Bearer {ADMIN_TOKEN}'}):
            response = await http.get(path, headers=headers)
            assert response.status_code in (401, 404) and 'location' not in response.headers
            assert response.json()['error']['code'] in ('unauthorized', 'not_found')
