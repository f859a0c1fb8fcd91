"""Unknown `/api` paths and wrong methods answer the JSON error envelope, never the UI's HTML page (issue 14).

The dashboard is served with its UI mounted at `/` (as `nixfleet serve` does), so a request no API route takes
would reach NiceGUI's HTML 404 page if the API did not refuse it itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nixfleet.config import Settings
from tests.security.helpers import admin_client
from tests.ui.conftest import UiServer, running_ui

UNKNOWN = [('GET', '/api/nope'), ('POST', '/api/hosts/web-01/nope'), ('GET', '/api'), ('GET', '/api/hosts/')]
WRONG_METHOD = [('DELETE', '/api/hosts', 'GET'), ('PUT', '/api/dispatch', 'POST'), ('PATCH', '/api/events', 'GET')]


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[UiServer]:
    """A dashboard with its UI, served on a free port (isolation: fresh data dir, NiceGUI reset afterwards)."""
    async with running_ui(settings) as running:
        yield running


def envelope(response: httpx.Response) -> tuple[int, str, str | None, bool]:
    """Status, content type, error code and whether the error says a message (an envelope: JSON, code, message)."""
    json_body = response.headers.get('content-type') == 'application/json'
    error = (response.json().get('error') or {}) if json_body else {}
    return response.status_code, response.headers.get('content-type', ''), error.get('code'), bool(error.get('message'))


async def test_without_credentials_every_unmatched_api_request_is_401_json(served: UiServer) -> None:
    async with httpx.AsyncClient(base_url=served.http, follow_redirects=False) as anon:
        for method, path in [*UNKNOWN, *((m, p) for m, p, _ in WRONG_METHOD)]:
            response = await anon.request(method, path)
            assert envelope(response) == (401, 'application/json', 'unauthorized', True), response.text[:200]
            assert response.headers['www-authenticate'] == 'Bearer'
        assert 'text/html' in (await anon.get('/nope')).headers['content-type']  # the UI keeps its own page


async def test_with_credentials_unknown_paths_are_404_json(served: UiServer) -> None:
    async with admin_client(served) as api:  # type: ignore[arg-type]  # a UiServer has the same http/dashboard
        for method, path in UNKNOWN:
            assert envelope(await api.request(method, path)) == (404, 'application/json', 'not_found', True), path
        assert (await api.get('/api/hosts')).status_code == 200  # known paths still reach their routes


async def test_with_credentials_wrong_methods_are_405_json_with_allow(served: UiServer) -> None:
    async with admin_client(served) as api:  # type: ignore[arg-type]
        for method, path, allowed in WRONG_METHOD:
            response = await api.request(method, path)
            assert envelope(response) == (405, 'application/json', 'method_not_allowed', True), response.text[:200]
            assert response.headers['allow'] == allowed
