"""`/health` tells the truth about the database file (issue 15 item 1): once the file the store opened is gone (as
removing a host called `..` once deleted the data directory), the dashboard is not ok — its writes would go to an
unlinked file and be lost at the next restart."""

from __future__ import annotations

import os

import httpx

from nixfleet.config import Settings
from tests.support import RunningServer


async def health(server: RunningServer) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http) as client:
        return await client.get('/health')


async def test_health_is_ok_only_while_the_database_file_is_the_one_opened(
    server: RunningServer, settings: Settings
) -> None:
    ok = await health(server)
    assert (ok.status_code, ok.json()['status']) == (200, 'ok')
    os.replace(settings.database_path, settings.database_path.with_suffix('.moved'))  # the path no longer names it
    lost = await health(server)
    assert (lost.status_code, lost.json()['status']) == (503, 'database lost')
    os.replace(settings.database_path.with_suffix('.moved'), settings.database_path)
    assert (await health(server)).status_code == 200
