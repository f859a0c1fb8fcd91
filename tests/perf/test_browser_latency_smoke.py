"""A fast smoke run of the browser-latency benchmark (bench/browser_latency.py): 10 marker agents, a real dashboard,
Debian's chromium. It asserts correctness only: the table rendered every host, and every heartbeat sent in the
window reached Chromium's network stack, the page's socket handler, the table's DOM and a painted frame. Never a
timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / 'bench'
CHROMIUM = '/usr/bin/chromium'  # what bench/browser.py drives
AGENTS = 10

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_browser_latency_benchmark_sees_every_change(tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get('NIXFLEET_REQUIRE_BROWSER') == '1':
            pytest.fail(f'{CHROMIUM} is missing (scripts/ensure-chromium installs it)')
        pytest.skip(f'{CHROMIUM} is not installed (scripts/ensure-chromium installs it)')
    done = subprocess.run(
        [sys.executable, str(BENCH / 'run.py'), 'browser-latency', '--agents', str(AGENTS), '--seconds', '6',
         '--ramp', '1', '--reloads', '0', '--drain', '2', '--dry-run'],
        capture_output=True, text=True, timeout=90, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith('{')]
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    changes = result['changes']
    assert changes['hosts_in_dom'] == AGENTS
    assert changes['sent'] > 0
    assert changes['seen'] == changes['sent']
    assert changes['wire_seen'] == changes['socket_seen'] == changes['paint_seen'] == changes['sent']
    assert [load['rows_in_dom'] for load in result['render']] == [AGENTS]
    assert result['render'][0]['data_all_ms'] is not None
    assert (result['fleet']['disconnects'], result['fleet']['connect_failures']) == (0, 0)
    assert result['page_errors'] == []
