"""`./nf run` (the README's first command) stops at once on Ctrl+C or SIGTERM and exits 0 without an error line: a
stop the user asked for is the demo's normal end (`just`, which runs the other recipes, would report it as one)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import WAIT, free_port

ROOT = Path(__file__).resolve().parents[2]


async def start_recipe(tmp_path: Path) -> tuple[asyncio.subprocess.Process, list[str]]:
    """`./nf run` in its own session (as a terminal's foreground job); returns once the banner was printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('NIXFLEET_')}
    env.update(
        PATH=f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}',
        NIXFLEET_DATA_DIR=str(tmp_path / 'data'),
        NIXFLEET_LISTEN=f'127.0.0.1:{free_port()}',
        NIXFLEET_DEMO_PASSWORD='demo-password',
        NIXFLEET_DEMO_ADVANCE_EVERY='0',
    )
    process = await asyncio.create_subprocess_exec(
        str(ROOT / 'nf'),
        'run',
        '--agents',
        '2',
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []

    async def banner() -> None:
        while 'demo-password' not in ''.join(lines):
            line = await process.stdout.readline()  # type: ignore[union-attr]
            assert line, f'the demo ended before its banner:\n{"".join(lines)}'
            lines.append(line.decode(errors='replace'))

    await asyncio.wait_for(banner(), WAIT * 4)
    return process, lines


async def stopped(process: asyncio.subprocess.Process, lines: list[str]) -> tuple[int, str]:
    assert process.stdout is not None
    rest, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, ''.join(lines) + rest.decode(errors='replace')


@pytest.mark.parametrize('how', ['ctrl-c', 'sigterm'])
async def test_the_demo_stops_at_once_without_an_error_line(
    tmp_path: Path, how: str, record_property: Callable[[str, object], None]
) -> None:
    process, lines = await start_recipe(tmp_path)
    asked = time.monotonic()
    if how == 'ctrl-c':  # the terminal sends SIGINT to the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:  # a service manager or `kill` signals `./nf` itself
        process.send_signal(signal.SIGTERM)

    code, output = await stopped(process, lines)
    record_property('stop_seconds', round(time.monotonic() - asked, 2))  # a measurement: the deadline is `stopped`'s

    assert code == 0, output
    assert not re.search('^error:', output, re.MULTILINE), output  # no error line from a wrapper
    assert 'Traceback' not in output, output
    assert 'Application shutdown complete' in output or 'dashboard stopped' in output, output
