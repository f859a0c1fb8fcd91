"""How `nixfleet ops run` / `pipeline run` print a finished command: every end but a plain success says why."""

from __future__ import annotations

import io
from typing import Any

import pytest

from nixfleet.client.runs import RunPrinter


def finished_line(**command: Any) -> str:
    out = io.StringIO()  # no TTY, no UTF-8 encoding: plain words, ok/FAIL marks; no timestamps: duration -
    RunPrinter(['web-01'], json_mode=False, out=out).finished({'host_id': 'web-01', **command})
    return out.getvalue().rstrip('\n')


@pytest.mark.parametrize(
    ('command', 'line'),
    [
        (
            {'op': 'check-version', 'status': 'PARTIAL', 'success': True, 'error': 'mismatch: running=3 installed=4'},
            'web-01  | ok check-version PARTIAL -: mismatch: running=3 installed=4',
        ),
        (
            {'op': 'pull', 'status': 'SKIPPED', 'success': True, 'message': 'web-01: Git already at abc1234'},
            'web-01  | ok pull SKIPPED: web-01: Git already at abc1234',
        ),
        (
            {'op': 'test', 'status': 'SKIPPED', 'success': False, 'error': 'left the pipeline at switch'},
            'web-01  | FAIL test SKIPPED: left the pipeline at switch',
        ),
        (
            {'op': 'check-version', 'status': 'SUCCESS', 'success': True, 'message': 'running=3 installed=3'},
            'web-01  | ok check-version SUCCESS -',
        ),
    ],
)
def test_finished_line(command: dict[str, Any], line: str) -> None:
    assert finished_line(**command) == line
