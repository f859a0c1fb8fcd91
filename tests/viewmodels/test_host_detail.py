"""What the host page shows, without a browser: the id a URL may name, facts, compartments with reasons, commands
with causes, the generation history, and the sparkline SVG."""

from __future__ import annotations

import json
import re

from nixfleet.viewmodels.host_detail import (
    command_lines,
    compartment_lines,
    deploys,
    facts,
    host_id_of,
    host_path,
    presence,
    shown_id,
)
from nixfleet.viewmodels.sparkline import sparkline_svg, summary


def test_only_a_hostname_can_name_a_host_and_an_odd_id_is_shown_cut_and_as_text() -> None:
    assert host_id_of('web-01') == 'web-01'
    for odd in ('', None, '..', 'a/b', '<b>x</b>', 'x' * 64, 'web 01', '-web', 'wéb'):
        assert host_id_of(odd) is None, odd
    assert shown_id('x' * 5000) == 'x' * 63 + '…'
    assert shown_id('a\x00b\nc') == 'a�b�c'
    assert host_path('web-01') == '/hosts/web-01'


def test_facts_name_platform_os_agent_place_type_generation_and_lock() -> None:
    view = {
        'host_type': 'macos', 'os_version': '15.2', 'agent_version': '3.1.0', 'agent_impl': 'python',
        'location': 'office', 'device_type': 'laptop', 'generation': 'abc1234def', 'lock_hash': 'sha256-xyz',
        'nixpkgs_version': '25.11', 'heartbeat_interval': 5,
    }  # fmt: skip
    shown = {f.label: f.value for f in facts(view)}

    assert shown == {
        'Platform': 'macOS', 'OS': '15.2', 'Agent': '3.1.0 (Python)', 'Location': 'Office', 'Type': 'Laptop',
        'Generation': 'abc1234def', 'Lock hash': 'sha256-xyz', 'nixpkgs': '25.11', 'Heartbeat': 'every 5 s',
    }  # fmt: skip
    assert {f.label: f.value for f in facts({})}['Agent'] == ''


def test_presence_says_busy_with_the_op_and_the_connection_otherwise() -> None:
    assert presence({'connection': 'online', 'busy': True, 'pending_command': 'pull-switch'}) == (
        'busy',
        'Online, running Pull + Switch',
    )
    assert presence({'connection': 'stale'}) == ('stale', 'Stale: no heartbeat')
    assert presence({}) == ('offline', 'Offline')


def test_every_compartment_has_a_status_and_a_reason() -> None:
    view = {'compartments': {'git': {'status': 'outdated', 'message': 'Behind origin', 'hint': 'Pull to update'}}}
    lines = compartment_lines(view)

    assert [(c.label, c.status, c.message) for c in lines] == [
        ('Agent', 'unknown', 'Not reported'),
        ('Git', 'outdated', 'Behind origin'),
        ('Lock', 'unknown', 'Not reported'),
        ('System', 'unknown', 'Not reported'),
        ('Tests', 'unknown', 'Not reported'),
    ]
    assert lines[1].hint == 'Pull to update'


def test_a_command_line_has_the_cause_and_the_live_status_wins_over_the_journal_row() -> None:
    failed = {'id': 'c1', 'op': 'test', 'status': 'ERROR', 'exit_code': 2, 'error': 'command failed',
              'error_line': 'error: 2 of 8 tests failed', 'output_file': '/logs/c1.log'}  # fmt: skip
    running = {'id': 'c2', 'op': 'pull', 'status': 'EXECUTING', 'output_file': '/logs/c2.log'}
    blocked = {'id': 'c3', 'op': 'switch', 'status': 'BLOCKED', 'code': 'host_offline', 'error': 'web-01 is offline'}
    lines = command_lines([running, failed, blocked], {'c2': {'id': 'c2', 'status': 'SUCCESS'}})

    assert [(line.op, line.status, line.tone) for line in lines] == [
        ('Pull', 'SUCCESS', 'ok'),
        ('Test', 'ERROR', 'fail'),
        ('Switch', 'BLOCKED', 'fail'),
    ]
    assert lines[1].cause == 'exit 2 — error: 2 of 8 tests failed' and lines[1].exit_code == 2
    assert lines[2].cause == 'host_offline — web-01 is offline'
    assert [line.has_output for line in lines] == [True, True, False]


def test_generation_history_says_where_each_switch_went_from_and_to() -> None:
    def row(op: str, status: str, state: dict[str, object]) -> dict[str, object]:
        return {'id': op, 'op': op, 'status': status, 'finished_at': '2027-01-01T00:00:00.000Z',
                'state_json': json.dumps(state)}  # fmt: skip

    history = deploys(
        [
            row('pull-switch', 'SUCCESS', {'before': {'generation': 'aaaaaaa1'}, 'generation': 'bbbbbbb2'}),
            row('switch', 'SUCCESS', {'before': {'generation': 'ccccccc3'}}),  # recorded before `generation` was
            row('rollback', 'ERROR', {'before': {'generation': 'ddddddd4'}, 'generation': 'ddddddd4'}),
            {'id': 'x', 'op': 'pull-switch', 'status': 'ORPHANED', 'state_json': 'not json'},
        ]
    )

    assert [(d.op, d.status, d.previous, d.generation) for d in history] == [
        ('Pull + Switch', 'SUCCESS', 'aaaaaaa1', 'bbbbbbb2'),
        ('Switch', 'SUCCESS', 'ccccccc3', 'ccccccc3'),
        ('Rollback', 'ERROR', 'ddddddd4', 'ddddddd4'),
        ('Pull + Switch', 'ORPHANED', '', ''),
    ]


def test_a_sparkline_is_an_svg_of_the_points_with_its_summary_in_words() -> None:
    since = 1000.0
    points = [(since + 30 * i, v) for i, v in enumerate((10.0, 20.0, 80.0, None, 40.0))]
    svg = sparkline_svg(points, since=since, until=since + 3600, label='CPU <over> the last hour')

    assert svg.startswith('<svg') and svg.endswith('</svg>')
    assert 'aria-label="CPU &lt;over&gt; the last hour: now 40%, peak 80%, average 38%"' in svg
    [line] = re.findall(r'<polyline class="nf-spark-line" points="([^"]+)"', svg)
    xs = [float(p.split(',')[0]) for p in line.split()]
    assert xs == sorted(xs) and len(xs) == 4  # the missing value is left out, not drawn as 0
    assert 'nf-spark-dot' in svg


def test_a_pause_longer_than_the_gap_breaks_the_line_and_no_samples_draw_nothing() -> None:
    points = [(0.0, 10.0), (30.0, 20.0), (600.0, 30.0), (630.0, 30.0)]
    svg = sparkline_svg(points, since=0, until=3600, label='RAM', gap=90)
    assert svg.count('<polyline') == 2

    empty = sparkline_svg([], since=0, until=3600, label='RAM')
    assert '<polyline' not in empty and 'RAM: no samples yet' in empty
    assert summary([(0.0, None)]).words() == 'no samples yet'
