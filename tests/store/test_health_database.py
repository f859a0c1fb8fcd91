"""`/health` tells the truth about the database file (issue 15 item 1): once the file the store opened is gone (as
removing a host called `..` once deleted the data directory), the dashboard is not ok — its writes would go to an
unlinked file and be lost at the next restart."""

from __future__ import annotations

import os

import httpx
import pytest

from nixfleet.config import Settings
from tests.support import Dashboards, InProcess


@pytest.fixture
def server(inproc: InProcess) -> InProcess:
    """The dashboard in-process (no socket): these tests are about what it does, not the network edge."""
    return inproc


async def health(server: Dashboards) -> httpx.Response:
    async with server.client() as client:
        return await client.get('/health')


async def test_health_is_ok_only_while_the_database_file_is_the_one_opened(
    server: Dashboards, settings: Settings
) -> None:
    ok = await health(server)
    assert (ok.status_code, ok.json()['status']) == (200, 'ok')
    os.replace(settings.database_path, settings.database_path.with_suffix('.moved'))  # the path no longer names it
    lost = await health(server)
    assert (lost.status_code, lost.json()['status']) == (503, 'database lost')
    os.replace(settings.database_path.with_suffix('.moved'), settings.database_path)
    assert (await health(server)).status_code == 200
