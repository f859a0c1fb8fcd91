"""A fake agent in a process of its own that floods a command's output as fast as its socket takes it.

    python -m tests.ops.flood_agent URL HOST BYTES LINE_BYTES

It registers as HOST (the test helpers' `FakeAgent`), heartbeats and prints `ready`; at the next `command` it sends
BYTES of output in lines of LINE_BYTES, then `status ok` for that command, and prints `flooded`. It stays connected
until its stdin closes. A process of its own, as a real agent is: its sending shares neither the dashboard's event
loop nor its CPU time.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.support import FakeAgent, expect_command, send_status


async def flood(url: str, host: str, total: int, size: int) -> None:
    """Register, wait for a command, flood its output, report `status ok`, and stay until stdin closes."""
    agent = await FakeAgent(url, host).connect()
    await agent.heartbeat()
    print('ready', flush=True)
    command = await expect_command(agent, timeout=120)
    frame = json.dumps({'type': 'output', 'payload': {'line': 'x' * size, 'stream': 'stdout', 'command': ''}})
    for _ in range(total // size):
        await agent.send_raw(frame)
    await send_status(agent, command)
    print('flooded', flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await agent.close()


if __name__ == '__main__':
    url, host, total, size = sys.argv[1:5]
    asyncio.run(flood(url, host, int(total), int(size)))
