"""Serve a live fleet (live_fleet.py) in a process of its own until stdin closes; the first stdout line is its URL.

`python -m tests.api.serve_fleet DATA_DIR`. For tests that must not share a process with the server: hypothesis
(the conformance test) fails a draw when the global `random` changes under it, and the server's and the agents'
WebSocket keepalive pings draw their payloads from it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from nixfleet.config import Settings
from tests.api.live_fleet import live_fleet
from tests.support import AGENT_TOKEN, PASSWORD_HASH, SESSION_SECRET


async def serve(data_dir: Path) -> None:
    """Serve until stdin is closed."""
    settings = Settings(
        data_dir=data_dir,
        agent_token=AGENT_TOKEN,
        password_hash=PASSWORD_HASH,
        session_secret=SESSION_SECRET,
        listen='127.0.0.1:0',
        log_level='warning',
    )
    async with live_fleet(settings) as live:
        print(live.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == '__main__':
    asyncio.run(serve(Path(sys.argv[1])))
