"""Helpers for security tests: an authenticated API client, the `nixfleet token` CLI as a subprocess, refused
upgrades, logging in and probing a session."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx
from websockets.exceptions import InvalidStatus

from nixfleet.config import Settings
from nixfleet.security.sessions import COOKIE_NAME
from tests.support import PASSWORD, Dashboards

#: An in-memory API token every test server gets through `admin_client` (actor `api:admin`).
ADMIN_TOKEN = 'test-admin-api-token-51d0'


def admin_client(server: Dashboards, token: str | None = ADMIN_TOKEN) -> httpx.AsyncClient:
    """An HTTP client for the dashboard, authenticated with `token` (the in-memory admin token by default)."""
    if token == ADMIN_TOKEN:
        server.dashboard.api_tokens['admin'] = ADMIN_TOKEN
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    return server.client(headers=headers, follow_redirects=False, timeout=10)


async def create_token(server: Dashboards, **body: Any) -> dict[str, Any]:
    """Create a token through `POST /api/tokens`; return the answer (with the token's value)."""
    async with admin_client(server) as client:
        response = await client.post('/api/tokens', json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def upgrade_status(server: Dashboards, token: str) -> int:
    """The HTTP status an agent upgrade with `token` gets (101 when the WebSocket opens)."""
    agent = server.agent('probe', token=token)
    try:
        await agent.connect(register=False)
    except InvalidStatus as exc:
        return exc.response.status_code
    await agent.close()
    return 101


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run `python -m nixfleet token ARGS` on the settings' data dir; return exit code, stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env['NIXFLEET_DATA_DIR'] = str(settings.data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        '-m',
        'nixfleet',
        'token',
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def run_cli_json(settings: Settings, *args: str) -> Any:
    """Run the CLI with `--json`, require success, and return the parsed output."""
    code, out, err = await run_cli(settings, *args, '--json')
    assert code == 0, err
    return json.loads(out)


async def log_in(server: Dashboards, password: str = PASSWORD, **form: str) -> str:
    """Log in through `POST /login`; return the `Cookie` header value of the new session."""
    async with server.client() as http:
        response = await http.post('/login', data={'password': password, **form})
    assert response.status_code == 303 and response.headers['location'] != '/login?error=credentials', response.text
    cookie = next(v for v in response.headers.get_list('set-cookie') if v.startswith(COOKIE_NAME + '='))
    return cookie.split(';', 1)[0]


async def session_status(server: Dashboards, cookie: str | bytes) -> int:
    """The HTTP status of an API read made with this `Cookie` header (200 with a valid session, else 401)."""
    async with server.client() as http:
        response = await http.get('/api/hosts', headers={'Cookie': cookie})
    assert response.headers['content-type'].startswith('application/json')
    return response.status_code
